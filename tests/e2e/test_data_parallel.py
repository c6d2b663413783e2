#!/usr/bin/env python3
"""Data-parallel training end to end on CPU ranks (Gloo), in the forms users type:
hep-mlbench's own launcher (--nproc), torchrun, mpirun, and two "nodes" started by hand.

Checks: one valid report with 2 ranks, identical weights on every rank, bit-for-bit repeats,
2 ranks x batch b == 1 rank x batch 2b, a killed rank ends the job, a stop signal to one rank
stops every rank with it, an unreachable rendezvous fails in bounded time, ranks started with
different options fail naming them, unreadable launch variables leave a report.

usage: test_data_parallel.py HEP_MLBENCH_BINARY
"""
import csv
import os
import re
import shutil
import socket
import subprocess
import sys
import time

from common import BIN, generate, run, stat, summary, validate, workdir

d = workdir("dp")
data = generate(os.path.join(d, "events.h5"), 40)
VENV_BIN = os.path.dirname(sys.executable)
base = ["--data", data, "--preset", "tiny", "--threads", 1, "--epochs", 2,
        "--max-train-events", 16, "--max-val-events", 8, "--warmup-steps", 1, "--log-every", 2,
        "--dist-timeout", 60]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def losses(results):
    with open(os.path.join(results, "steps.csv")) as f:
        return [float(row["loss"]) for row in csv.DictReader(f)]


def dp(s):
    return s["report"]["wl-stats"]["data_parallel"]


def check_two_ranks(results, launcher):
    s = summary(results)
    validate(s)
    assert s["report"]["log"] == "ok", s["report"].get("error")
    assert stat(s, "ranks") == 2, stat(s, "ranks")
    p = dp(s)
    assert p["world_size"] == 2 and p["backend"] == "gloo" and p["launcher"] == launcher, p
    assert p["weights_agree"] is True
    assert len(p["per_rank"]) == 2 and all(r["events_per_s"] > 0 for r in p["per_rank"]), p["per_rank"]
    # Every rank's own hardware figures: CPU time on CPU ranks, no GPU figures.
    gpu_keys = ("gpu_busy_fraction", "gpu_energy_j", "gpu_mean_power_w", "gpu_max_power_w", "gpu_sm_clock_mhz",
                "gpu_temperature_max_c", "gpu_memory_used_peak_mib")
    assert all(r["cpu_busy_cores"] > 0 and all(k in r and r[k] is None for k in gpu_keys)
               for r in p["per_rank"]), p["per_rank"]
    assert p["allreduce_bytes_per_step"]["value"] > 0
    assert p["global_batch_size"] == 2 * s["report"]["wl-stats"]["batch_size_per_device"]
    return s


def train(name, *extra, env=None, check=True, launcher_cmd=None):
    out = os.path.join(d, name)
    if "--lr" not in extra:
        extra = ("--lr", "1e-3", *extra)
    args = [*(launcher_cmd or []), BIN, "train", *map(str, base), "--results", out, *map(str, extra)]
    p = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)
    if check and p.returncode != 0:
        sys.stderr.write(p.stdout[-4000:] + p.stderr[-4000:])
        raise AssertionError(f"{' '.join(args)} exited {p.returncode}")
    return out, p


# 1. hep-mlbench's own launcher: two CPU ranks, one report, a log per rank.
a, _ = train("nproc_a", "--nproc", 2, "--batch-size", 2)
sa = check_two_ranks(a, "hep-mlbench")
assert os.path.exists(os.path.join(a, "rank_1.log")), os.listdir(a)
assert stat(sa, "timed_events") == 7 * 4, stat(sa, "timed_events")  # 8 steps x 2 ranks x 2, 1 warm-up
print("ok: --nproc 2:", stat(sa, "throughput"), "events/s;", dp(sa)["per_rank"])

# 2. Bit for bit with a fixed world size.
b, _ = train("nproc_b", "--nproc", 2, "--batch-size", 2)
sb = summary(b)
assert losses(a) == losses(b), (losses(a), losses(b))
assert stat(sa, "final_weights_checksum") == stat(sb, "final_weights_checksum")
assert stat(sa, "validation_accuracy") == stat(sb, "validation_accuracy")
print("ok: two 2-rank runs are bit-identical")

