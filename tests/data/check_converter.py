#!/usr/bin/env python3
"""The converter on small pickles written here in exactly the Zenodo format (dict of lists of
float64 arrays, bz2): the result is accepted and verified by `hep-mlbench info`, holds the same
numbers, and damaged pickles are refused with the file named.

usage: check_converter.py HEP_MLBENCH_BINARY
"""
import atexit
import bz2
import os
import pickle
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np

BIN = sys.argv[1]
CONVERTER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "convert_pickles.py")
d = tempfile.mkdtemp(prefix="hmb-convert-")
if os.environ.get("HMB_KEEP_TEST_DIRS") != "1":  # kept for a look afterwards when set
    atexit.register(shutil.rmtree, d, ignore_errors=True)
rng = np.random.default_rng(1)


def event(n):
    X = np.zeros((n, 12))
    X[:, 0] = rng.integers(1, 3, n)
    X[:, 1:6] = rng.random((n, 5)) + 0.1
    y = np.zeros((n, 7))
    y[:, 0] = rng.integers(0, 6, n)
    y[:, 2:] = rng.random((n, 5))
    return X, y


def write(name, sizes, mangle=None):
    evs = [event(n) for n in sizes]
    data = {"X": [x for x, _ in evs], "ygen": [y for _, y in evs], "ycand": [y for _, y in evs]}
    if mangle:
        mangle(data)
    path = os.path.join(d, name)
    with bz2.open(path, "wb") as f:
        pickle.dump(data, f)
    return path, evs


files = [write(f"tev14_pythia8_ttbar_0_{i}.pkl.bz2", [30 + i, 17, 44]) for i in range(5)]
out = os.path.join(d, "converted.h5")
subprocess.run([sys.executable, CONVERTER, "--output", out, os.path.join(d, "tev14_*.pkl.bz2")], check=True)
p = subprocess.run([BIN, "info", out], capture_output=True, text=True)
assert p.returncode == 0, p.stderr
assert "(verified)" in p.stdout and "train 12, validation 3" in p.stdout, p.stdout
with h5py.File(out) as f:
    first_x = files[0][1][0][0]
    assert np.array_equal(f["X"][: len(first_x)], first_x.astype(np.float32))
    assert f["offsets"][1] == len(first_x)
print("ok: converted 5 pickles, hep-mlbench verifies the file")

# No room to write (here a 4 kB file-size limit): an error that says what to do, no temporary
# file, and the earlier file at --output untouched (it was a traceback and a left-over .tmp).
before = open(out, "rb").read()


def small_files_only():
    import resource
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))


p = subprocess.run([sys.executable, CONVERTER, "--output", out, os.path.join(d, "tev14_*.pkl.bz2")],
                   capture_output=True, text=True, preexec_fn=small_files_only)
assert p.returncode != 0 and "cannot write" in p.stderr and "ulimit -f" in p.stderr, (p.returncode, p.stderr)
assert "Traceback" not in p.stderr, p.stderr
assert open(out, "rb").read() == before and not [f for f in os.listdir(d) if ".tmp." in f], os.listdir(d)
print("ok: no room to write ->", p.stderr.strip()[:100])

# The command line of cli.md, --input GLOB: the same file; no input at all is refused by name.
by_option = os.path.join(d, "by-option.h5")
subprocess.run([sys.executable, CONVERTER, "--input", os.path.join(d, "tev14_*.pkl.bz2"), "--output", by_option],
               check=True)
with h5py.File(out) as a, h5py.File(by_option) as b:
    assert all(np.array_equal(a[k][()], b[k][()]) for k in ("X", "ygen", "offsets", "split")), "--input differs"
p = subprocess.run([sys.executable, CONVERTER, "--output", os.path.join(d, "none.h5")], capture_output=True, text=True)
assert p.returncode != 0 and "--input" in p.stderr, (p.returncode, p.stderr)
print("ok: --input GLOB gives the same file; no input is refused")

# --max-events keeps the split by file and reads only the files it needs: 4 training files and
# 1 validation file of 3 events each, 10 events -> 8 from the first three training files, 2 from
# the validation file; the fourth training file is never read.
capped = os.path.join(d, "capped.h5")
subprocess.run([sys.executable, CONVERTER, "--output", capped, "--max-events", "10", os.path.join(d, "tev14_*.pkl.bz2")],
               check=True)
p = subprocess.run([BIN, "info", capped], capture_output=True, text=True)
assert p.returncode == 0 and "train 8, validation 2" in p.stdout, p.stdout + p.stderr
with h5py.File(capped) as f:
    import json
    source = json.loads(f.attrs["source"])
    assert source["max_events"] == 10, source
    assert source["files"] == [os.path.basename(files[i][0]) for i in (0, 1, 2, 4)], source["files"]
    val_first = files[4][1][0][0]  # the validation file's first event follows the 8 training events
    start = f["offsets"][8]
    assert np.array_equal(f["X"][start: start + len(val_first)], val_first.astype(np.float32))
print("ok: --max-events 10 -> 8 training events from 3 files, 2 validation events from the last")

bad, _ = write("tev14_pythia8_ttbar_9_9.pkl.bz2", [10], mangle=lambda dd: dd["X"].__setitem__(0, np.zeros((10, 9))))
p = subprocess.run([sys.executable, CONVERTER, "--output", os.path.join(d, "bad.h5"), bad], capture_output=True, text=True)
assert p.returncode != 0 and "tev14_pythia8_ttbar_9_9.pkl.bz2" in p.stderr and "(n, 12)" in p.stderr, p.stderr
badclass, _ = write("tev14_pythia8_ttbar_9_8.pkl.bz2", [10], mangle=lambda dd: dd["ygen"][0].__setitem__((0, 0), 7))
p = subprocess.run([sys.executable, CONVERTER, "--output", os.path.join(d, "bad.h5"), badclass], capture_output=True, text=True)
assert p.returncode != 0 and "tev14_pythia8_ttbar_9_8.pkl.bz2" in p.stderr and "classes outside 0..5" in p.stderr, p.stderr
badtype, _ = write("tev14_pythia8_ttbar_9_7.pkl.bz2", [10], mangle=lambda dd: dd["X"][0].__setitem__((0, 0), 3))
p = subprocess.run([sys.executable, CONVERTER, "--output", os.path.join(d, "bad.h5"), badtype], capture_output=True, text=True)
assert p.returncode != 0 and "tev14_pythia8_ttbar_9_7.pkl.bz2" in p.stderr and "1 (tower) and 2 (track)" in p.stderr, p.stderr
junk = os.path.join(d, "junk.pkl.bz2")
open(junk, "wb").write(b"nonsense")
p = subprocess.run([sys.executable, CONVERTER, "--output", os.path.join(d, "bad.h5"), junk], capture_output=True, text=True)
assert p.returncode != 0 and "junk.pkl.bz2" in p.stderr, p.stderr
assert not os.path.exists(os.path.join(d, "bad.h5"))
print("check_converter: all passed")
