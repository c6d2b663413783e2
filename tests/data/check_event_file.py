#!/usr/bin/env python3
"""The event format from outside: an independent reader (h5py) finds the documented datasets,
attributes and checksum of a generated file; damaged copies (wrong version, offsets out of
range or not from 0, wrong dtype or shape, NaN, checksum mismatch, split values other than 0/1
or no training event, no events at all, a stated count that disagrees, a `source` that is not JSON,
another checksum definition, more elements than memory holds) and a folder, a FIFO or a device
are refused by
`hep-mlbench info` with a message naming the file, the object and the problem.

usage: check_event_file.py HEP_MLBENCH_BINARY
"""
import atexit
import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile

import h5py
import numpy as np

BIN = sys.argv[1]
d = tempfile.mkdtemp(prefix="hmb-format-")
if os.environ.get("HMB_KEEP_TEST_DIRS") != "1":  # kept for a look afterwards when set
    atexit.register(shutil.rmtree, d, ignore_errors=True)
good = os.path.join(d, "good.h5")
subprocess.run([BIN, "-q", "generate", "--events", "5", "--seed", "3", "--output", good], check=True)

with h5py.File(good, "r") as f:
    assert f.attrs["format"] in (b"hep-mlbench-events", "hep-mlbench-events"), f.attrs["format"]
    assert int(f.attrs["format_version"]) == 1
    X, y, off, split = f["X"], f["ygen"], f["offsets"], f["split"]
    assert X.dtype == np.float32 and X.shape[1] == 12
    assert y.dtype == np.float32 and y.shape[1] == 7
    assert off.dtype == np.int64 and split.dtype == np.int8
    assert off.shape[0] == 6 and off[0] == 0 and off[-1] == X.shape[0] == y.shape[0]
    assert int(f.attrs["n_events"]) == 5 and int(f.attrs["n_train"]) + int(f.attrs["n_validation"]) == 5
    h = hashlib.sha256()
    for name in ("offsets", "X", "ygen", "split"):
        h.update(np.ascontiguousarray(f[name][...]).astype(f[name].dtype.newbyteorder("<")).tobytes())
    cs = f.attrs["checksum_sha256"]
    cs = cs.decode() if isinstance(cs, bytes) else cs
    assert h.hexdigest() == cs, (h.hexdigest(), cs)
    assert "generator" in (f.attrs["source"].decode() if isinstance(f.attrs["source"], bytes) else f.attrs["source"])
print("ok: h5py reads the documented layout and recomputes the checksum")


def damaged(name, change):
    path = os.path.join(d, name + ".h5")
    shutil.copy(good, path)
    with h5py.File(path, "r+") as f:
        change(f)
    return path


def replace(f, name, data):
    del f[name]
    f.create_dataset(name, data=data)


cases = {
    "version": (lambda f: f.attrs.modify("format_version", 2), "format_version"),
    "offsets": (lambda f: replace(f, "offsets", np.array([0, 10, 5, 20, 30, 10 ** 9], dtype=np.int64)), "/offsets"),
    "range": (lambda f: replace(f, "offsets", np.array([0, 10, 20, 30, 40, 10 ** 9], dtype=np.int64)), "out of range"),
    "dtype": (lambda f: replace(f, "X", f["X"][...].astype(np.float64)), "/X"),
    "shape": (lambda f: replace(f, "ygen", f["ygen"][:, :5]), "/ygen"),
    "nan": (lambda f: f["X"].__setitem__((3, 1), np.nan), "NaN"),
    "checksum": (lambda f: f["ygen"].__setitem__((0, 2), 123.0), "checksum mismatch"),
    "missing": (lambda f: f.__delitem__("split"), "/split"),
    "splitval": (lambda f: f["split"].__setitem__(0, 3), "has value 3"),
    "notrain": (lambda f: f["split"].__setitem__(slice(None), 1), "has no training events"),
    "offset0": (lambda f: f["offsets"].__setitem__(0, 1), "does not start at 0"),
    "nevents": (lambda f: f.attrs.modify("n_events", 99), "n_events: is 99 but the file holds 5 events"),
    "ntrain": (lambda f: f.attrs.modify("n_train", 0), "n_train: is 0 but the file holds"),
    "nvalidation": (lambda f: f.attrs.modify("n_validation", 7), "n_validation: is 7 but the file holds"),
    "nelements": (lambda f: f.attrs.modify("n_elements", 3), "n_elements: is 3 but the file holds"),
    "nocount": (lambda f: f.attrs.__delitem__("n_train"), "attribute n_train: missing"),
    "source": (lambda f: f.attrs.__setitem__("source", np.bytes_(b"generator v2 {")), "source: is not JSON"),
    "definition": (lambda f: f.attrs.__setitem__("checksum_definition", np.bytes_(b"MD5 of X")),
                   "checksum_definition: is 'MD5 of X'"),
    "noevents": (lambda f: [replace(f, "offsets", np.zeros(1, dtype=np.int64)),
                            replace(f, "split", np.zeros(0, dtype=np.int8)),
                            replace(f, "X", np.zeros((0, 12), dtype=np.float32)),
                            replace(f, "ygen", np.zeros((0, 7), dtype=np.float32))], "holds no events"),
    # A small file that states more elements than any machine holds: refused before the read
    # (it was a bare std::bad_alloc). The datasets are chunked and never written: a few kB.
    "huge": (lambda f: [f.__delitem__(k) for k in ("X", "ygen", "offsets")] and [
        f.create_dataset("X", shape=(10 ** 11, 12), dtype=np.float32, chunks=(1024, 12)),
        f.create_dataset("ygen", shape=(10 ** 11, 7), dtype=np.float32, chunks=(1024, 7)),
        f.create_dataset("offsets", data=np.linspace(0, 10 ** 11, 6).astype(np.int64)),
        f.attrs.modify("n_elements", 10 ** 11)], "more than this machine's memory and swap"),
    # HDF5 would convert 1.5 to version 1: a version that is not an integer is refused.
    "floatversion": (lambda f: f.attrs.__setitem__("format_version", 1.5), "format_version: is not an integer"),
}
for name, (change, expect) in cases.items():
    path = damaged(name, change)
    p = subprocess.run([BIN, "info", path], capture_output=True, text=True)
    assert p.returncode != 0, f"{name}: accepted"
    assert path in p.stderr and expect in p.stderr, f"{name}: {p.stderr}"
    print(f"ok: {name}: {p.stderr.strip().split('] ', 2)[-1][:150]}")
