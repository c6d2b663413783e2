#!/usr/bin/env python3
"""The HEPscore entrypoint end to end, run as HEPscore runs it: `workload -W -w DIR args`
with an empty environment; the summary checked against the schema and HEPscore's needs.

usage: test_workload.py HEP_MLBENCH_BINARY
"""
import json
import os
import signal
import time

from common import generate, run, stat, stop_while_training, summary, validate, workdir

d = workdir("workload")
data = generate(os.path.join(d, "events.h5"), 20)
args = ["--data", data, "--preset", "tiny", "--epochs", 1, "--batch-size", 4, "--max-val-events", 4,
        "--warmup-steps", 1]
EMPTY_ENV = {}  # as under `singularity run -c -e`: no HOME, no PATH

# 1. One copy, as HEPscore runs it.
res = os.path.join(d, "run1")
os.makedirs(res)
run(["workload", "-W", "-w", res, "-t", 1, "-e", 8, *args, "--bucket-by-size"], env=EMPTY_ENV)  # `key: true`
s = summary(res)
validate(s)
for key in ("app", "run_info", "report"):
    assert key in s, key
assert s["report"]["log"] == "ok"
assert s["report"]["wl-scores"]["mlpf_train_events_per_s"] > 0
assert s["run_info"]["copies"] == 1 and s["run_info"]["threads_per_copy"] == 1
assert s["run_info"]["events_per_thread"] == 8
assert os.path.exists(os.path.join(res, "proc_0", "hep-mlbench.log"))
log = open(os.path.join(res, "proc_0", "hep-mlbench.log")).read()
assert log.count("hep-mlbench train, resolved configuration") == 1, "a copy's log repeats its lines"
assert log.count("summary") >= 1 and log.count("report: ") == 1
assert s["app"]["containment"] == s["report"]["copies"][0]["app"]["containment"]
acc = s["report"]["wl-stats"]["validation_accuracy"]
assert acc["count"] == 1 and acc["value"] == acc["avg"] == s["report"]["copies"][0]["report"]["wl-stats"]["validation_accuracy"]["value"]
assert s["context"]["system"]["logical_cores"] >= 1 or "system" in s["report"]["copies"][0]["context"]
assert s["report"]["copies"][0]["report"]["wl-stats"]["config"]["bucket-by-size"] is True
print("ok: one copy, score", s["report"]["wl-scores"])

# 2. Two copies: the score is the machine's total.
res2 = os.path.join(d, "run2")
# Each copy goes through a one-rank Gloo communicator: its data_parallel figures (timings) differ
# between the copies, so the merged report lists them, and the schema must take that.
run(["workload", "-W", "-w", res2, "-c", 2, "-t", 1, "-e", 8, "--mop", "all", *args, "--gpus", "cpu",
     "--dist-backend", "gloo"], env=EMPTY_ENV)
s2 = summary(res2)
validate(s2)
per_copy = [c["report"]["wl-scores"]["mlpf_train_events_per_s"] for c in s2["report"]["copies"]]
assert abs(sum(per_copy) - s2["report"]["wl-scores"]["mlpf_train_events_per_s"]) < 1e-9
assert not os.path.exists(os.path.join(res2, "proc_1", "final_weights.pt"))  # mopped up
assert os.path.exists(os.path.join(res2, "proc_1", "hep-mlbench.log"))      # logs kept
st = s2["report"]["wl-stats"]
assert st["throughput"]["count"] == 2 and abs(st["throughput"]["value"] - sum(per_copy)) < 1e-9
assert abs(st["throughput"]["min"] - min(per_copy)) < 1e-9 and abs(st["throughput"]["max"] - max(per_copy)) < 1e-9
assert st["step_time"]["count"] == 2 and st["validation_accuracy"]["count"] == 2
print("ok: two copies", per_copy)
# The merged report of two copies lists their configurations (their results folders differ):
# compare reads what the copies share (it used to fail on the list), here against itself.
merged = os.path.join(res2, "hep-mlbench_summary.json")
p = run(["compare", "--json", merged, merged], check=False)
assert p.returncode == 0, (p.returncode, p.stderr[-2000:])
rows = {r["what"]: r for r in json.loads(p.stdout)["rows"]}
assert rows["config seed"]["ok"] and rows["config seed"]["a"] not in ("-", "") and "[" not in rows["config seed"]["a"], rows["config seed"]
assert rows["reference_loss"]["ok"], rows["reference_loss"]
print("ok: compare reads a merged report")

