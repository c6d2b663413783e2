#!/usr/bin/env python3
"""The tolerance table of `hep-mlbench compare` from ensembles of perturbed runs.

usage: tolerance_table.py [--version V] [--ensemble-out E.json] [--merge-table OLD.json]
                          --table T.json --markdown T.md DIR...

Each DIR is an output folder of scripts/measure_tolerance.sh: DIR/runs/<member>/ holds a run's
hep-mlbench_summary.json and member.json (its kind: perturbation, seed or fault). For every
compared figure, over the perturbation members of each ensemble:
  sd        the standard deviation of one run's value (relative figures: divided by the mean)
  max       the largest difference between two members
and over the seed members and base, the largest difference: an upper bound, not a tolerance.
The tolerance of a figure (all ensembles together) is
  max(4 * sqrt(2) * sd, 1.25 * max, floor), rounded up to 1, 2 or 5 x 10^n
4 standard deviations of the difference of two runs (each run carries sd, their difference
sqrt(2) sd), never below what was seen, and never below the floor: for the reference step,
1e-5 relative, room for the rounding of float32 sums in an order a CPU ensemble cannot show (a
GPU's reductions over a batch), about a hundred times below what a weight matrix scaled by 1.01
does to it.
--merge-table OLD.json takes in an earlier table whose ensembles' runs are not at hand (measured
on another machine): its per-figure sd and largest difference count as one more ensemble's (the
rule only uses the largest of each), its runs and workloads are added, so that a new table never
narrows a tolerance another machine's runs needed.
Bad input (a DIR that is not such a folder, a member.json or summary that is not what
measure_tolerance.sh writes, an ensemble without its base member, an output that cannot be
written) is one line naming it and exit status 1, before anything is written: the outputs are
written together at the end, each to a temporary name in its folder and then renamed.
Standard library only.
"""
import argparse
import datetime
import itertools
import json
import math
import os
import statistics
import sys

from script_output import nan_to_null, write_together  # beside this script

METRICS = [  # key, kind, how to read it from wl-stats, floor
    ("validation_accuracy", "absolute", 0.0),
    ("validation_accuracy_particles", "absolute", 0.0),
    ("validation_loss", "relative", 0.0),
    ("reference_loss", "relative", 1e-5),
    ("reference_grad_norm", "relative", 1e-5),
]


def values(stats, key):
    """A list of numbers per run: one for validation figures, one per step for the reference step."""
    if key.startswith("reference_"):
        ref = stats.get("reference_step") or {}
        return list(ref.get("losses" if key == "reference_loss" else "grad_norms", []))
    v = stats.get(key)
    return [v["value"] if isinstance(v, dict) else v]


def spread(runs, relative):
    """runs: list of equal-length lists. Returns (sd, largest pairwise difference), the largest
    over positions; relative figures divided by the position's mean magnitude."""
    sd = mx = 0.0
    for column in zip(*runs):
        scale = abs(statistics.fmean(column)) if relative else 1.0
        scale = scale or 1.0
        col = [c / scale for c in column]
        if len(col) >= 2:
            sd = max(sd, statistics.stdev(col))
        mx = max([mx] + [abs(a - b) for a, b in itertools.combinations(col, 2)])
    return sd, mx


def round_up(x):
    if x <= 0:
        return 0.0
    e = math.floor(math.log10(x))
    for m in (1, 2, 5, 10):
        if m * 10 ** e >= x * (1 - 1e-12):
            return float(f"{m * 10 ** e:.3g}")
    return float(f"{10 ** (e + 1):.3g}")


class TableError(Exception):
    """Bad input or an output that cannot be written: main prints `tolerance_table: <message>`
    and exits 1 (this script's status for refused input), with nothing written."""


KINDS = ("perturbation", "seed", "fault")


def read_json(path, what):
    try:
        with open(path) as f:
            return json.load(f)
    except OSError as e:
        raise TableError(f"cannot read {path}: {e.strerror}")
    except (ValueError, UnicodeDecodeError) as e:
        raise TableError(f"{path} is not valid JSON ({e}): not {what}")


def figure_values(st, key, spath):
    """values() of one figure, each a finite number: a spread over a NaN would be NaN, and a
    tolerance from it meaningless. An absent figure (an older report) is an empty list."""
    try:
        vals = [v for v in values(st, key) if v is not None]
    except (AttributeError, TypeError, KeyError):
        raise TableError(f"{spath}: its {key} is not a figure of a hep-mlbench report")
    for v in vals:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise TableError(f"{spath}: its {key} holds {v!r}, not a finite number: "
                             "remeasure that member (its run went wrong)")
    return vals


