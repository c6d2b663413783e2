#!/usr/bin/env python3
"""scripts/make_sample.sh against an expected checksum: a sample whose content checksum differs
from HMB_SAMPLE_SHA256 is refused and removed (exit 1, a message naming both checksums and the
way out) while an earlier file at OUTPUT and its .sha256 stay as they were; the right checksum
and "any" are accepted; a value that is not a SHA-256 is refused before anything is generated.
--help prints the usage (exit 0) and any other option is refused (exit 2), neither making anything.

usage: test_make_sample.py HEP_MLBENCH_BINARY
"""
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "make_sample.sh")
BIN = os.path.abspath(sys.argv[1])
EVENTS = "6"


def make(out, expected, args=None, cwd=None):
    env = dict(os.environ, HMB_BIN=BIN)
    env.pop("HMB_SAMPLE_SHA256", None)
    if expected is not None:
        env["HMB_SAMPLE_SHA256"] = expected
    return subprocess.run(["bash", SCRIPT, *(args or [out, EVENTS])], env=env, capture_output=True, text=True, cwd=cwd)


def check(cond, what, p=None):
    if not cond:
        print("FAILED:", what)
        if p is not None:
            print("rc", p.returncode, "\nstdout:", p.stdout, "\nstderr:", p.stderr)
        sys.exit(1)


with tempfile.TemporaryDirectory(prefix="hmb-make-sample-") as tmp:
    out = os.path.join(tmp, "sample.h5")
    # No expectation for a non-default size: whatever comes out is recorded.
    p = make(out, None)
    check(p.returncode == 0 and os.path.exists(out), "a 6-event sample without an expected checksum", p)
    recorded = open(out + ".sha256").read().split()[0]
    check(len(recorded) == 64, "OUTPUT.sha256 holds the checksum", p)

    # The same settings give the same bytes, so the recorded checksum is accepted ...
    p = make(out, recorded)
    check(p.returncode == 0 and recorded in p.stdout, "the right checksum is accepted", p)
    # ... and another one is refused, both checksums named; the refused sample is left nowhere
    # and the earlier file and its .sha256 stay as they were (they were deleted).
    wrong = ("0" if recorded[0] != "0" else "1") + recorded[1:]
    for name, content in ((out, b"the earlier sample"), (out + ".sha256", b"the earlier checksum")):
        with open(name, "wb") as f:
            f.write(content)
    listing = sorted(os.listdir(tmp))
    p = make(out, wrong)
    check(p.returncode == 1, "a different checksum exits 1", p)
    kept = [open(name, "rb").read() if os.path.exists(name) else None for name in (out, out + ".sha256")]
    check(kept == [b"the earlier sample", b"the earlier checksum"], "the earlier sample and its .sha256 are kept", p)
    check(sorted(os.listdir(tmp)) == listing, f"nothing else is left: {sorted(os.listdir(tmp))}", p)
    check(recorded in p.stderr and wrong in p.stderr and "SAMPLE_SHA256=any" in p.stderr and "left as it was" in p.stderr,
          "the message names both checksums, the kept file and how to keep the sample", p)

    p = make(out, "any")
    check(p.returncode == 0 and os.path.exists(out), "'any' accepts the sample", p)

    os.remove(out)
    p = make(out, "da62fab6")
    check(p.returncode == 1 and "is not a SHA-256" in p.stderr and not os.path.exists(out),
          "a value that is not a SHA-256 is refused before generating", p)

    # --help is a usage text, and another option is refused, before anything is made (--help was
    # taken for OUTPUT: mkdir -p "$(dirname --help)" and a generate run).
    empty = os.path.join(tmp, "cwd")
    os.mkdir(empty)
    for args, rc, said in ((["--help"], 0, "HMB_PICKLES"), (["-h"], 0, "OUTPUT.h5 [EVENTS]"),
                           (["--bogus"], 2, "unknown option '--bogus'"), ([out, "--events"], 2, "unknown option '--events'"),
                           (["-x", out], 2, "unknown option '-x'")):
        p = make(None, None, args=args, cwd=empty)
        check(p.returncode == rc and not os.listdir(empty) and not os.path.exists(out),
              f"make_sample.sh {' '.join(args)} exits {rc}, making nothing", p)
        check(said in (p.stdout if rc == 0 else p.stderr), f"make_sample.sh {' '.join(args)} says {said!r}", p)
print("make_sample.sh checks passed")