# 3. A corrupt data file: ERROR in the summary, non-zero exit.
bad = os.path.join(d, "corrupt.h5")
with open(data, "rb") as f:
    head = f.read(100000)
with open(bad, "wb") as f:
    f.write(head)  # truncated
res3 = os.path.join(d, "run3")
p = run(["workload", "-W", "-w", res3, "-t", 1, *args, "--data", bad], env=EMPTY_ENV, check=False)
s3 = summary(res3)
validate(s3)
assert p.returncode != 0 and s3["report"]["log"] == "ERROR", (p.returncode, s3["report"])
assert "corrupt.h5" in s3["report"]["error"], s3["report"]["error"]
print("ok: corrupt file ->", s3["report"]["error"][:120])

# 4. A bad option value: ERROR summary, non-zero exit, the option named.
res4 = os.path.join(d, "run4")
p = run(["workload", "-W", "-w", res4, *args, "--precision", "fp8"], env=EMPTY_ENV, check=False)
s4 = summary(res4)
assert p.returncode != 0 and s4["report"]["log"] == "ERROR" and "--precision" in s4["report"]["error"]
print("ok: bad option ->", s4["report"]["error"])
# ... and without -W (a run of its own goes into a new hep-mlbench-<date-time> folder in -w), the
# failed start's report goes there too, not to the top of -w. Twice: a bad value, an unreadable line.
for n, bad_args in enumerate([["--precision", "fp8"], ["--no-such-option", 1]]):
    res4w = os.path.join(d, f"run4-no-W-{n}")
    p = run(["workload", "-w", res4w, *args, *bad_args], env=EMPTY_ENV, check=False)
    made = os.listdir(res4w)
    assert p.returncode != 0 and len(made) == 1 and made[0].startswith("hep-mlbench-"), (p.returncode, made)
    assert summary(os.path.join(res4w, made[0]))["report"]["log"] == "ERROR"
print("ok: without -W a failed start reports in", made[0])

# 4b. A command line that cannot be read (an unknown option, a value not allowed, a missing
#     value): HEPscore still finds a summary that says why, and a non-zero exit.
for n, bad_args in enumerate([["--no-such-option", 1], ["--mop", "some"], ["--epochs"]]):
    res4b = os.path.join(d, f"run4b-{n}")
    p = run(["workload", "-W", "-w", res4b, "-c", 2, "-t", 3, *args, *bad_args], env=EMPTY_ENV, check=False)
    s4b = summary(res4b)
    validate(s4b)
    assert p.returncode != 0 and s4b["report"]["log"] == "ERROR", (p.returncode, s4b["report"])
    assert s4b["report"]["error"].startswith("command line: ") and str(bad_args[0]) in s4b["report"]["error"], s4b["report"]
    assert s4b["run_info"]["copies"] == 2 and s4b["run_info"]["threads_per_copy"] == 3, s4b["run_info"]
    # ... in hep-mlbench's words, with where the options are listed, and the machine described.
    assert "hep-mlbench workload --help" in s4b["report"]["error"], s4b["report"]["error"]
    assert s4b["context"]["system"]["logical_cores"] >= 1, s4b["context"]
    print("ok: unreadable command line ->", s4b["report"]["error"])
assert "option --epochs needs a value" in s4b["report"]["error"], s4b["report"]["error"]

