#!/usr/bin/env python3
"""The converter on small pickles written here in exactly the Zenodo format (dict of lists of
float64 arrays, bz2): the result is accepted and verified by `hep-mlbench info`, holds the same
numbers, and damaged pickles are refused with the file named. Also: a plain (decompressed) pickle
is read; an --output that is an input, a missing folder or a folder is refused before any input
is read; wrongly structured pickles and a --train-fraction outside (0, 1) are refused in the
converter's words; a stop signal before the write leaves nothing, one during it a complete file.

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
assert "Traceback" not in p.stderr and ".tmp." not in p.stderr, p.stderr  # the user's name, not the temporary one
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


def convert(*args, output=None, hook=None):
    """The converter's result for `args` (with --output `output`, default bad.h5). hook=(WHEN, WHAT)
    runs it in a Python that, as the first input is read (WHEN "read") or the first dataset is
    written ("write"), sends itself signal WHAT or raises a BaseException (WHAT "raise"): at a
    known moment, unlike a signal sent from outside on a timer."""
    cmd = [sys.executable, CONVERTER] if hook is None else [sys.executable, "-c", HOOK, *hook, CONVERTER]
    return subprocess.run(cmd + ["--output", output or os.path.join(d, "bad.h5"), *args], capture_output=True, text=True)


HOOK = """
import os, pickle, runpy, signal, sys
import h5py
when, what = sys.argv[1:3]
del sys.argv[:3]
class Abort(BaseException):
    pass
def strike():
    if what == "raise":
        raise Abort("a failure of no known kind")
    os.kill(os.getpid(), getattr(signal, what))
real = pickle.load if when == "read" else h5py.Group.create_dataset
def hooked(*args, **kwargs):
    strike()
    return real(*args, **kwargs)
if when == "read":
    pickle.load = hooked
else:
    h5py.Group.create_dataset = hooked
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def leftovers():
    return [f for f in os.listdir(d) if ".tmp." in f or "probe" in f]


def refused(p, *words):
    return p.returncode not in (0, None) and all(w in p.stderr for w in words) and "Traceback" not in p.stderr


# A plain pickle (the published file after bunzip2) is the same content: read as such (it was
# refused as "not a bz2-compressed pickle").
plain = os.path.join(d, "plain_0.pkl")
with bz2.open(files[0][0]) as src, open(plain, "wb") as dst:
    dst.write(src.read())
plain_out = os.path.join(d, "plain.h5")
p = convert(plain, output=plain_out)
assert p.returncode == 0, p.stderr
with h5py.File(plain_out) as f:
    assert np.array_equal(f["X"][: len(first_x)], first_x.astype(np.float32)) and f.attrs["n_events"] == 3
print("ok: a plain (decompressed) pickle is read")

# --output naming an input (by the same name, another spelling of it, a link to it) is refused
# and the input left as it was (it was replaced by the HDF5 file, exit 0).
victim = os.path.join(d, "victim.pkl.bz2")
shutil.copyfile(files[0][0], victim)
victim_bytes = open(victim, "rb").read()
os.symlink(victim, os.path.join(d, "link.pkl.bz2"))
for same in (victim, os.path.join(d, ".", "victim.pkl.bz2"), os.path.join(d, "link.pkl.bz2")):
    p = convert(victim, output=same)
    assert refused(p, "is the input", "victim.pkl.bz2"), (same, p.returncode, p.stderr)
    assert open(victim, "rb").read() == victim_bytes, same
print("ok: --output that is an input ->", p.stderr.strip()[:100])

# The output's place is checked before any input is read (on the full set, reading takes
# minutes): with an unreadable input the error is still the output's, naming the problem.
for bad_out, words in ((os.path.join(d, "missing", "x.h5"), ("'" + os.path.join(d, "missing") + "' does not exist",)),
                       (os.path.join(plain, "x.h5"), ("is not a folder",)),
                       (d, ("is a folder",))):
    p = convert(junk, output=bad_out)
    assert refused(p, *words) and "junk" not in p.stderr, (bad_out, p.returncode, p.stderr)