def load(dir_):
    """One ensemble, every member checked as measure_tolerance.sh writes it, and refused without
    its base member: base gives the table its workload and is what seeds and faults are
    measured from."""
    runs = os.path.join(dir_, "runs")
    if not os.path.isdir(dir_):
        raise TableError(f"{dir_}: no such folder (give the --out folder of scripts/measure_tolerance.sh)")
    if not os.path.isdir(runs):
        raise TableError(f"{dir_}: no {runs} in it: not an output folder of scripts/measure_tolerance.sh")
    members = []
    base_stats = None
    for name in sorted(os.listdir(runs)):
        mpath = os.path.join(runs, name, "member.json")
        spath = os.path.join(runs, name, "hep-mlbench_summary.json")
        if not (os.path.isfile(mpath) and os.path.isfile(spath)):
            continue
        m = read_json(mpath, "a member.json of scripts/measure_tolerance.sh")
        if not isinstance(m, dict) or not isinstance(m.get("name"), str) or m.get("kind") not in KINDS \
                or not all(isinstance(m.get(k, ""), str) for k in ("env", "options")):
            raise TableError(f"{mpath} is not a member.json of scripts/measure_tolerance.sh: it needs "
                             f"'name', 'kind' ({', '.join(KINDS)}) and, if any, 'env' and 'options' as text")
        s = read_json(spath, "a hep-mlbench report")
        rep = s.get("report") if isinstance(s, dict) else None
        if not isinstance(rep, dict):
            raise TableError(f"{spath} is not a hep-mlbench report: no 'report' object in it")
        if rep.get("log") != "ok":
            raise TableError(f"{spath} is of a failed run")
        st = rep.get("wl-stats")
        if not isinstance(st, dict):
            raise TableError(f"{spath} is not a hep-mlbench report: no 'wl-stats' object in its report")
        m["figures"] = {key: figure_values(st, key, spath) for key, _, _ in METRICS}
        m["device"] = st.get("device")
        m["threads"] = st.get("threads")
        members.append(m)
        if m["name"] == "base":
            base_stats = st
    if not members:
        raise TableError(f"{runs}: no measured member in it (<member>/member.json with "
                         "hep-mlbench_summary.json): not a finished ensemble of scripts/measure_tolerance.sh")
    if base_stats is None:
        raise TableError(f"{dir_}: no base member ({os.path.join(runs, 'base')} with member.json and "
                         "hep-mlbench_summary.json): measure it (scripts/measure_tolerance.sh --members base,...)")
    st = base_stats
    c = st.get("config") if isinstance(st.get("config"), dict) else {}
    cfg = {k: c.get(k) for k in ("preset", "batch-size", "epochs", "lr", "seed", "max-train-events",
                                 "max-val-events")}
    epochs = st.get("epochs") if isinstance(st.get("epochs"), list) else []
    cfg["training_steps"] = len(epochs) and sum(e.get("steps") or 0 for e in epochs if isinstance(e, dict))
    ve = st.get("validation_events")
    cfg["validation_events"] = ve.get("value") if isinstance(ve, dict) else ve
    return {"dir": dir_, "workload": cfg, "members": members}


def check_outputs(paths):
    """Each output's folder must exist, and no output may be a folder or name another's file:
    found before anything is measured or written."""
    seen = {}
    for opt, path in paths:
        real = os.path.realpath(path)
        if real in seen:
            raise TableError(f"{opt} and {seen[real]} are the same file ({path}): give each its own")
        seen[real] = opt
        folder = os.path.dirname(path) or "."
        if os.path.isdir(path):
            raise TableError(f"{opt} {path} is a folder: give a file name")
        if not os.path.isdir(folder):
            raise TableError(f"{opt} {path}: no folder {folder}: create it first")
        if not os.access(folder, os.W_OK):
            raise TableError(f"{opt} {path}: cannot write in {folder}")


def write_all(files):
    """Writes every (path, text) whole and together (script_output.py)."""
    try:
        write_together(files)
    except OSError as e:
        raise TableError(f"cannot write {e.filename or files[0][0]}: {e.strerror}")