# 4c. No --data, and no event file where HMB_DATA (or the image's bundled sample) points: the
#     report names both ways to give one.
res4c = os.path.join(d, "run4c")
no_data = [a for i, a in enumerate(args) if a != "--data" and (i == 0 or args[i - 1] != "--data")]
p = run(["workload", "-W", "-w", res4c, "-t", 1, *no_data], env={"HMB_DATA": os.path.join(d, "gone.h5")}, check=False)
err = summary(res4c)["report"]["error"]
assert p.returncode != 0 and "gone.h5" in err and "--data" in err and "HMB_DATA" in err, (p.returncode, err)
print("ok: no event file ->", err[:120])

# 5. An unwritable results folder: said on stderr, exit 3, the failed run's summary on stdout.
for w in ("-W", None):
    p = run(["workload", *([w] if w else []), "-w", "/proc/hep-mlbench-results", *args], env=EMPTY_ENV, check=False)
    assert p.returncode == 3 and "/proc/hep-mlbench-results" in p.stderr, (w, p.returncode, p.stderr)
    s5 = json.loads(p.stdout)
    validate(s5)
    assert s5["report"]["log"] == "ERROR" and "/proc/hep-mlbench-results" in s5["report"]["error"], s5["report"]
print("ok: unwritable results folder")

# 6. A stop signal to the workload (docker stop, the end of a batch job) reaches the copies:
#    each stops cleanly, and the merged summary says the run was interrupted.
res6 = os.path.join(d, "run6")
os.makedirs(res6)
rc, output = stop_while_training(["workload", "-W", "-w", res6, "-c", 2, "-t", 1, *args, "--epochs", 50,
                                  "--log-every", 2],
                                 [os.path.join(res6, f"proc_{i}", "hep-mlbench.log") for i in (0, 1)], env=EMPTY_ENV)
s6 = summary(res6)
validate(s6)
assert rc == 128 + signal.SIGTERM, (rc, output)
assert s6["report"]["log"] == "ERROR" and "interrupted" in s6["report"]["error"], s6["report"]
assert all("interrupted" in c["report"]["error"] for c in s6["report"]["copies"]), s6["report"]["copies"]
print("ok: SIGTERM ->", s6["report"]["error"][:120])

# 6b. The workload killed outright (SIGKILL: the out-of-memory killer): its folder still has a
#     summary, the one written at the start that says it did not finish, and its copy, told by
#     the kernel (SIGTERM), stops after its current step and says so, instead of training on.
res6b = os.path.join(d, "run6b")
os.makedirs(res6b)
copy_log = os.path.join(res6b, "proc_0", "hep-mlbench.log")
rc, _ = stop_while_training(["workload", "-W", "-w", res6b, "-t", 1, *args, "--epochs", 50, "--log-every", 1],
                            [copy_log], env=EMPTY_ENV, sig=signal.SIGKILL)
deadline = time.time() + 60
while "report: " not in open(copy_log).read() and time.time() < deadline:
    time.sleep(0.2)
s6b = summary(res6b)
validate(s6b)
assert rc == -signal.SIGKILL, rc
assert s6b["report"]["log"] == "ERROR" and s6b["report"]["error"].startswith("the run did not finish"), s6b["report"]
c6b = summary(os.path.join(res6b, "proc_0"))
assert c6b["report"]["error"].startswith(f"interrupted: stopped by signal {signal.SIGTERM}"), c6b["report"]
print("ok: workload killed ->", s6b["report"]["error"][:60], "...; its copy:", c6b["report"]["error"][:50])

# 6c. -W into the folder of a run that succeeded, with a typo: the earlier run (summary and
#     copies) goes to previous/, and the failed start's report is alone at the top.
p = run(["workload", "-W", "-w", res, *args, "--no-such-option", 1], env=EMPTY_ENV, check=False)
assert p.returncode != 0 and summary(res)["report"]["log"] == "ERROR", p.returncode
assert summary(os.path.join(res, "previous"))["report"]["log"] == "ok"
assert os.path.isdir(os.path.join(res, "previous", "proc_0")) and not os.path.exists(os.path.join(res, "proc_0"))
print("ok: a typo into a good run's folder keeps it in previous/")
# ... and a failed run with two copies there, then a run with one: the second copy's folder of the
# failed run does not stand beside the new report.
p = run(["workload", "-W", "-w", res, "-c", 2, "-t", 1, *args, "--data", os.path.join(d, "gone.h5")], env=EMPTY_ENV,
        check=False)
