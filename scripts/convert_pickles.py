#!/usr/bin/env python3
"""Convert the public Delphes PU200 pickles (tev14_pythia8_*.pkl.bz2) to hep-mlbench's HDF5
event format v1 (docs/data-format.md).

Each input file is a bz2-compressed pickle of {"X": [...], "ygen": [...], "ycand": [...]}, lists
of float64 arrays, one per event: X (n, 12), ygen (n, 7). ycand is not used by the benchmark. A
pickle that was decompressed already (bunzip2) is read as well.
The first 80% of the sorted files are for training, the rest for validation (with a single
file: the first 80% of its events).

--max-events N keeps the sample to N events without giving up that split by file: the first
round(0.8 N) events of the training files (in file order) and the first N - round(0.8 N) of the
validation files, reading only the files it needs. The 550 public files hold 55,000 events
(about 24 GB in this format); the bundled sample is 2,000 of them.

usage: convert_pickles.py --input 'tev14_*.pkl.bz2' --output FILE.h5 [--max-events N]
       convert_pickles.py --output FILE.h5 [--max-events N] INPUT [INPUT ...]
(an INPUT may be a glob; --input may be given several times, and with INPUTs)

--train-fraction F (default 0.8) lies strictly between 0 and 1; both parts always get at least
one file (one event with a single file or --max-events), as every reader of the format needs.
The output is written to FILE.h5.tmp.<pid> and renamed when complete. SIGINT, SIGTERM or SIGHUP
before the write stops at once with nothing written; during it, the file is finished first. The
exit status is then 128 + the signal's number.
"""
import argparse
import bz2
import contextlib
import errno
import glob
import hashlib
import io
import json
import math
import os
import pickle
import re
import resource
import signal
import sys
import tempfile

import h5py
import numpy as np

FORMAT, VERSION = "hep-mlbench-events", 1
CHECKSUM_DEFINITION = "SHA-256 over the little-endian bytes of /offsets, /X, /ygen, /split, in that order"


def fail(msg):
    sys.exit(f"convert_pickles: ERROR: {msg}")


# A stop signal before the write ends the run at once (nothing has been written yet); once the
# write has begun it is only noted, so that the file is finished and renamed whole, and the run
# then exits as stopped (128 + N), so that a script's next step does not run on it. Without this,
# h5py swallows the KeyboardInterrupt of Ctrl-C inside its own callbacks (the run went on and
# exited 0), and SIGTERM or SIGHUP killed the process with the temporary file half-written.
_stop = {"writing": False, "signal": 0}


def _on_stop(signum, _frame):
    if _stop["writing"]:
        _stop["signal"] = _stop["signal"] or signum
        return
    print(f"convert_pickles: ERROR: stopped by signal {signum} before writing; nothing was written", file=sys.stderr)
    raise SystemExit(128 + signum)


def install_stop_handlers():
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        # A signal ignored when the run began (nohup, a background job's SIGINT) stays ignored.
        if signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, _on_stop)


def check_output(out, files):
    """Refuses, before any input is read, an output that cannot be written or would destroy an
    input; returns the path to write (a symbolic link's end, so that the link stays a link)."""
    another = "choose another --output"
    if not out:
        fail("--output is empty: give the file to write, e.g. --output events.h5")
    if out.endswith(os.sep) or os.path.isdir(out):
        fail(f"--output '{out}' is a folder: give a file in it, e.g. --output {os.path.join(out, 'events.h5')}")
    target = os.path.realpath(out) if os.path.islink(out) else out
    for p in files:
        if os.path.realpath(p) == os.path.realpath(out) or (os.path.exists(out) and os.path.samefile(p, out)):
            fail(f"--output '{out}' is the input '{p}', which the output would replace: {another}")
    if os.path.exists(target) and not os.path.isfile(target):
        fail(f"--output '{out}' is not a regular file (a device, FIFO or socket), which the output would "
             f"replace: {another}")
    folder = os.path.dirname(target) or "."
    try:
        os.stat(folder)
    except FileNotFoundError:
        fail(f"cannot write --output '{out}': its folder '{folder}' does not exist (create it, or {another})")
    except OSError as e:
        fail(f"cannot write --output '{out}': its folder '{folder}' cannot be reached: {e.strerror} ({another})")
    if not os.path.isdir(folder):
        fail(f"cannot write --output '{out}': '{folder}' is not a folder ({another})")
    # A file is made and removed there, rather than asking access(): root passes that everywhere,
    # and a read-only mount or an immutable folder shows only when a file is made.
    try:
        fd, probe = tempfile.mkstemp(prefix=".convert_pickles-probe-", dir=folder)
        try:
            os.close(fd)
        finally:
            os.remove(probe)
    except OSError as e:
        fail(f"cannot write --output '{out}': its folder '{folder}' is not writable: {e.strerror} ({another})")
    return target


