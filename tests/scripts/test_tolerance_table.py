#!/usr/bin/env python3
"""scripts/tolerance_table.py on made-up ensembles (runs/<member>/member.json and
hep-mlbench_summary.json, as scripts/measure_tolerance.sh writes them): a table from a good
ensemble, strict JSON; bad input (a missing folder, no runs/, a member.json that is not JSON, a
summary without its report, an ensemble without base, an output that cannot be written) is one
line naming it and exit status 1, with nothing written: no new output, no earlier output
replaced, no temporary left.

usage: test_tolerance_table.py
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import script_checks  # noqa: E402
from script_checks import strict  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "tolerance_table.py")


def summary(acc, loss, ref):
    return {"report": {"log": "ok", "wl-stats": {
        "device": "cpu", "threads": 1,
        "config": {"preset": "tiny", "batch-size": 4, "epochs": 2, "lr": 1e-3, "seed": 42,
                   "max-train-events": 0, "max-val-events": 0},
        "epochs": [{"epoch": 1, "steps": 12}, {"epoch": 2, "steps": 12}],
        "validation_events": {"value": 13.0, "unit": "events"},
        "validation_accuracy": {"value": acc, "unit": "fraction"},
        "validation_accuracy_particles": {"value": acc + 0.1, "unit": "fraction"},
        "validation_loss": {"value": loss, "unit": "1"},
        "reference_step": {"losses": ref, "grad_norms": [r * 10 for r in ref]},
    }}}


MEMBERS = {  # name: kind, accuracy, loss, reference losses
    "base": ("perturbation", 0.50, 1.00, [2.0, 1.5]),
    "threads2": ("perturbation", 0.51, 1.01, [2.0, 1.500001]),
    "kernels-scalar": ("perturbation", 0.49, 0.99, [2.0, 1.499999]),
    "seed+1": ("seed", 0.40, 1.20, [2.1, 1.7]),
    "fault-scale": ("fault", 0.45, 1.10, [2.2, 1.6]),
}


def ensemble(d, members=MEMBERS):
    for name, (kind, acc, loss, ref) in members.items():
        run = os.path.join(d, "runs", name)
        os.makedirs(run)
        with open(os.path.join(run, "member.json"), "w") as f:
            json.dump({"name": name, "kind": kind, "env": "", "options": "--threads 1", "seconds": 1}, f)
        with open(os.path.join(run, "hep-mlbench_summary.json"), "w") as f:
            json.dump(summary(acc, loss, ref), f)
    return d


def table(outdir, *dirs, markdown=None, ensemble_out=None):
    args = [sys.executable, SCRIPT, "--version", "tol-test", "--table", os.path.join(outdir, "table.json"),
            "--markdown", markdown or os.path.join(outdir, "table.md"),
            "--ensemble-out", ensemble_out or os.path.join(outdir, "ensemble.json"), *dirs]
    return subprocess.run(args, capture_output=True, text=True)


def refused(out, *names):
    script_checks.refused(out, 1, "tolerance_table: ", *names)


def contents(d):
    return {n: open(os.path.join(d, n)).read() for n in sorted(os.listdir(d))}


with tempfile.TemporaryDirectory() as d:
    good = ensemble(os.path.join(d, "good"))
    # two perturbations and base, no seed: seed_max not measured, null in ensemble.json
    noseed = ensemble(os.path.join(d, "noseed"), {k: v for k, v in MEMBERS.items() if v[0] == "perturbation"})
    out = os.path.join(d, "out")
    os.mkdir(out)
    p = table(out, good, noseed)
    assert p.returncode == 0, p
    t = strict(os.path.join(out, "table.json"))
    assert t["version"] == "tol-test" and len(t["workloads"]) == 2, t
    assert t["metrics"]["validation_accuracy"]["runs"] == 6 and t["metrics"]["reference_loss"]["tolerance"] >= 1e-5, t
    e = strict(os.path.join(out, "ensemble.json"))
    assert e["ensembles"][1]["figures"]["validation_loss"]["seed_max"] is None, e["ensembles"][1]
    assert "| fault-scale | fault |" in open(os.path.join(out, "table.md")).read()
    assert sorted(os.listdir(out)) == ["ensemble.json", "table.json", "table.md"], os.listdir(out)
    before = contents(out)
    print("tolerance_table good ensembles: ok")

    # an ensemble without base: refused before anything is written (it used to crash in the
    # markdown step, after table.json was written)
    nobase = ensemble(os.path.join(d, "nobase"), {k: v for k, v in MEMBERS.items() if k != "base"})
    fresh = os.path.join(d, "fresh")
    os.mkdir(fresh)
    refused(table(fresh, good, nobase), "no base member", nobase)
    assert os.listdir(fresh) == [], os.listdir(fresh)
    refused(table(out, nobase), "no base member")
    assert contents(out) == before

    # bad input, named
    refused(table(fresh, os.path.join(d, "nosuch")), os.path.join(d, "nosuch"), "no such folder")
    norun = os.path.join(d, "norun")
    os.mkdir(norun)
    refused(table(fresh, norun), norun, "runs")
    badm = ensemble(os.path.join(d, "badm"))
    with open(os.path.join(badm, "runs", "threads2", "member.json"), "w") as f:
        f.write("not json")
    refused(table(fresh, badm), os.path.join(badm, "runs", "threads2", "member.json"), "not valid JSON")
    norep = ensemble(os.path.join(d, "norep"))
    with open(os.path.join(norep, "runs", "base", "hep-mlbench_summary.json"), "w") as f:
        f.write("{}")
    refused(table(fresh, norep), os.path.join(norep, "runs", "base", "hep-mlbench_summary.json"), "report")
    assert os.listdir(fresh) == [], os.listdir(fresh)
    print("tolerance_table bad input: ok")

    # outputs that cannot be written: found before anything is written; the earlier outputs
    # stay as they were (no new table.json beside an old table.md), no temporaries left
    refused(table(out, good, markdown=os.path.join(d, "nodir", "t.md")), "--markdown", "nodir")
    assert contents(out) == before
    refused(table(out, good, ensemble_out=os.path.join(d, "nodir", "e.json")), "--ensemble-out", "nodir")
    assert contents(out) == before
    refused(table(out, good, markdown=out), "--markdown", "folder")
    assert contents(out) == before
    refused(table(out, good, markdown=os.path.join(out, "table.json")), "same file")
    assert contents(out) == before
    # a failure while writing (the markdown's temporary name taken by a folder): nothing replaced
    os.mkdir(os.path.join(out, "table.md.tmp"))
    refused(table(out, good), "table.md")
    os.rmdir(os.path.join(out, "table.md.tmp"))
    assert contents(out) == before
    print("tolerance_table unwritable outputs: ok")
