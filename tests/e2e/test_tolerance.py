#!/usr/bin/env python3
"""compare's tolerances against the benchmark's own numerical spread (docs/tolerances.md): a
small ensemble of the tiny preset (scripts/measure_tolerance.sh --quick) under legitimate
perturbations (2 threads, LibTorch's scalar kernels instead of AVX2, MKL generic code path) passes `compare` with the built-in table and with the
table it measures itself; a deliberately wrong run (one weight matrix scaled by 1.01 at start,
HMB_TEST_FAULT) fails it on the reference step; a report without a reference step is refused.

usage: test_tolerance.py HEP_MLBENCH_BINARY
"""
import json
import os
import subprocess
import time

from common import BIN, SOURCE, generate, run, summary, workdir

d = workdir("tolerance")
data = generate(os.path.join(d, "events.h5"), 24, seed=11, threads=1)
out = os.path.join(d, "ensemble")
train = ["--preset", "tiny", "--batch-size", "4", "--epochs", "2", "--lr", "1e-3",
         "--max-train-events", "12", "--max-val-events", "6", "--warmup-steps", "1"]
start = time.time()
p = subprocess.run([os.path.join(SOURCE, "scripts", "measure_tolerance.sh"), "--out", out, "--data", data,
                    "--quick", "--version", "tol-ci", "--", *train],
                   env=dict(os.environ, HMB_BIN=BIN), capture_output=True, text=True, timeout=600)
print(p.stdout[-3000:])
assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
print(f"ensemble: {time.time() - start:.0f} s")

# The script's own verdicts, with the table it measured.
checks = open(os.path.join(out, "checks.txt")).read()
for member in ("threads2", "kernels-scalar", "mkl-compatible"):
    assert f"{member} (perturbation): passes" in checks, checks
assert "fault-scale (fault): caught" in checks, checks
table = json.load(open(os.path.join(out, "table.json")))
assert table["version"] == "tol-ci" and set(table["metrics"]) >= {"validation_accuracy", "reference_loss"}
assert os.path.getsize(os.path.join(out, "table.md")) > 0

# An earlier table whose runs are not at hand (another machine's) is taken in by its spreads: no
# tolerance comes out narrower than either table's rule gives, the runs and workloads add up.
import sys
builtin = os.path.join(SOURCE, "src", "report", "tolerances.json")
merged_path = os.path.join(d, "merged.json")
p = subprocess.run([sys.executable, os.path.join(SOURCE, "scripts", "tolerance_table.py"), "--version", "tol-merged",
                    "--merge-table", builtin, "--table", merged_path, "--markdown", os.path.join(d, "merged.md"), out],
                   capture_output=True, text=True)
assert p.returncode == 0, p.stdout + p.stderr
merged, old = json.load(open(merged_path)), json.load(open(builtin))
for key, m in merged["metrics"].items():
    assert m["tolerance"] >= max(old["metrics"][key]["tolerance"], table["metrics"][key]["tolerance"]), (key, m)
    assert m["runs"] == old["metrics"][key]["runs"] + table["metrics"][key]["runs"], (key, m)
    assert m["spread_max"] == max(old["metrics"][key]["spread_max"], table["metrics"][key]["spread_max"]), (key, m)
assert len(merged["workloads"]) == len(table["workloads"]) + len(old["workloads"])
assert merged["merged_table"]["version"] == old["version"]
assert f"Taken in from table {old['version']}" in open(os.path.join(d, "merged.md")).read()
assert run(["compare", "--tolerances", merged_path, os.path.join(out, "runs", "base", "hep-mlbench_summary.json"),
            os.path.join(out, "runs", "threads2", "hep-mlbench_summary.json")]).returncode == 0
p = subprocess.run([sys.executable, os.path.join(SOURCE, "scripts", "tolerance_table.py"), "--merge-table",
                    os.path.join(out, "table.md"), "--table", os.path.join(d, "x.json"), "--markdown",
                    os.path.join(d, "x.md"), out], capture_output=True, text=True)
assert p.returncode != 0 and "--merge-table" in p.stderr and "table.md" in p.stderr, p.stderr

# The perturbations really perturb: the members' reference losses are not all bit-identical,
# else the ensemble measured nothing. (On these small PU20 events, 2 threads and MKL's generic
# path may round as the base does; the scalar kernels do not.)
runs = os.path.join(out, "runs")
ref = {m: summary(os.path.join(runs, m))["report"]["wl-stats"]["reference_step"]["losses"]
       for m in ("base", "threads2", "kernels-scalar", "mkl-compatible", "fault-scale")}
assert any(ref["base"] != ref[m] for m in ("threads2", "kernels-scalar", "mkl-compatible")), ref

# Another vector width (scalar kernels, as on a CPU without AVX2's code path) starts from the
# same initial weights: the seeded initialisation does not depend on LibTorch's kernels.
init = {m: summary(os.path.join(runs, m))["report"]["wl-stats"]["initial_weights_checksum"]
        for m in ("base", "kernels-scalar", "threads2")}
assert len(set(init.values())) == 1, init
# ... and the report says which kernel build each ran: LibTorch's own choice for base (what
# torch in this environment reports too), the scalar build for kernels-scalar; compare shows
# both, unjudged.
kernels = {m: summary(os.path.join(runs, m))["report"]["wl-stats"]["cpu_kernels"] for m in ("base", "kernels-scalar")}
import torch
assert kernels["base"] == torch.backends.cpu.get_cpu_capability(), kernels
assert kernels["kernels-scalar"] in ("NO AVX", "DEFAULT"), kernels
c = run(["compare", "--json", os.path.join(runs, "base", "hep-mlbench_summary.json"),
         os.path.join(runs, "kernels-scalar", "hep-mlbench_summary.json")])
shown = {r["what"]: (r["a"], r["b"]) for r in json.loads(c.stdout)["rows"] if r["checked"] is False}
assert shown["ran on: cpu_kernels"] == (kernels["base"], kernels["kernels-scalar"]), shown

# With the built-in table (compare's defaults): perturbations pass, the fault fails on the
# reference step, and the output names the table and the measured spread of each tolerance.
base = os.path.join(runs, "base", "hep-mlbench_summary.json")
for member in ("threads2", "kernels-scalar", "mkl-compatible"):
    c = run(["compare", base, os.path.join(runs, member, "hep-mlbench_summary.json")], check=False)
    assert c.returncode == 0, c.stdout
    assert "# tolerance table: tol-" in c.stdout and "measured: largest difference" in c.stdout, c.stdout
fault_summary = os.path.join(runs, "fault-scale", "hep-mlbench_summary.json")
c = run(["compare", base, fault_summary], check=False)
assert c.returncode == 1, c.stdout
bad = [line.split()[0] for line in c.stdout.splitlines() if line.rstrip().endswith("DIFFERS") or " DIFFERS " in line]
assert "reference_loss" in bad, c.stdout
assert any("deliberately wrong" in w for w in summary(os.path.join(runs, "fault-scale"))["report"]["wl-stats"]["warnings"])
j = json.loads(run(["compare", "--json", base, fault_summary], check=False).stdout)
assert j["ok"] is False and j["tolerance_table"].startswith("tol-"), j
print("ok: perturbations pass, the fault is caught by", bad)

# A report without a reference step cannot pass.
old = json.load(open(base))
del old["report"]["wl-stats"]["reference_step"]
path = os.path.join(d, "old.json")
json.dump(old, open(path, "w"))
assert run(["compare", base, path], check=False).returncode == 1
print("test_tolerance: all passed")
