#!/usr/bin/env python3
"""How well the hardware is used, end to end on the CPU: the report of a CPU run holds the
measured CPU peak, model FLOP/s, MFU, CPU utilisation and data-wait fraction; every GPU figure
(hardware counters too, though --gpu-counters asks for them) is absent with the reason "no GPU"; --trace writes a Chrome trace of the timed steps.

usage: test_utilisation.py HEP_MLBENCH_BINARY
"""
import json
import os
import signal

from common import generate, run, stop_while_training, summary, validate, workdir

d = workdir("util")
data = generate(os.path.join(d, "events.h5"), 24)
out = os.path.join(d, "run")
trace = os.path.join(d, "trace.json")
run(["train", "--data", data, "--preset", "tiny", "--batch-size", 4, "--threads", 1, "--epochs", 1,
     "--max-train-events", 16, "--max-val-events", 4, "--warmup-steps", 1, "--gpus", "cpu",
     "--trace", trace, "--trace-steps", 2, "--gpu-counters", "true", "--results", out])
s = summary(out)
validate(s)
st = s["report"]["wl-stats"]


def value(key):
    f = st[key]
    assert isinstance(f, dict) and "value" in f and "unit" in f, (key, f)
    return f["value"]


# CPU figures, always there on a CPU run
peak = st["peak_flop_per_s"]
assert peak["unit"] == "FLOP/s" and peak["value"] > 1e8, peak          # at least 0.1 GFLOP/s
assert peak["source"].startswith("measured: float32 matrix product"), peak
assert value("model_flop_per_s") > 0
mfu = value("mfu")
assert 0 < mfu < 1, mfu
assert abs(mfu - value("model_flop_per_s") / peak["value"]) < 1e-9 * max(1, mfu)
assert st["mfu"]["unit"] == "fraction"
assert 0 < value("cpu_utilisation") <= 1.05, st["cpu_utilisation"]     # getrusage ticks: a little slack
assert value("cpu_busy_cores") > 0
assert 0 <= value("data_wait_fraction") < 1
print(f"ok: CPU peak {peak['value'] / 1e9:.1f} GFLOP/s, model {value('model_flop_per_s') / 1e9:.2f} GFLOP/s, "
      f"MFU {100 * mfu:.2f}%, CPU utilisation {100 * value('cpu_utilisation'):.0f}%, "
      f"data wait {100 * value('data_wait_fraction'):.1f}%")

# GPU figures: absent, with the reason
for key in ("gpu_busy_fraction", "gpu_compute_time", "gpu_communication_time", "gpu_copy_time", "gpu_kernels",
            "gpu_achieved_flop_per_s", "gpu_achieved_fraction_of_peak", "model_to_measured_flop",
            "gpu_counted_flop", "gpu_counted_fp32_flop", "gpu_counted_half_flop", "gpu_counted_tensor_flop",
            "gpu_counter_time", "gpu_memory_used_peak", "gpu_energy",
            "gpu_mean_power", "gpu_max_power", "gpu_sm_clock", "gpu_temperature_max", "events_per_joule"):
    f = st[key]
    assert f["value"] is None and f["reason"] == "no GPU" and f["unit"], (key, f)
assert st["gpu_top_kernels"] == []
assert st["gpu_counter_sample"]["metrics"] == {} and st["gpu_counter_sample"]["passes"] == 0, st["gpu_counter_sample"]
print("ok: GPU figures absent with reason 'no GPU'")

# The trace: two timed steps of host phases, readable as Chrome-trace JSON
with open(trace) as f:
    t = json.load(f)
bars = [e for e in t["traceEvents"] if e["ph"] == "X"]
steps = [e for e in bars if e["cat"] == "step"]
phases = {e["name"] for e in bars if e["cat"] == "phase"}
assert len(steps) == 2, steps
assert {"data wait", "forward", "backward", "optimiser"} <= phases, phases
assert all(e["dur"] >= 0 and e["ts"] >= 0 for e in bars)
print(f"ok: trace with {len(steps)} steps and phases {sorted(phases)}")