def load(path):
    # The published files are bz2-compressed ("BZh" is how every bz2 stream begins); a plain
    # pickle (one already decompressed with bunzip2) is the same content and is read as it is.
    try:
        with open(path, "rb") as raw:
            compressed = raw.read(3) == b"BZh"
    except OSError as e:
        fail(f"cannot read input '{path}': {e.strerror}")
    try:
        with (bz2.open(path, "rb") if compressed else open(path, "rb")) as f:
            d = pickle.load(f)
    except Exception as e:  # noqa: BLE001 - any unreadable file is reported the same way
        why = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        if compressed:
            fail(f"'{path}' is a damaged bz2-compressed pickle ({why}): download it again")
        fail(f"'{path}' is neither a bz2-compressed pickle nor a plain one ({why}): the inputs are the "
             "published tev14_*.pkl.bz2 files; download it again")
    expected = "a dict whose X and ygen are lists of per-event arrays"
    if not isinstance(d, dict):
        fail(f"'{path}': expected {expected}, found {type(d).__name__}")
    missing = [k for k in ("X", "ygen") if k not in d]
    if missing:
        keys = ", ".join(sorted(repr(k) for k in d)[:8]) or "none"
        fail(f"'{path}': no key {' or '.join(missing)} (its keys: {keys}): expected {expected}")
    for k in ("X", "ygen"):
        v = d[k]
        if not isinstance(v, (list, tuple, np.ndarray)) or getattr(v, "ndim", 1) == 0:
            fail(f"'{path}': {k} is {type(v).__name__}, expected a list of per-event arrays")
    if len(d["X"]) != len(d["ygen"]):
        fail(f"'{path}': {len(d['X'])} X arrays but {len(d['ygen'])} ygen arrays")
    events = []
    for i, (x, y) in enumerate(zip(d["X"], d["ygen"])):
        arrays = []
        for name, v, width in (("X", x, 12), ("ygen", y, 7)):
            # Rows of unequal length are a ValueError in numpy >= 1.24, an object array before.
            try:
                a = np.asarray(v)
            except (ValueError, TypeError):
                a = None
            if a is None or a.dtype.kind not in "iuf":
                if a is not None and a.ndim == 0:
                    what = f"is {type(v).__name__}"
                elif a is None or a.dtype == object:
                    what = "holds rows of unequal length or entries that are not numbers"
                else:
                    kinds = {"U": "text", "S": "bytes", "b": "true/false", "c": "complex numbers"}
                    what = f"holds {kinds.get(a.dtype.kind, 'values')} ({a.dtype})"
                fail(f"'{path}', event {i}: {name} {what}, expected an (n, {width}) array of numbers")
            arrays.append(a)
        x, y = arrays
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


def training_count(total, fraction, what):
    """round(total * fraction) (floor for files), kept to 1 .. total - 1 so that both parts hold
    one, with a note when that differs from what the fraction gives."""
    wanted = math.floor(total * fraction) if what == "files" else round(total * fraction)
    n = max(1, min(total - 1, wanted))
    if n != wanted:
        print(f"convert_pickles: note: --train-fraction {fraction} of {total} {what} leaves "
              f"{'no training' if wanted < 1 else 'no validation'} {what}; taking {n} for training and "
              f"{total - n} for validation", file=sys.stderr)
    return n