# 3. 2 ranks x batch 2 == 1 rank x batch 4 over the same events, up to float rounding. AdamW
# moves a weight by about lr per step whatever the gradient's size, so a gradient near zero whose
# sign differs by rounding moves it by up to 2 lr per step; the LSH binning turns such tiny
# differences into occasional discrete loss changes. Hence a small lr, and the bounds of
# docs/data-parallel.md: first losses equal, all within 1e-3 relative, weights within 2 lr steps.
lr, steps = 1e-5, 8
eq2, _ = train("eq_2x2", "--nproc", 2, "--batch-size", 2, "--lr", lr)
eq1, _ = train("eq_1x4", "--batch-size", 4, "--lr", lr)
import torch
w2 = torch.load(os.path.join(eq2, "final_weights.pt"))
w1 = torch.load(os.path.join(eq1, "final_weights.pt"))
worst = max((w2[k].double() - w1[k].double()).abs().max().item() for k in w1)
l2, l1 = losses(eq2), losses(eq1)
gaps = [abs(x - y) / abs(y) for x, y in zip(l2, l1)]
print(f"equivalence: max |w(2x2) - w(1x4)| = {worst:.3g} (bound {2 * lr * steps:.3g}); relative loss gaps "
      + ", ".join(f"{g:.2g}" for g in gaps))
assert len(l2) == len(l1) == steps
# The first loss comes from identical weights (only the all-reduce's summation order differs);
# every later one from weights that one AdamW step may already have moved apart by 2 lr.
assert gaps[0] < 1e-6, gaps
assert max(gaps) < 1e-3, gaps
assert worst < 2 * lr * steps, worst
# ... and a deliberately different split is not equivalent: 2 ranks x batch 2 against 1 rank x
# batch 2 sees other batches, so the check above can fail.
other, _ = train("eq_1x2", "--batch-size", 2, "--lr", lr)
assert max(abs(x - y) / abs(y) for x, y in zip(losses(other), l2)) > 1e-3
print("ok: 2 ranks x batch 2 == 1 rank x batch 4")

# 3b. One rank through the communicator (--dist-backend gloo): the data-parallel path (reducer,
# all-reduced loss statistics) with a world of one changes nothing, bit for bit.
g1, _ = train("eq_1x4_gloo", "--batch-size", 4, "--lr", lr, "--dist-backend", "gloo")
sg = summary(g1)
assert dp(sg)["backend"] == "gloo" and dp(sg)["world_size"] == 1, dp(sg)
assert dp(sg)["allreduce_bytes_per_step"]["value"] > 0, dp(sg)
assert losses(g1) == l1, (losses(g1), l1)
assert stat(sg, "final_weights_checksum") == stat(summary(eq1), "final_weights_checksum")
print("ok: one rank over gloo == one rank without a communicator")

# 4. torchrun starts the ranks; the binary reads its contract and uses its agent's store.
port = free_port()
t, p = train("torchrun", "--batch-size", 2,
             launcher_cmd=[os.path.join(VENV_BIN, "torchrun"), "--no-python", "--nproc-per-node", "2",
                           "--master-addr", "127.0.0.1", "--master-port", str(port)])
st = check_two_ranks(t, "torchrun")
assert stat(st, "final_weights_checksum") == stat(sa, "final_weights_checksum")
print("ok: torchrun --nproc-per-node 2, same weights as --nproc 2")

# 5. mpirun (Open MPI) as the launcher, the TCP store on MASTER_ADDR:MASTER_PORT.
mpirun = shutil.which("mpirun")
assert mpirun, "mpirun not found: scripts/setup.sh installs Debian's openmpi-bin"
port = free_port()
m, p = train("mpirun", "--batch-size", 2,
             launcher_cmd=[mpirun, "--allow-run-as-root", "--oversubscribe", "-np", "2",
                           "-x", "MASTER_ADDR=127.0.0.1", "-x", f"MASTER_PORT={port}"])
sm = check_two_ranks(m, "openmpi")
assert stat(sm, "final_weights_checksum") == stat(sa, "final_weights_checksum")
print("ok: mpirun -np 2")