def fmt_g(x):
    return f"{x:g}" if isinstance(x, (int, float)) else "-"


def main():
    try:
        build()
    except TableError as e:
        sys.exit(f"tolerance_table: {e}")


def build():
    ap = argparse.ArgumentParser()
    ap.add_argument("dirs", nargs="+")
    ap.add_argument("--version", default="tol-measured")
    ap.add_argument("--table", required=True)
    ap.add_argument("--markdown", required=True)
    ap.add_argument("--ensemble-out")
    ap.add_argument("--merge-table", help="an earlier table (compare's format) whose spreads are taken in")
    a = ap.parse_args()
    check_outputs([("--table", a.table), ("--markdown", a.markdown)] +
                  ([("--ensemble-out", a.ensemble_out)] if a.ensemble_out else []))
    old = None  # the earlier table, and its spreads as rows of one more ensemble
    if a.merge_table:
        try:
            with open(a.merge_table) as f:
                old = json.load(f)
            old_rows = {key: {"sd": float(m["spread_sd"]), "max": float(m["spread_max"]), "runs": int(m["runs"]),
                              "ensembles": int(m.get("ensembles", 1))}
                        for key, m in ((key, old["metrics"][key]) for key, _, _ in METRICS)}
            if not all(math.isfinite(r["sd"]) and math.isfinite(r["max"]) for r in old_rows.values()):
                raise ValueError("a spread that is not a finite number")
            if not isinstance(old.get("workloads", []), list):
                raise ValueError("'workloads' is not a list")
        except (OSError, ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as e:
            raise TableError(f"--merge-table {a.merge_table}: not a tolerance table with measured spreads ({e})")

    ensembles = [load(d) for d in a.dirs]
    metrics = {}
    per_ensemble = []
    for ens in ensembles:
        row = {"workload": ens["workload"], "members": {}, "figures": {}}
        pert = [m for m in ens["members"] if m["kind"] == "perturbation"]
        base = next((m for m in ens["members"] if m["name"] == "base"), None)
        for m in ens["members"]:
            row["members"][m["name"]] = {"kind": m["kind"], "env": m.get("env", ""), "options": m.get("options", ""),
                                         "seconds": m.get("seconds"), "figures": m["figures"]}
        for key, kind, _ in METRICS:
            runs = [m["figures"][key] for m in pert if m["figures"][key]]
            if len({len(r) for r in runs}) > 1:
                raise TableError(f"{key}: the members of {ens['dir']} have different lengths")
            sd, mx = spread(runs, kind == "relative") if len(runs) >= 2 else (float("nan"), float("nan"))
            seeds = [m["figures"][key] for m in ens["members"] if m["kind"] == "seed" and m["figures"][key]]
            seed_max = max((spread([base["figures"][key], s], kind == "relative")[1] for s in seeds),
                           default=float("nan")) if base and base["figures"][key] else float("nan")
            faults = {m["name"]: spread([base["figures"][key], m["figures"][key]], kind == "relative")[1]
                      for m in ens["members"] if m["kind"] == "fault" and base and m["figures"][key]}
            row["figures"][key] = {"sd": sd, "max": mx, "runs": len(runs), "seed_max": seed_max,
                                   "fault_differences": faults}
        per_ensemble.append(row)

    for key, kind, floor in METRICS:
        rows = [r["figures"][key] for r in per_ensemble if r["figures"][key]["runs"] >= 2]
        if old:
            rows.append(old_rows[key])
        if not rows:
            raise TableError(f"no ensemble has two perturbation runs with {key}")
        sd = max(r["sd"] for r in rows)
        mx = max(r["max"] for r in rows)
        tol = round_up(max(4 * math.sqrt(2) * sd, 1.25 * mx, floor))
        metrics[key] = {"kind": kind, "tolerance": tol, "spread_sd": sd, "spread_max": mx,
                        "runs": sum(r["runs"] for r in rows), "ensembles": sum(r.get("ensembles", 1) for r in rows),
                        "rule": "max(4*sqrt(2)*sd, 1.25*max, floor) rounded up to 1/2/5 x 10^n",
                        "floor": floor}

    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    table = {
        "version": a.version,
        "date": date,
        "how": "scripts/measure_tolerance.sh: the same workload (binary, sample, seed, options) under "
               "legitimate numerical perturbations (thread counts, LibTorch's scalar, AVX2 and AVX-512 kernels, "
               "MKL's generic code path, denormals kept or flushed, a GPU where present); seeds only as an "
               "upper bound",
        "workloads": [r["workload"] for r in per_ensemble] + (old.get("workloads", []) if old else []),
        "metrics": metrics,
    }
    if old:
        table["merged_table"] = {"version": old.get("version"), "date": old.get("date"),
                                 "workloads": len(old.get("workloads", []))}
    try:
        outputs = [(a.table, json.dumps(table, indent=2, allow_nan=False) + "\n")]
    except ValueError:
        raise TableError("a tolerance came out as NaN or infinite: not written (check the members' figures)")
    if a.ensemble_out:
        outputs.append((a.ensemble_out, json.dumps(nan_to_null({"version": a.version, "date": date,
                                                                "ensembles": per_ensemble}),
                                                   indent=1, allow_nan=False) + "\n"))

    def g(x):
        if x is None or (isinstance(x, float) and math.isnan(x)):
            return "-"
        return f"{x:.3g}" if isinstance(x, (int, float)) else str(x)

    md = [f"# Tolerance table {a.version} ({date})", "",
          "Made by `scripts/measure_tolerance.sh` (`scripts/tolerance_table.py`). Relative figures are "
          "divided by their mean; the reference step's figures are the largest over its steps.", ""]
    for r in per_ensemble:
        w = r["workload"]
        md += [f"## Workload: preset {w.get('preset')}, batch {w.get('batch-size')}, {w.get('epochs')} epochs, "
               f"lr {w.get('lr')}, seed {w.get('seed')}, max-train-events {w.get('max-train-events')}, "
               f"max-val-events {w.get('max-val-events')} ({w.get('training_steps')} training steps, "
               f"{fmt_g(w.get('validation_events'))} validation events)", "",
               "| member | kind | how | " + " | ".join(k for k, _, _ in METRICS) + " |",
               "|---|---|---|" + "---|" * len(METRICS)]
        for name, m in r["members"].items():
            opts = m["options"].split()  # the workload's options, then the member's own from --threads on
            own = opts[max(i for i, o in enumerate(opts) if o == "--threads"):] if "--threads" in opts else []
            how = (m["env"] + " " if m["env"] else "") + " ".join(own)
            cells = []
            for key, _, _ in METRICS:
                v = m["figures"][key]
                cells.append("-" if not v else (f"{v[0]:.6g}" if len(v) == 1 else f"{v[0]:.7g} … {v[-1]:.7g}"))
            md.append(f"| {name} | {m['kind']} | {how.strip()} | " + " | ".join(cells) + " |")
        md += ["", "| figure | sd (one run) | largest difference | runs | seeds: largest difference from base | faults: difference from base |",
               "|---|---|---|---|---|---|"]
        for key, _, _ in METRICS:
            f = r["figures"][key]
            faults = ", ".join(f"{n} {g(v)}" for n, v in f["fault_differences"].items()) or "-"
            md.append(f"| {key} | {g(f['sd'])} | {g(f['max'])} | {f['runs']} | {g(f['seed_max'])} | {faults} |")
        md.append("")
    if old:
        md += [f"## Taken in from table {old.get('version')} ({old.get('date')}): runs not at hand", "",
               "| figure | sd (one run) | largest difference | runs | its tolerance |", "|---|---|---|---|---|"]
        for key, _, _ in METRICS:
            m = old["metrics"][key]
            md.append(f"| {key} | {g(m['spread_sd'])} | {g(m['spread_max'])} | {m['runs']} | {m.get('tolerance', '-')} |")
        md.append("")
    md += ["## Tolerances", "", "| figure | kind | tolerance | from: sd | from: largest difference | runs |",
           "|---|---|---|---|---|---|"]
    for key, m in metrics.items():
        md.append(f"| {key} | {m['kind']} | {m['tolerance']:g} | {g(m['spread_sd'])} | {g(m['spread_max'])} | {m['runs']} |")
    md += ["", "Rule: tolerance = max(4·√2·sd, 1.25·largest difference, floor), rounded up to 1, 2 or 5 × 10ⁿ "
           "(floor 1e-5 relative for the reference step, 0 otherwise: room for a GPU's summation order, which a CPU ensemble cannot show).", ""]
    outputs.append((a.markdown, "\n".join(md)))
    write_all(outputs)
    print("\n".join(md[-(len(metrics) + 4):]))


if __name__ == "__main__":
    main()