# A file whose string attributes h5py wrote as variable-length UTF-8 (its default for a str) is
# read like the fixed-length ASCII ones hep-mlbench writes.
utf8 = damaged("utf8", lambda f: [f.attrs.__setitem__(k, str(f.attrs[k].decode() if isinstance(f.attrs[k], bytes)
                                                          else f.attrs[k])) for k in ("format", "checksum_sha256")])
with h5py.File(utf8, "r") as f:
    assert h5py.check_string_dtype(f.attrs.get_id("format").dtype).encoding == "utf-8"
p = subprocess.run([BIN, "info", utf8], capture_output=True, text=True)
assert p.returncode == 0, p.stderr
print("ok: variable-length UTF-8 string attributes are read")
# A folder where the file should be.
p = subprocess.run([BIN, "info", d], capture_output=True, text=True)
assert p.returncode != 0 and d in p.stderr and "is a folder" in p.stderr, p.stderr
print("ok: a folder is refused")
# A FIFO (or a device) where the file should be: refused at once (opening it used to block).
fifo_in = os.path.join(d, "fifo_in.h5")
os.mkfifo(fifo_in)
for path in (fifo_in, "/dev/zero"):
    p = subprocess.run([BIN, "info", path], capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and path in p.stderr and "not a file" in p.stderr, p.stderr
print("ok: a FIFO or a device is refused, without waiting")
# A file this user may not read: said as such, not as a corrupt file. Root reads everything, so
# root drops the capability that lets it (setpriv, util-linux).
unreadable = os.path.join(d, "unreadable.h5")
shutil.copy(good, unreadable)
os.chmod(unreadable, 0)
drop = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search",
        "--inh-caps", "-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
if drop and shutil.which("setpriv") is None:
    print("SKIPPED: the unreadable-file case (running as root, and no setpriv to drop root's file access)")
else:
    p = subprocess.run(drop + [BIN, "info", unreadable], capture_output=True, text=True)
    assert p.returncode != 0 and unreadable in p.stderr and "cannot be read: Permission denied" in p.stderr, p.stderr
    assert "corrupt" not in p.stderr, p.stderr
    print("ok: an unreadable file is said to be unreadable")
    # An output folder behind one this user may not enter: named with the reason, before any event.
    locked = os.path.join(d, "locked")
    os.mkdir(locked, 0o600)
    p = subprocess.run(drop + [BIN, "generate", "--events", "3", "--output", os.path.join(locked, "sub", "x.h5")],
                       capture_output=True, text=True)
    assert p.returncode != 0 and f"its folder '{locked}/sub': Permission denied" in p.stderr, p.stderr
    assert "choose another path with --output" in p.stderr, p.stderr
    print("ok: a folder that cannot be entered is named")
# generate's output: a FIFO there (as /dev/null would be) is refused before any event is made, and
# stays a FIFO (a write-then-rename would have put a plain file in its place).
fifo = os.path.join(d, "pipe.h5")
os.mkfifo(fifo)
p = subprocess.run([BIN, "generate", "--events", "3", "--output", fifo], capture_output=True, text=True)
assert p.returncode != 0 and "option --output" in p.stderr and "is a FIFO" in p.stderr, p.stderr
assert stat.S_ISFIFO(os.lstat(fifo).st_mode), "the FIFO was replaced"
p = subprocess.run([BIN, "generate", "--events", "3", "--output", os.path.join(d, "no", "x.h5")],
                   capture_output=True, text=True)
assert p.returncode != 0 and "does not exist" in p.stderr and "s generating" not in p.stdout + p.stderr, p.stderr
print("ok: generate refuses a FIFO or a missing folder as its output, at once")
print("check_event_file: all passed")