def write_failure(e, out, tmp):
    """Why a write failed and what to do, in the user's terms (h5py's message names the temporary
    file and the HDF5 call)."""
    # An OSError of h5py carries errno; its RuntimeError (from closing the file) only in the text.
    m = re.search(r"errno = (\d+)", str(e))
    err = getattr(e, "errno", None) if isinstance(getattr(e, "errno", None), int) else (int(m.group(1)) if m else None)
    if isinstance(e, MemoryError):
        return f"not enough memory to write {out} (write fewer events with --max-events)"
    why = os.strerror(err) if err else str(e).replace(tmp, out)
    another = "choose another --output"
    if err == errno.ENOSPC:
        hint = f"free space there, or {another}"
    elif err == getattr(errno, "EDQUOT", -1):
        hint = f"your disk quota there is used up: free some, or {another}"
    elif err == errno.EFBIG:
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        hint = (f"the file system's largest file is smaller: {another}" if limit == resource.RLIM_INFINITY
                else f"the file-size limit, ulimit -f, is {limit} bytes: raise it, or {another}")
    else:
        hint = another
    return f"cannot write {out}: {why} ({hint})"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", action="append", default=[], metavar="GLOB",
                    help="input pickles (a glob, quoted); may be repeated")
    ap.add_argument("--output", required=True)
    ap.add_argument("--train-fraction", type=float, default=0.8,
                    help="the share of files (of events, with one file or --max-events) for training, "
                         "strictly between 0 and 1 (default 0.8)")
    ap.add_argument("--max-events", type=int, default=0, help="at most this many events (0: all)")
    ap.add_argument("inputs", nargs="*", metavar="INPUT", help="input pickles, as --input")
    a = ap.parse_args()
    install_stop_handlers()
    a.inputs = a.input + a.inputs
    if not a.inputs:
        fail("no input: give the pickles with --input 'tev14_*.pkl.bz2' (or as arguments)")
    if not (math.isfinite(a.train_fraction) and 0 < a.train_fraction < 1):
        fail(f"--train-fraction {a.train_fraction}: give a number strictly between 0 and 1 (the share for "
             "training, e.g. 0.8)")
    if a.max_events < 0 or a.max_events == 1:
        fail(f"--max-events {a.max_events}: give 0 (all events) or at least 2")
    files = sorted({p for pattern in a.inputs for p in (glob.glob(pattern) or [pattern])})
    for p in files:
        if not os.path.exists(p):
            fail(f"input '{p}' does not exist")
        if os.path.isdir(p):
            fail(f"input '{p}' is a folder: give the pickles in it, e.g. "
                 f"--input '{os.path.join(p, 'tev14_*.pkl.bz2')}'")
    target = check_output(a.output, files)
    cap = a.max_events or None
    used = []
    if len(files) > 1:
        n_train_files = training_count(len(files), a.train_fraction, "files")
        want_train = None if cap is None else training_count(cap, a.train_fraction, "events")
        train = take(files[:n_train_files], want_train, used)
        val = take(files[n_train_files:], None if cap is None else cap - want_train, used)
        for part, evs, names in (("training", train, files[:n_train_files]),
                                 ("validation", val, files[n_train_files:])):
            if not evs:
                fail(f"the {part} files ({', '.join(os.path.basename(p) for p in names[:3])}"
                     f"{', …' if len(names) > 3 else ''}) hold no events: both parts need one; give other files "
                     "or another --train-fraction")
        events, split = train + val, [0] * len(train) + [1] * len(val)
    else:
        events = take(files, cap, used)
        n = len(events)
        if n < 2:
            fail(f"'{files[0]}' holds {n} event{'' if n == 1 else 's'}: a single input is split into training "
                 "and validation events, which needs at least 2; give more input files")
        n_train = training_count(n, a.train_fraction, "events")
        split = [0 if i < n_train else 1 for i in range(n)]
    X = np.concatenate([x for x, _ in events])
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
    tmp = f"{target}.tmp.{os.getpid()}"
    # From here a stop signal is only noted (see _on_stop); whatever ends the write early, an
    # error or any other exception, takes the temporary file with it, so that nothing
    # half-written is left and an earlier file at --output stays as it was.
    _stop["writing"] = True
    try:
        # h5py reports each failed write again, as a traceback, while it closes the file: held
        # back here, since the one error below says it all.
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
        os.replace(tmp, target)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        if isinstance(e, (OSError, RuntimeError, ValueError, MemoryError)):
            fail(write_failure(e, a.output, tmp))
        raise
    print(f"convert_pickles: {len(used)} of {len(files)} files, {len(events)} events ({(split == 0).sum()} train), "
          f"{len(X)} elements -> {a.output}, checksum {h.hexdigest()}")
    if _stop["signal"]:
        print(f"convert_pickles: ERROR: stopped by signal {_stop['signal']} while writing; {a.output} was finished "
              "first and is complete", file=sys.stderr)
        sys.exit(128 + _stop["signal"])


if __name__ == "__main__":
    main()
