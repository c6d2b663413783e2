#!/usr/bin/env python3
"""Convert the public Delphes PU200 pickles (tev14_pythia8_*.pkl.bz2) to hep-mlbench's HDF5
event format v1 (docs/data-format.md).

Each input file is a bz2-compressed pickle of {"X": [...], "ygen": [...], "ycand": [...]}, lists
of float64 arrays, one per event: X (n, 12), ygen (n, 7). ycand is not used by the benchmark.
The first 80% of the sorted files are for training, the rest for validation (with a single
file: the first 80% of its events).

--max-events N keeps the sample to N events without giving up that split by file: the first
round(0.8 N) events of the training files (in file order) and the first N - round(0.8 N) of the
validation files, reading only the files it needs. The 550 public files hold 55,000 events
(about 24 GB in this format); the bundled sample is 2,000 of them.

usage: convert_pickles.py --input 'tev14_*.pkl.bz2' --output FILE.h5 [--max-events N]
       convert_pickles.py --output FILE.h5 [--max-events N] INPUT [INPUT ...]
(an INPUT may be a glob; --input may be given several times, and with INPUTs)
"""
import argparse
import bz2
import contextlib
import glob
import hashlib
import io
import json
import math
import os
import pickle
import resource
import sys

import h5py
import numpy as np

FORMAT, VERSION = "hep-mlbench-events", 1
CHECKSUM_DEFINITION = "SHA-256 over the little-endian bytes of /offsets, /X, /ygen, /split, in that order"


def fail(msg):
    sys.exit(f"convert_pickles: ERROR: {msg}")


def load(path):
    try:
        with bz2.open(path, "rb") as f:
            d = pickle.load(f)
    except Exception as e:  # noqa: BLE001 - any unreadable file is reported the same way
        fail(f"'{path}' is not a bz2-compressed pickle ({e}): download it again")
    if not isinstance(d, dict) or "X" not in d or "ygen" not in d:
        fail(f"'{path}': expected a dict with keys X and ygen, found {type(d).__name__}")
    if len(d["X"]) != len(d["ygen"]):
        fail(f"'{path}': {len(d['X'])} X arrays but {len(d['ygen'])} ygen arrays")
    events = []
    for i, (x, y) in enumerate(zip(d["X"], d["ygen"])):
        x, y = np.asarray(x), np.asarray(y)
        if x.ndim != 2 or x.shape[1] != 12 or y.shape != (x.shape[0], 7):
            fail(f"'{path}', event {i}: X {x.shape} / ygen {y.shape}, expected (n, 12) / (n, 7)")
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            fail(f"'{path}', event {i}: NaN or inf in the inputs")
        if not np.isin(x[:, 0], (1, 2)).all():
            fail(f"'{path}', event {i}: element types other than 1 (tower) and 2 (track) in X[:, 0]")
        if not (np.isin(y[:, 0], np.arange(6))).all():
            fail(f"'{path}', event {i}: classes outside 0..5 in ygen[:, 0]")
        events.append((x.astype("<f4"), y.astype("<f4")))
    return events