# report.html shows the figures
html = open(os.path.join(out, "report.html")).read()
assert "MFU" in html and "CPU utilisation" in html and "no GPU" in html
print("ok: report.html shows the utilisation figures")

# A trace into a folder that does not exist is refused before training, with the option named
p = run(["train", "--data", data, "--preset", "tiny", "--gpus", "cpu", "--results", os.path.join(d, "bad"),
         "--trace", os.path.join(d, "no", "such", "trace.json")], check=False)
assert p.returncode != 0 and "option --trace" in (p.stdout + p.stderr), p.stdout + p.stderr
print("ok: --trace into a missing folder is refused")

# ... and so is a trace over the run's own input or one of the files it writes: the trace,
#     written last, used to replace the event file or the resolved configuration (exit 0).
for where, said in ((data, "the file of --data"), (os.path.join(d, "own", "config.yaml"), "a file the run writes")):
    before = open(data, "rb").read()
    p = run(["train", "--data", data, "--preset", "tiny", "--gpus", "cpu", "--results", os.path.join(d, "own"),
             "--trace", where], check=False)
    error = summary(os.path.join(d, "own"))["report"]["error"]
    assert p.returncode == 1 and error.startswith("option --trace") and said in error, (p.returncode, error)
    assert open(data, "rb").read() == before
# ... and so is, for a sweep, a file or folder of one of its batch sizes' runs.
for where in ("sweep/bs2/hep-mlbench_summary.json", "sweep/bs4"):
    p = run(["sweep", "--data", data, "--preset", "tiny", "--gpus", "cpu", "--batch-sizes", "2,4",
             "--results", os.path.join(d, "sweep"), "--trace", os.path.join(d, where)], check=False)
    error = summary(os.path.join(d, "sweep"))["report"]["error"]
    assert p.returncode == 1 and error.startswith("option --trace"), (where, p.returncode, error)
    assert not os.path.exists(os.path.join(d, "sweep", "bs2", "steps.csv"))  # nothing trained
print("ok: --trace over the event file, the run's config.yaml or a sweep run's files is refused")

# A warm-up that ends with an epoch: the trace goes on after the validation pause (it used to
# stop there and hold no step).
across = os.path.join(d, "across.json")
run(["train", "--data", data, "--preset", "tiny", "--batch-size", 4, "--threads", 1, "--epochs", 2,
     "--max-train-events", 16, "--max-val-events", 4, "--warmup-steps", 4, "--gpus", "cpu",
     "--trace", across, "--trace-steps", 2, "--results", os.path.join(d, "across")])
with open(across) as f:
    steps_traced = [e for e in json.load(f)["traceEvents"] if e.get("cat") == "step"]
assert len(steps_traced) == 2, steps_traced
print("ok: a trace whose warm-up ends with an epoch holds its steps")

# A run stopped before its first timed step leaves an earlier trace at that path as it was (it
# used to replace it with an empty one).
kept = os.path.join(d, "kept.json")
with open(kept, "w") as f:
    f.write('{"traceEvents": ["an earlier run"]}\n')
rc, output = stop_while_training(["train", "--data", data, "--preset", "tiny", "--batch-size", 4, "--threads", 1,
                                  "--epochs", 50, "--warmup-steps", 150, "--log-every", 1, "--gpus", "cpu",
                                  "--results", os.path.join(d, "stopped"), "--trace", kept],
                                 [os.path.join(d, "stopped", "hep-mlbench.log")], sig=signal.SIGINT)
assert rc == 130, (rc, output[-600:])
assert open(kept).read() == '{"traceEvents": ["an earlier run"]}\n'
assert "no timed step was traced" in open(os.path.join(d, "stopped", "hep-mlbench.log")).read()
print("ok: a run stopped in its warm-up leaves an earlier trace alone")