assert not os.path.exists(os.path.join(d, "missing"))
if os.geteuid() != 0:  # root writes into any folder: the probe is what catches a read-only mount
    locked = os.path.join(d, "locked")
    os.mkdir(locked, 0o500)
    p = convert(junk, output=os.path.join(locked, "x.h5"))
    assert refused(p, "is not writable") and "junk" not in p.stderr, p.stderr
print("ok: the output's folder is checked first ->", p.stderr.strip()[:100])

# Wrongly structured pickles: the converter's own error, naming the file, the event and what was
# expected (they were tracebacks: no len(), an inhomogeneous shape, isfinite on text).
for name, data, words in (
        ("number.pkl.bz2", {"X": 5, "ygen": 5}, ("X is int", "list of per-event arrays")),
        ("ragged.pkl.bz2", {"X": [[[1.0, 2.0], [3.0]]], "ygen": [[[1.0]]]}, ("event 0", "rows of unequal length")),
        ("text.pkl.bz2", {"X": [np.array([["a"] * 12] * 3)], "ygen": [np.array([["b"] * 7] * 3)]},
         ("event 0", "holds text", "(n, 12)")),
        ("none.pkl.bz2", {"X": [None], "ygen": [None]}, ("event 0", "X is NoneType")),
        ("noygen.pkl.bz2", {"X": [np.zeros((3, 12))], "ycand": []}, ("no key ygen",))):
    path = os.path.join(d, name)
    with bz2.open(path, "wb") as f:
        pickle.dump(data, f)
    p = convert(path)
    assert refused(p, name, *words), (name, p.returncode, p.stderr)
print("ok: wrongly structured pickles are refused ->", p.stderr.strip()[:100])

# --train-fraction must be a number strictly between 0 and 1 (nan was a traceback; 5 and -3
# were written into the file's source).
for fraction in ("nan", "5", "-3", "0", "1"):
    p = convert("--train-fraction", fraction, files[0][0])
    assert refused(p, "--train-fraction", "strictly between 0 and 1"), (fraction, p.returncode, p.stderr)
assert not os.path.exists(os.path.join(d, "bad.h5"))
print("ok: --train-fraction outside (0, 1) is refused")

# Stop signals. Before the write: stopped at once, 128 + N, nothing written, an earlier file
# left as it was.
before = open(out, "rb").read()
p = convert(files[0][0], output=out, hook=("read", "SIGTERM"))
assert p.returncode == 128 + 15 and "nothing was written" in p.stderr and "Traceback" not in p.stderr, (p.returncode, p.stderr)
assert open(out, "rb").read() == before and not leftovers(), leftovers()
# During the write: the file is finished, renamed and complete, the run says so and exits
# 128 + N (Ctrl-C was swallowed by h5py and the run exited 0; SIGTERM left a half-written
# temporary file).
for sig, number in (("SIGINT", 2), ("SIGTERM", 15), ("SIGHUP", 1)):
    stopped = os.path.join(d, f"stopped-{sig}.h5")
    p = convert(*[path for path, _ in files], output=stopped, hook=("write", sig))
    assert p.returncode == 128 + number, (sig, p.returncode, p.stderr)
    assert f"stopped by signal {number} while writing; {stopped} was finished first and is complete" in p.stderr, p.stderr
    assert not leftovers(), (sig, leftovers())
    i = subprocess.run([BIN, "info", stopped], capture_output=True, text=True)
    assert i.returncode == 0 and "(verified)" in i.stdout, (sig, i.stdout + i.stderr)
# Any other way the write ends early, of whatever kind, takes the temporary file with it.
p = convert(files[0][0], output=out, hook=("write", "raise"))
assert p.returncode != 0 and open(out, "rb").read() == before and not leftovers(), (p.returncode, leftovers())
print("ok: a stop before the write leaves nothing; during it, a complete file and exit 128 + N")
print("check_converter: all passed")