assert p.returncode != 0 and os.path.isdir(os.path.join(res, "proc_1")), (p.returncode, os.listdir(res))
run(["workload", "-W", "-w", res, "-t", 1, "-e", 8, *args], env=EMPTY_ENV)
assert summary(res)["report"]["log"] == "ok" and not os.path.exists(os.path.join(res, "proc_1")), os.listdir(res)
# ... and -W again, starting from that run's own final weights, named in a --config file: they are
# read where they are (and copied to previous/ with the rest), not moved from under the copy.
weights = os.path.join(res, "proc_0", "final_weights.pt")
trained = summary(res)["report"]["copies"][0]["report"]["wl-stats"]["final_weights_checksum"]
cfg = os.path.join(d, "from_weights.yaml")
with open(cfg, "w") as f:
    f.write(f"init-weights: {weights}\n")
run(["workload", "-W", "-w", res, "-t", 1, "-e", 8, *args, f"--config={cfg}"], env=EMPTY_ENV)
again = summary(res)["report"]
assert again["log"] == "ok" and again["copies"][0]["report"]["wl-stats"]["initial_weights_checksum"] == trained, again
assert os.path.exists(os.path.join(res, "previous", "proc_0", "final_weights.pt"))

# 6d. Without -W, a run's folder is its own even when another run started in the same second
#     has that name: here the names of the next seconds are taken before it starts.
res6d = os.path.join(d, "run6d")
now = time.time()
taken = {time.strftime("hep-mlbench-%Y%m%d-%H%M%S", time.gmtime(now + k)) for k in range(0, 30)}
for name in taken:
    os.makedirs(os.path.join(res6d, name))
run(["workload", "-w", res6d, "-t", 1, *args], env=EMPTY_ENV)
made = [n for n in os.listdir(res6d) if n not in taken]
assert len(made) == 1 and made[0].endswith("-2") and summary(os.path.join(res6d, made[0]))["report"]["log"] == "ok", made
assert all(not os.listdir(os.path.join(res6d, n)) for n in taken), "a taken folder was written into"
print("ok: the same second's folder taken ->", made[0])

# 6e. -e times the threads past what a count holds: refused, naming -e (it became -2 before).
res6e = os.path.join(d, "run6e")
p = run(["workload", "-W", "-w", res6e, "-t", 2, "-e", 2**63 - 1, *args], env=EMPTY_ENV, check=False)
assert p.returncode != 0 and summary(res6e)["report"]["error"].startswith("option -e/--events"), summary(res6e)["report"]
print("ok: -e overflow ->", summary(res6e)["report"]["error"][:70])