def take(paths, limit, used):
    """The events of `paths` in order, at most `limit` (None: all); the files read go to `used`."""
    events = []
    for p in paths:
        if limit is not None and len(events) >= limit:
            break
        events.extend(load(p))
        used.append(p)
    return events if limit is None else events[:limit]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", action="append", default=[], metavar="GLOB",
                    help="input pickles (a glob, quoted); may be repeated")
    ap.add_argument("--output", required=True)
    ap.add_argument("--train-fraction", type=float, default=0.8)
    ap.add_argument("--max-events", type=int, default=0, help="at most this many events (0: all)")
    ap.add_argument("inputs", nargs="*", metavar="INPUT", help="input pickles, as --input")
    a = ap.parse_args()
    a.inputs = a.input + a.inputs
    if not a.inputs:
        fail("no input: give the pickles with --input 'tev14_*.pkl.bz2' (or as arguments)")
    if a.max_events < 0 or a.max_events == 1:
        fail(f"--max-events {a.max_events}: give 0 (all events) or at least 2")
    files = sorted({p for pattern in a.inputs for p in (glob.glob(pattern) or [pattern])})
    for p in files:
        if not os.path.exists(p):
            fail(f"input '{p}' does not exist")
    cap = a.max_events or None
    used = []
    if len(files) > 1:
        n_train_files = max(1, min(len(files) - 1, math.floor(len(files) * a.train_fraction)))
        want_train = None if cap is None else max(1, min(cap - 1, round(cap * a.train_fraction)))
        train = take(files[:n_train_files], want_train, used)
        val = take(files[n_train_files:], None if cap is None else cap - want_train, used)
        events, split = train + val, [0] * len(train) + [1] * len(val)
    else:
        events = take(files, cap, used)
        n = len(events)
        n_train = max(1, min(n - 1, round(n * a.train_fraction)))
        split = [0 if i < n_train else 1 for i in range(n)]
    if len(events) < 2 or 0 not in split or 1 not in split:
        fail("need at least one training and one validation event")
    X = np.concatenate([x for x, _ in events]) if events else np.zeros((0, 12), "<f4")
    Y = np.concatenate([y for _, y in events])
    offsets = np.zeros(len(events) + 1, dtype="<i8")
    offsets[1:] = np.cumsum([len(x) for x, _ in events])
    split = np.asarray(split, dtype="i1")
    h = hashlib.sha256()
    for arr in (offsets, X, Y, split):
        h.update(np.ascontiguousarray(arr).tobytes())
    source = {"kind": "converter", "converter": "scripts/convert_pickles.py",
              # a name that is not UTF-8 would be a lone surrogate, which no JSON reader takes
              "files": [os.fsencode(os.path.basename(p)).decode("utf-8", "replace") for p in used],
              "train_fraction": a.train_fraction,
              "max_events": a.max_events}
    tmp = f"{a.output}.tmp.{os.getpid()}"
    # h5py reports each failed write again, as a traceback, while it closes the file: held back
    # here, since the one error below says it all.
    try:
        with contextlib.redirect_stderr(io.StringIO()), h5py.File(tmp, "w", libver="earliest", track_order=False) as f:
            for name, arr in (("X", X), ("ygen", Y), ("offsets", offsets), ("split", split)):
                f.create_dataset(name, data=arr, track_times=False)
            f.attrs["format"] = np.bytes_(FORMAT)
            f.attrs["format_version"] = np.int64(VERSION)
            f.attrs["n_events"] = np.int64(len(events))
            f.attrs["n_train"] = np.int64((split == 0).sum())
            f.attrs["n_validation"] = np.int64((split == 1).sum())
            f.attrs["n_elements"] = np.int64(len(X))
            f.attrs["source"] = np.bytes_(json.dumps(source))
            f.attrs["checksum_sha256"] = np.bytes_(h.hexdigest())
            f.attrs["checksum_definition"] = np.bytes_(CHECKSUM_DEFINITION)
        os.replace(tmp, a.output)
    except (OSError, RuntimeError, ValueError) as e:
        # A full disk, a quota or the file-size limit: nothing half-written is left, and an
        # earlier file at --output stays as it was.
        if os.path.exists(tmp):
            os.remove(tmp)
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        fail(f"cannot write {a.output}: {e} (free space there, or choose another --output"
             + ("" if limit == resource.RLIM_INFINITY else f"; the file-size limit, ulimit -f, is {limit} bytes")
             + ")")
    print(f"convert_pickles: {len(used)} of {len(files)} files, {len(events)} events ({(split == 0).sum()} train), "
          f"{len(X)} elements -> {a.output}, checksum {h.hexdigest()}")


if __name__ == "__main__":
    main()