# 6. Two "nodes": one process each, LOCAL_WORLD_SIZE=1, meeting at 127.0.0.1.
port = free_port()
out = os.path.join(d, "two_nodes")
procs = []
for r in range(2):
    env = dict(os.environ, RANK=str(r), WORLD_SIZE="2", LOCAL_RANK="0", LOCAL_WORLD_SIZE="1",
               MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    procs.append(subprocess.Popen([BIN, "train", *map(str, base), "--lr", "1e-3", "--batch-size", "2", "--results", out],
                                  env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
assert [q.wait(timeout=600) for q in procs] == [0, 0]
sn = check_two_ranks(out, "env")
assert dp(sn)["nodes"] == 2 and dp(sn)["local_world_size"] == 1, dp(sn)
assert stat(sn, "final_weights_checksum") == stat(sa, "final_weights_checksum")
print("ok: two single-rank nodes")


# 7. A rank killed with SIGKILL under torchrun: the job ends non-zero within 60 s, nothing left.
def children(pid):
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                out.append(int(p))
        except OSError:
            pass
    return out


def rank_of(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)
        return int(env.get(b"RANK", b"-1"))
    except OSError:
        return -1


def kill_rank_one(cmd, kill_dir, sig=9):
    """Starts `cmd` (a 2-rank job writing into kill_dir), sends rank 1 `sig` (SIGKILL) once rank 0
    logged step 2, and returns (exit status, seconds to exit, the job's ranks)."""
    job = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    victim = None
    while time.time() < deadline and victim is None:
        log = os.path.join(kill_dir, "hep-mlbench.log")
        if os.path.exists(log) and "step 2/" in open(log).read():
            victim = {rank_of(c): c for c in children(job.pid)}.get(1)
        time.sleep(0.2)
    assert victim, f"rank 1 of {cmd[0]} not found"
    all_ranks = children(job.pid)
    os.kill(victim, sig)
    t0 = time.time()
    rc = job.wait(timeout=120)
    return rc, time.time() - t0, all_ranks


port = free_port()
kill_dir = os.path.join(d, "killed")
rc, elapsed, all_ranks = kill_rank_one(
    [os.path.join(VENV_BIN, "torchrun"), "--no-python", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
     "--master-port", str(port), BIN, "train", *map(str, base), "--batch-size", "2", "--epochs", "50",
     "--results", kill_dir], kill_dir)
left = [p for p in all_ranks if os.path.exists(f"/proc/{p}") and open(f"/proc/{p}/stat").read().split()[2] != "Z"]
print(f"killed rank 1: torchrun exited {rc} after {elapsed:.1f} s; ranks left: {left}")
assert rc != 0 and elapsed < 60 and not left, (rc, elapsed, left)

# ... and under hep-mlbench's own launcher: the report names the rank that died.
kill_dir = os.path.join(d, "killed_own")
rc, elapsed, all_ranks = kill_rank_one(
    [BIN, "train", *map(str, base), "--nproc", "2", "--batch-size", "2", "--epochs", "50", "--results", kill_dir],
    kill_dir)
s = summary(kill_dir)
validate(s)
print(f"killed rank 1 (own launcher): exit {rc} after {elapsed:.1f} s: {s['report'].get('error')}")
assert rc != 0 and elapsed < 60 and s["report"]["log"] == "ERROR", (rc, elapsed)
assert "rank 1 was killed by signal 9" in s["report"]["error"], s["report"]["error"]
assert not [p for p in all_ranks if os.path.exists(f"/proc/{p}")]

# ... and a stop signal to one rank alone stops the whole job, every rank with that signal. The
# whole training split at batch size 1 (16 steps an epoch) so that the signal mostly lands in a
# training step; landing in a validation is the same stop, said as such.
stop_dir = os.path.join(d, "stopped_one")
long_epochs = [str(a) for a in base]
long_epochs[long_epochs.index("--max-train-events") + 1] = "0"
rc, elapsed, all_ranks = kill_rank_one(
    [BIN, "train", *long_epochs, "--nproc", "2", "--batch-size", "1", "--epochs", "50", "--results", stop_dir],
    stop_dir, sig=2)
s = summary(stop_dir)
validate(s)
print(f"SIGINT to rank 1 (own launcher): exit {rc} after {elapsed:.1f} s: {s['report'].get('error')}")
assert rc == 130 and elapsed < 60, (rc, elapsed)
stop_said = re.compile(r"stopped by signal 2 (at step \d+|during the validation of epoch \d+)")
assert stop_said.search(s["report"]["error"]), s["report"]["error"]
rank1_log = open(os.path.join(stop_dir, "rank_1.log")).read()
assert stop_said.search(rank1_log), rank1_log[-2000:]

# 7b. Rank 0 under hep-mlbench's own launcher fails before training (here its config.yaml cannot
#     be written): its own report says why. The launcher holds the folder's lock for the job, and
#     rank 0 must not take itself for another run there (it did, and wrote no report).
blocked = os.path.join(d, "rank0_blocked")
os.makedirs(os.path.join(blocked, "config.yaml"))
p = run(["train", *base, "--nproc", "2", "--results", blocked], check=False)
s = summary(blocked)
validate(s)
assert p.returncode == 1 and "config.yaml' is a folder" in s["report"]["error"], (p.returncode, s["report"]["error"])
print("ok: rank 0 failing before training reports why:", s["report"]["error"][:80])
# ... a --gpus value that no rank could use is refused before any rank starts (each rank found it
#     and the launcher's report could miss why), and so is --nproc past 4 ranks per core.
for bad, words in ((["--nproc", "2", "--gpus", "-1"], "option --gpus: '-1'"),
                   (["--nproc", str(4 * os.cpu_count() + 1)], "option --nproc")):
    early = os.path.join(d, "early" + bad[-1])
    p = run(["train", *base, *bad, "--results", early], check=False)
    s = summary(early)
    assert p.returncode == 1 and words in s["report"]["error"], (bad, p.returncode, s["report"]["error"])
    assert not [n for n in os.listdir(early) if n.startswith("rank_")], os.listdir(early)
print("ok: bad --gpus or --nproc refused before the ranks start")
# ... a rank other than 0 that fails at its start (its log cannot be opened: a folder stands
#     there) is named in the report with its reason, which it tells the launcher.
rank1_fails = os.path.join(d, "rank1_fails")
os.makedirs(os.path.join(rank1_fails, "rank_1.log"))
p = run(["train", *base, "--nproc", "2", "--results", rank1_fails], check=False)
s = summary(rank1_fails)
validate(s)
assert p.returncode != 0 and s["report"]["log"] == "ERROR", (p.returncode, s["report"])
assert "rank 1 exited with status 1: log file" in s["report"]["error"] and "it is a folder" in s["report"]["error"], s["report"]["error"]
print("ok: a failing rank's reason reaches the report:", s["report"]["error"][-120:])

# 8. The all-reduce bandwidth benchmark over 2 CPU ranks.
p = run(["bench", "--what", "allreduce", "--nproc", 2, "--gpus", "cpu", "--preset", "tiny", "--iterations", 5])
assert "gloo, 2 ranks" in p.stdout and "bus bandwidth" in p.stdout, p.stdout
print("ok:", p.stdout.strip().splitlines()[-1].strip())
# ... and its counts are checked: 0 threads used to leave bench --what data waiting forever.
for bad in (["--what", "data", "--threads", 0], ["--what", "data", "--events", -5], ["--what", "step", "--batch-size", 0]):
    p = run(["bench", *bad], check=False, timeout=60)
    assert p.returncode != 0 and bad[2] in p.stderr, (bad, p.returncode, p.stderr)
print("ok: bench refuses counts below 1")

# 9. A rendezvous nobody else comes to: rank 0 of 2 fails within the timeout, naming it.
port = free_port()
env = dict(os.environ, RANK="0", WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
lonely = os.path.join(d, "lonely")
t0 = time.time()
p = subprocess.run([BIN, "train", *map(str, base[:-2]), "--dist-timeout", "5", "--results", lonely], env=env,
                   capture_output=True, text=True, timeout=120)
elapsed = time.time() - t0
s = summary(lonely)
validate(s)
print(f"lonely rank 0: exit {p.returncode} after {elapsed:.1f} s: {s['report']['error']}")
assert p.returncode != 0 and elapsed < 60
assert f"127.0.0.1:{port}" in s["report"]["error"] and "rank 0 of 2" in s["report"]["error"]

# 10. Ranks started with different options: every rank fails at once, naming them.
port = free_port()
mixed = os.path.join(d, "mixed")
procs = []
for r, extra in ((0, ["--batch-size", "2"]), (1, ["--batch-size", "3", "--seed", "7"])):
    env = dict(os.environ, RANK=str(r), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    procs.append(subprocess.Popen([BIN, "train", *map(str, base), *extra, "--results", mixed], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
codes = [q.wait(timeout=120) for q in procs]
s = summary(mixed)
validate(s)
print(f"mixed options: exits {codes}: {s['report']['error']}")
assert codes == [1, 1] and s["report"]["log"] == "ERROR", codes
assert "different values of --batch-size, --seed" in s["report"]["error"], s["report"]["error"]

# 11. Launch variables that cannot be read still leave rank 0's report, naming the variable.
def failed_start(name, said, extra=(), **launch):
    """Trains one process with the launch variables `launch` (and options `extra`); checks that it fails at once (not
    after the rendezvous timeout) with a report whose error holds `said`."""
    results = os.path.join(d, name)
    t0 = time.time()
    p = subprocess.run([BIN, "train", *map(str, base), *extra, "--results", results], env=dict(os.environ, **launch),
                       capture_output=True, text=True, timeout=120)
    s = summary(results)
    validate(s)
    assert p.returncode == 1 and said in s["report"]["error"], (name, p.returncode, s["report"])
    assert time.time() - t0 < 60, name


failed_start("bad_port", "MASTER_PORT='abc' is not a TCP port", RANK="0", WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
             MASTER_PORT="abc")
# ... a rank that is no number leaves one too (no rank 0 can be counted on to write it)...
failed_start("bad_rank", "RANK='x'", RANK="x", WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()))
# ... a MASTER_ADDR that names no host is named when the timeout ends (not as a store that did
#     not answer)...
failed_start("no_host", "MASTER_ADDR='no such host' is no host", ["--dist-timeout", "3"], RANK="0", WORLD_SIZE="2", MASTER_ADDR="no such host",
             MASTER_PORT=str(free_port()))
# ... and so does --nproc under a launcher that already started the ranks.
failed_start("nested", "leave --nproc out", ["--nproc", "3"], RANK="0", WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
             MASTER_PORT=str(free_port()))
print("ok: all data-parallel checks")
