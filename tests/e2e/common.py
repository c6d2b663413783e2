"""Helpers for hep-mlbench's end-to-end tests (plain Python, run by CTest).

The working folders are removed when the test ends, passed or failed; HMB_KEEP_TEST_DIRS=1
keeps them for a look afterwards.
"""
import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

BIN = os.environ.get("HMB_BIN") or sys.argv[1]
SOURCE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCHEMA = os.path.join(SOURCE, "docs", "summary.schema.json")


def run(args, env=None, check=True, timeout=600):
    p = subprocess.run([BIN] + [str(a) for a in args], capture_output=True, text=True, env=env, timeout=timeout)
    if check and p.returncode != 0:
        sys.stderr.write(p.stdout + p.stderr)
        raise AssertionError(f"hep-mlbench {' '.join(map(str, args))} exited {p.returncode}")
    return p


def workdir(name):
    d = tempfile.mkdtemp(prefix=f"hmb-{name}-")
    if os.environ.get("HMB_KEEP_TEST_DIRS") != "1":
        atexit.register(shutil.rmtree, d, ignore_errors=True)
    return d


def summary(results_dir):
    with open(os.path.join(results_dir, "hep-mlbench_summary.json")) as f:
        return json.load(f)


def validate(summary_json):
    import jsonschema
    with open(SCHEMA) as f:
        jsonschema.validate(summary_json, json.load(f))


def generate(path, events, seed=7, threads=2, pileup=20):
    """An event file for a test: pile-up 20 by default, not the benchmark's 200. What these tests
    check (reports, launchers, stops, tolerances) does not depend on how busy an event is, and a
    PU20 event has about a fifth of the elements (1000 instead of 5500), so a training step is
    about five times quicker."""
    run(["-q", "generate", "--events", events, "--seed", seed, "--threads", threads, "--pileup", pileup,
         "--output", path])
    return path


def stat(s, key):
    v = s["report"]["wl-stats"][key]
    return v["value"] if isinstance(v, dict) and "value" in v else v


def wait_for_stop_handler(proc, sig=signal.SIGINT, timeout=120):
    """Waits until process `proc` catches `sig` (the signal's bit in SigCgt of /proc/PID/status):
    a signal sent earlier meets the default action, which ends the process before it can clean
    up, however long it takes to start (loading LibTorch takes about a second, more on a busy
    machine)."""
    bit = 1 << (sig - 1)
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, f"the process ended (exit {proc.returncode}) before it caught signal {sig}"
        with open(f"/proc/{proc.pid}/status") as f:
            caught = next(int(line.split()[1], 16) for line in f if line.startswith("SigCgt:"))
        if caught & bit:
            return
        time.sleep(0.01)
    raise AssertionError(f"the process did not catch signal {sig} within {timeout} s")


def stop_while_training(args, logs, env=None, sig=signal.SIGTERM):
    """Starts hep-mlbench with `args`, sends `sig` once every log in `logs` shows step 2 (or
    after 120 s), and returns (exit status, output)."""
    proc = subprocess.Popen([BIN] + [str(a) for a in args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:  # wait until training has started
        if all(os.path.exists(p) and "step 2/" in open(p).read() for p in logs):
            break
        time.sleep(0.2)
    proc.send_signal(sig)
    rc = proc.wait(timeout=120)
    return rc, proc.stdout.read()