# 6f. --ncores past what this machine's cores can run (4 threads per core): refused naming
#     --ncores, which the user gave, not the copies' --threads, which the workload derived.
res6f = os.path.join(d, "run6f")
p = run(["workload", "-W", "-w", res6f, "--ncores", 4 * os.cpu_count() + 1, *args], env=EMPTY_ENV, check=False)
error = summary(res6f)["report"]["error"]
assert p.returncode == 1 and error.startswith("option --ncores") and "--threads" not in error.split("(")[0], error
assert not os.path.exists(os.path.join(res6f, "proc_0")), "a copy was started"
print("ok: --ncores too large ->", error[:90])
# ... and so is -c past 4 copies per core: refused before any copy starts (each would have started).
p = run(["workload", "-W", "-w", res6f, "-c", 4 * os.cpu_count() + 1, *args], env=EMPTY_ENV, check=False)
error = summary(res6f)["report"]["error"]
assert p.returncode == 1 and error.startswith("option -c/--copies"), error
assert not [n for n in os.listdir(res6f) if n.startswith("proc_")], os.listdir(res6f)
print("ok: -c too large ->", error[:90])
# ... the last of two -c wins (as for train's options), and a count past an int is refused in
#     hep-mlbench's words, not the command-line library's "Could not convert".
p = run(["workload", "-W", "-w", res6f, "-c", 1, "-c", 4 * os.cpu_count() + 1, *args], env=EMPTY_ENV, check=False)
error = summary(res6f)["report"]["error"]
assert p.returncode == 1 and error.startswith("option -c/--copies"), error
p = run(["workload", "-W", "-w", res6f, "-c", 2**31, *args], env=EMPTY_ENV, check=False)
error = summary(res6f)["report"]["error"]
assert p.returncode != 0 and "'2147483648' is more than this option takes" in error and "convert" not in error, (p.returncode, error)
assert not [n for n in os.listdir(res6f) if n.startswith("proc_")], os.listdir(res6f)
print("ok: -c twice, -c past an int ->", error[:90])
# ... -e smaller than a batch: the copy's error says that -e set its --max-train-events.
res6g = os.path.join(d, "run6g")
p = run(["workload", "-W", "-w", res6g, "-t", 1, "-e", 1, *args], env=EMPTY_ENV, check=False)
error = summary(res6g)["report"]["error"]
assert p.returncode == 1 and "--max-train-events 1; under the workload, -e x threads" in error, error
print("ok: -e below one batch ->", error[:110])

# 6h. The workload's own flags are YAML keys of --config too (copies, threads, events, mop, ...);
#     the command line wins over the file; the copies get the file's training keys as options (a
#     copy's train would refuse 'copies'); a bad value names the file and the key.
wl_cfg = os.path.join(d, "workload.yaml")
with open(wl_cfg, "w") as f:
    f.write("copies: 2\nthreads: 1\nevents: 8\nmop: all\npreset: tiny\nepochs: 1\nbatch-size: 4\n"
            "max-val-events: 4\nwarmup-steps: 1\n")
res6h = os.path.join(d, "run6h")
run(["workload", "-W", "-w", res6h, "--data", data, "--config", wl_cfg], env=EMPTY_ENV)
s = summary(res6h)
assert s["report"]["log"] == "ok", s["report"]
ri = s["run_info"]
assert ri["copies"] == 2 and ri["threads_per_copy"] == 1 and ri["events_per_thread"] == 8, ri
assert "--config" not in ri["extra_arguments"] and "--preset tiny" in ri["extra_arguments"], ri
assert not os.path.exists(os.path.join(res6h, "proc_1", "final_weights.pt"))  # mop: all
run(["workload", "-W", "-w", res6h, "--data", data, "--config", wl_cfg, "-c", 1], env=EMPTY_ENV)
assert summary(res6h)["run_info"]["copies"] == 1
with open(wl_cfg, "w") as f:
    f.write("copies: 2147483648\n")
p = run(["workload", "-W", "-w", res6h, "--data", data, "--config", wl_cfg], env=EMPTY_ENV, check=False)
error = summary(res6h)["report"]["error"]
assert p.returncode == 1 and "option 'copies': '2147483648' is more than this option takes" in error, error
with open(wl_cfg, "w") as f:
    f.write("ncores: -3\n")
p = run(["workload", "-W", "-w", res6h, "--data", data, "--config", wl_cfg], env=EMPTY_ENV, check=False)
error = summary(res6h)["report"]["error"]
assert p.returncode == 1 and wl_cfg in error and "option 'ncores'" in error, error
print("ok: workload keys in --config:", ri["extra_arguments"])

# 7. --help works and exits 0.
p = run(["workload", "--help"])
assert "--copies" in p.stdout and "--resultsdir" in p.stdout
print("test_workload: all passed")
