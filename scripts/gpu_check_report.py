#!/usr/bin/env python3
"""The bookkeeping half of scripts/gpu_check.sh (standard library only: it runs with whatever
python3 the GPU node has).

  gpu_check_report.py record OUT NAME STATUS SECONDS DETAIL [FIGURES_JSON]
      append one check to OUT/checks.jsonl (STATUS: pass, fail, warn, skip)
  gpu_check_report.py meta OUT KEY=VALUE ...       merge facts into OUT/meta.json
  gpu_check_report.py figures SUMMARY [--gpu NAME] [--peaks FILE]
      print the figures of one hep-mlbench_summary.json as JSON, with the peak FLOP/s of the
      GPU for the run's precision and the model's fraction of it ("unknown" for GPUs not in
      the table)
  gpu_check_report.py same A B                     exit 0 when two summaries are bit-identical
      in losses, accuracy and weights checksums; else print what differs and exit 1
  gpu_check_report.py oom SUMMARY_OR_LOG           exit 0 when the run died of device memory
  gpu_check_report.py overhead WITH WITHOUT        the cost of CUPTI's activity records: events/s
      of the same window with and without them; prints "STATUS LINE" (warn above 5%)
  gpu_check_report.py gaps COMPARE_JSON            one line of the measured differences in a
      `hep-mlbench compare --json` output (the rows with a tolerance), for the CPU-vs-GPU check
  gpu_check_report.py counter-reason SUMMARY       why the hardware counters gave no achieved
      FLOP/s; an empty line when they did
  gpu_check_report.py counters SUMMARY             one line on the hardware-counter figures:
      achieved FLOP/s, cost model / counted, tensor-core FLOP and (Hopper) the warp-group MMA
      share, flagging tensor totals that miss warp-group MMA; or why they are absent
  gpu_check_report.py ncu-metrics [kernels]       the metrics ncu-step (or ncu-kernels) reads,
      comma-separated (ncu --metrics)
  gpu_check_report.py ncu-step CSV SUMMARY       Nsight Compute's counts over the profiled
      timed step (CSV: `ncu --import R --csv --page raw --print-units base`) against the
      report's cost model and its own FMA-pipe bound; prints "STATUS LINE"
  gpu_check_report.py ncu-kernels CSV SUMMARY    Nsight Compute's kernel durations over the
      profiled step (kernel replay; CSV as for ncu-step) against the activity records of a
      normal run of the same window: kernels and kernel time per step, time per launch of the
      top kernels; prints "STATUS LINE"
  gpu_check_report.py entry-args YAML ENTRY [KEY=VALUE ...]
      print a HEPscore entry's args, one token a line (--key, value), KEY=VALUE replacing or
      adding one
  gpu_check_report.py peak GPU PRECISION          the dense peak TFLOP/s of GPU (as CUDA names
      it) for PRECISION from gpu_peaks.json, or "unknown"
  gpu_check_report.py render OUT                   write OUT/gpu_check.json and
      OUT/gpu_check.txt from the checks so far, print the table; exit 1 when a check failed;
      no checks recorded is an error, not a pass (the check did not run)

Bad usage or input (a missing argument, file or folder, a file that is not what the command
reads, a SECONDS that is not a finite number of seconds) is an error naming it, exit status 2,
and nothing written.
"""
import json
import math
import os
import re
import sys

from script_output import nan_to_null, write_together  # beside this script

SCRIPTS = os.path.dirname(os.path.abspath(__file__))
PEAKS = os.path.join(SCRIPTS, "gpu_peaks.json")


class ReportError(Exception):
    """Bad usage or input: main prints it as one line and exits 2. Raised rather than exiting
    where it is found, so that the functions stay usable from the tests."""


def die(msg):
    raise ReportError(msg)


def load_json(path, what=None):
    try:
        with open(path) as f:
            return json.load(f)
    except OSError as e:
        die(f"cannot read {path}: {e.strerror}")
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        die(f"{path} is not valid JSON ({e})" + (f": not {what}" if what else ""))


def load_object(path, what):
    """A JSON file whose top level must be an object (`what` names what it should be)."""
    doc = load_json(path, what)
    if not isinstance(doc, dict):
        die(f"{path} is not {what}: its top level is a JSON {type(doc).__name__}, not an object")
    return doc


def load_summary(path):
    """A hep-mlbench_summary.json: an object with a `report` object (a failed run's report has
    no figures, but still has its `report`)."""
    s = load_object(path, "a hep-mlbench report (hep-mlbench_summary.json)")
    rep = s.get("report")
    if not isinstance(rep, dict):
        die(f"{path} is not a hep-mlbench report: no 'report' object in it "
            "(give the hep-mlbench_summary.json of a run)")
    if not isinstance(rep.get("wl-stats") or {}, dict):
        die(f"{path} is not a hep-mlbench report: its 'wl-stats' is not an object")
    return s


def out_dir(out):
    """The OUT folder of gpu_check.sh, which must exist (the commands never create it)."""
    if not os.path.isdir(out):
        die(f"{out}: no such folder (give the OUT folder of gpu_check.sh)")
    return out


def dumps_strict(doc, path, **kw):
    """JSON for `path` as strict JSON: a NaN or infinity (no JSON number) is an error, not
    written, so that every reader of gpu_check.json can parse it."""
    try:
        return json.dumps(doc, allow_nan=False, **kw)
    except ValueError:
        die(f"{path}: holds a NaN or infinite number, which strict JSON cannot: nothing written")


def write_atomic(*files):
    """Writes (path, text) pairs whole and together (script_output.py)."""
    for path, _ in files:
        if os.path.isdir(path):
            die(f"cannot write {path}: it is a folder")
    try:
        write_together(files)
    except OSError as e:
        die(f"cannot write {e.filename or files[0][0]}: {e.strerror}")


# ------------------------------------------------------------------ peaks
def peak_tflops(gpu_name, precision, peaks_file=PEAKS):
    """Dense peak TFLOP/s of `gpu_name` (as CUDA names it) for `precision`, or None."""
    if not gpu_name:
        return None
    table = load_object(peaks_file, "a table of GPU peaks (as scripts/gpu_peaks.json)")
    rows = table.get("gpus")
    if not isinstance(rows, list) or not all(
            isinstance(r, dict) and isinstance(r.get("match"), str) and isinstance(r.get("tflops"), dict)
            for r in rows):
        die(f"{peaks_file} is not a table of GPU peaks: it needs 'gpus', a list of rows with "
            "'match' and 'tflops' (as scripts/gpu_peaks.json)")
    for row in rows:
        try:
            hit = re.search(row["match"], gpu_name, re.IGNORECASE)
        except re.error as e:
            die(f"{peaks_file}: the match '{row['match']}' is not a regular expression: {e}")
        if hit:
            return row["tflops"].get(precision)
    return None


# ------------------------------------------------------------------ summaries
def value(stats, key):
    v = stats.get(key)
    if isinstance(v, dict):
        return v.get("value", v.get("avg"))
    return v


def figures(summary_path, gpu=None, peaks_file=PEAKS):
    s = load_summary(summary_path)
    rep = s["report"]
    st = rep.get("wl-stats") or {}
    step = st.get("step_time") or {}
    losses = [e.get("train_loss") for e in st.get("epochs") or [] if isinstance(e, dict)] + [value(st, "validation_loss")]
    flops = value(st, "model_flop_per_s")
    precision = st.get("precision")
    peak = peak_tflops(gpu, precision, peaks_file) if st.get("device") == "cuda" else None
    out = {
        "log": rep.get("log"),
        "error": rep.get("error"),
        "device": st.get("device"),
        "precision": precision,
        "batch_size": st.get("batch_size_per_device"),
        "events_per_s": value(st, "throughput"),
        "step_time_s": step.get("avg"),
        "timed_steps": step.get("count"),
        "peak_device_memory_mib": value(st, "peak_device_memory"),
        "peak_host_memory_mib": value(st, "peak_host_memory"),
        "data_wait_fraction": value(st, "data_wait_fraction"),
        "validation_loss": value(st, "validation_loss"),
        "validation_accuracy": value(st, "validation_accuracy"),
        "loss_finite": all(isinstance(x, (int, float)) and math.isfinite(x) for x in losses) and bool(losses),
        "model_flop_per_s": flops,
        "peak_flop_per_s": peak * 1e12 if peak else None,
        "fraction_of_peak": (flops / (peak * 1e12)) if (peak and flops) else ("unknown" if st.get("device") == "cuda" else None),
        "final_weights_checksum": st.get("final_weights_checksum"),
        # hardware counters read inside the timed window slow its sampled steps
        "with_counters": bool((st.get("config") or {}).get("gpu-counters")),
        "warnings": st.get("warnings", []),
    }
    return out


def same(a_path, b_path):
    """What differs between two runs that must be bit-identical."""
    a, b = (load_summary(p)["report"].get("wl-stats") or {} for p in (a_path, b_path))
    diffs = []
    for key in ("initial_weights_checksum", "final_weights_checksum", "data_checksum"):
        if a.get(key) != b.get(key):
            diffs.append(f"{key}: {a.get(key)} vs {b.get(key)}")
    for key in ("validation_accuracy", "validation_accuracy_particles", "validation_loss"):
        if value(a, key) != value(b, key):
            diffs.append(f"{key}: {value(a, key)!r} vs {value(b, key)!r}")
    ea, eb = a.get("epochs", []), b.get("epochs", [])
    if len(ea) != len(eb):
        diffs.append(f"epochs: {len(ea)} vs {len(eb)}")
    for x, y in zip(ea, eb):
        for key in ("train_loss", "validation_loss", "validation_accuracy"):
            if x.get(key) != y.get(key):
                diffs.append(f"epoch {x.get('epoch')} {key}: {x.get(key)!r} vs {y.get(key)!r}")
    if not a.get("final_weights_checksum"):
        diffs.append("no final_weights_checksum in the first report")
    return diffs


# Device memory exhausted, as LibTorch, cuBLAS, cuDNN and the CUDA runtime say it. cuBLAS's
# handle creation failing at a large batch (NOT_INITIALIZED) is the usual disguised form.
OOM_PATTERNS = re.compile(r"out of memory|OutOfMemoryError|CUBLAS_STATUS_ALLOC_FAILED|"
                          r"CUBLAS_STATUS_NOT_INITIALIZED|CUDNN_STATUS_ALLOC_FAILED|"
                          r"cudaErrorMemoryAllocation", re.I)


def is_oom(path):
    try:
        with open(path, errors="replace") as f:
            text = f.read()
    except OSError:
        return False
    if path.endswith(".json"):
        # a report's error only (its figures may name memory); any other JSON is read as text
        try:
            doc = json.loads(text)
        except json.JSONDecodeError:
            doc = None
        rep = doc.get("report") if isinstance(doc, dict) else None
        if isinstance(rep, dict):
            text = json.dumps(rep.get("error", ""))
    return bool(OOM_PATTERNS.search(text))


# ------------------------------------------------------------------ HEPscore entry
# Hopper's tensor-path op counts of warp-group MMA alone (information beside the totals).
HGMMA_METRICS = ("sm__ops_path_tensor_op_hgmma_src_fp16.sum",
                 "sm__ops_path_tensor_op_hgmma_src_bf16_dst_fp32.sum",
                 "sm__ops_path_tensor_op_hgmma_src_tf32_dst_fp32.sum")


def absent_reason(stats, key, default):
    """Why the figure `key` of wl-stats is absent, as the report says; `default` when it says
    nothing (a failed run's report has no figures)."""
    return (stats.get(key) or {}).get("reason") or default


def counter_reason(summary):
    """Why the report has no achieved FLOP/s from the counters; "" when it has one. A failed
    run's report has no figures: "not measured" (gpu_check.sh runs under set -e)."""
    st = (summary.get("report") or {}).get("wl-stats") or {}
    achieved = st.get("gpu_achieved_flop_per_s") or {}
    return "" if achieved.get("value") is not None else absent_reason(st, "gpu_achieved_flop_per_s", "not measured")


def counters_line(summary):
    # A counter's NaN is written as null: shown as "-", never a failure.
    why = counter_reason(summary)
    if why:
        return why
    st = summary["report"]["wl-stats"]
    val = lambda key: (st.get(key) or {}).get("value")
    parts = ["{} FLOP/s achieved".format(fmt(val("gpu_achieved_flop_per_s"))),
             "cost model / counted {}".format(fmt(val("model_to_measured_flop"), "{:.3f}"))]
    # FP32: 2 FLOP per FMA-pipe thread instruction, an upper bound (docs/report.md).
    parts.append("FP32 at most {} FLOP".format(fmt(val("gpu_counted_fp32_flop"))))
    tensor = val("gpu_counted_tensor_flop")
    parts.append("tensor cores {} FLOP".format(fmt(tensor)))
    metrics = (st.get("gpu_counter_sample") or {}).get("metrics") or {}
    gmma = [metrics[k] for k in HGMMA_METRICS if isinstance(metrics.get(k), (int, float))]
    if gmma:
        g = sum(gmma)
        t = tensor or 0.0
        if g > t * (1 + 1e-6):
            parts.append("WARNING: warp-group MMA alone counts {} FLOP, more than the tensor total: "
                         "the tensor totals miss warp-group MMA".format(fmt(g)))
        elif t > 0:
            parts.append("{:.0%} of it by warp-group MMA".format(g / t))
    return ", ".join(parts)


NCU_SASS = {"smsp__sass_thread_inst_executed_op_fadd_pred_on.sum": 1.0,
            "smsp__sass_thread_inst_executed_op_fmul_pred_on.sum": 1.0,
            "smsp__sass_thread_inst_executed_op_ffma_pred_on.sum": 2.0}
NCU_PIPE = "sm__thread_inst_executed_pipe_fma_pred_on.sum"
NCU_TIME = "gpu__time_duration.sum"


def ncu_sums(csv_text):
    """Sums over the rows (kernels or ranges) of ncu's raw CSV page, by metric name."""
    import csv
    rows = list(csv.reader(csv_text.splitlines()))
    head = next((i for i, r in enumerate(rows) if r and r[0] == "ID"), None)
    if head is None:
        return None, 0
    names = rows[head]
    body = [r for r in rows[head + 1:] if r and r[0].strip().isdigit()]  # skips the units row
    sums = {}
    for name in (*NCU_SASS, NCU_PIPE, NCU_TIME):
        if name not in names:
            continue
        j = names.index(name)
        total = 0.0
        for r in body:
            try:
                total += float(r[j].replace(",", ""))
            except (ValueError, IndexError):
                pass
        sums[name] = total
    return sums, len(body)


def ncu_step_line(csv_text, summary):
    """(status, line): ncu's SASS FP32 FLOP of the profiled step against the FMA-pipe bound
    hep-mlbench's counters use and the cost model's FLOP for the step's events."""
    sums, n = ncu_sums(csv_text)
    if not sums or not n:
        return "warn", "no rows in ncu's output"
    if not all(k in sums for k in NCU_SASS) or NCU_PIPE not in sums:
        return "warn", "ncu's output lacks {}".format(
            ", ".join(k for k in (*NCU_SASS, NCU_PIPE) if k not in sums))
    sass = sum(sums[k] * w for k, w in NCU_SASS.items())
    bound = 2.0 * sums[NCU_PIPE]
    st = (summary.get("report") or {}).get("wl-stats") or {}
    per_event = (st.get("model_flop_per_event") or {}).get("value")
    batch = st.get("batch_size_per_device")  # one rank's step: the profiled events
    parts = ["{} rows".format(n), "SASS FP32 {} FLOP".format(fmt(sass)),
             "FMA-pipe bound {} FLOP ({} of SASS)".format(fmt(bound), fmt(bound / sass, "{:.2f}x") if sass > 0 else "-")]
    if isinstance(per_event, (int, float)) and isinstance(batch, (int, float)) and sass > 0:
        parts.append("cost model {} FLOP for {} events ({} of SASS)".format(
            fmt(per_event * batch), int(batch), fmt(per_event * batch / sass, "{:.2f}x")))
    if NCU_TIME in sums:
        parts.append("GPU time {} s".format(fmt(sums[NCU_TIME] * 1e-9, "{:.4g}")))
    if sass <= 0:
        return "warn", "ncu counted no SASS FP32 instructions: " + ", ".join(parts)
    return "pass", ", ".join(parts)


NCU_KERNEL_NAME = "Kernel Name"
TIME_UNITS = {"nsecond": 1e-9, "ns": 1e-9, "usecond": 1e-6, "us": 1e-6, "msecond": 1e-3, "ms": 1e-3,
              "second": 1.0, "s": 1.0}


def kernel_key(name):
    """A kernel's name as the activity records and ncu can agree on it: the report cuts long
    names (adding "..."), and demanglers differ in spaces; so no "...", no whitespace, and
    the first 120 characters."""
    s = name.strip()
    if s.endswith("..."):
        s = s[:-3]
    return "".join(s.split())[:120]


def ncu_kernel_times(csv_text):
    """[(name, seconds)] of the kernel rows of ncu's raw CSV page (kernel replay), with the
    time column's unit from ncu's units row; None when the page has no kernel table."""
    import csv
    rows = list(csv.reader(csv_text.splitlines()))
    head = next((i for i, r in enumerate(rows) if r and r[0] == "ID"), None)
    if head is None:
        return None
    names = rows[head]
    if NCU_KERNEL_NAME not in names or NCU_TIME not in names:
        return None
    jn, jt = names.index(NCU_KERNEL_NAME), names.index(NCU_TIME)
    scale = 1e-9  # --print-units base: nanoseconds
    if head + 1 < len(rows) and len(rows[head + 1]) > jt and not rows[head + 1][0].strip().isdigit():
        scale = TIME_UNITS.get(rows[head + 1][jt].strip(), scale)
    out = []
    for r in rows[head + 1:]:
        if not r or not r[0].strip().isdigit() or len(r) <= max(jn, jt):
            continue
        try:
            out.append((r[jn], float(r[jt].replace(",", "")) * scale))
        except ValueError:
            pass
    return out


def ncu_kernels_line(csv_text, summary):
    """(status, line): Nsight Compute's duration of every kernel of the profiled step (kernel
    replay, one pass, caches and clocks left alone) against the activity records of the same
    window in a normal run: kernels and compute-kernel time per timed step, and the time per
    launch of the report's top compute kernels, ncu / activity records. The activity records'
    kernel intervals are what GPU busy time is the union of."""
    rows = ncu_kernel_times(csv_text)
    if not rows:
        return "warn", "no kernel rows with {} in ncu's output".format(NCU_TIME)
    st = (summary.get("report") or {}).get("wl-stats") or {}
    ncu_time = sum(t for _, t in rows)
    parts = ["profiled step under ncu: {} kernels, {} s of kernel time".format(len(rows), fmt(ncu_time, "{:.4g}"))]
    events = value(st, "timed_events")
    batch, ranks = st.get("batch_size_per_device"), st.get("ranks") or 1
    kernels, compute = value(st, "gpu_kernels"), value(st, "gpu_compute_time")
    if all(isinstance(v, (int, float)) for v in (events, batch, kernels, compute)) and batch > 0 and events > 0:
        steps = events / (batch * ranks)
        parts.append("activity records: {:.0f} kernels and {} s of compute-kernel time per timed step "
                     "(mean of {:.0f}; steps differ in their longest event)".format(
                         kernels / steps, fmt(compute / steps, "{:.4g}"), steps))
    else:
        parts.append("the report has no activity-record figures ({})".format(
            absent_reason(st, "gpu_compute_time", "absent")))
    by_key = {}
    for name, t in rows:
        k = kernel_key(name)
        n, tt = by_key.get(k, (0, 0.0))
        by_key[k] = (n + 1, tt + t)
    top = [k for k in (st.get("gpu_top_kernels") or []) if k.get("kind") == "compute" and k.get("count")]
    ratios = []
    for k in top:
        hit = by_key.get(kernel_key(k.get("name", "")))
        if hit and hit[1] > 0 and k.get("time_s"):
            ratios.append((hit[1] / hit[0]) / (k["time_s"] / k["count"]))
    if not ratios:
        parts.append("none of the report's {} top compute kernels found among ncu's".format(len(top)))
        return "warn", ", ".join(parts)
    ratios.sort()
    median = ratios[len(ratios) // 2] if len(ratios) % 2 else 0.5 * (ratios[len(ratios) // 2 - 1] + ratios[len(ratios) // 2])
    parts.append("time per launch, ncu / activity records, for {} of the {} top compute kernels: median {} ({}-{})".format(
        len(ratios), len(top), fmt(median, "{:.3f}"), fmt(ratios[0], "{:.3f}"), fmt(ratios[-1], "{:.3f}")))
    status = "pass" if 2 / 3 <= median <= 1.5 else "warn"
    return status, ", ".join(parts)


def overhead_line(with_summary, without_summary):
    """(status, line): events/s with CUPTI's activity records against the same window without."""
    def rate(s):
        v = (((s.get("report") or {}).get("wl-stats") or {}).get("throughput") or {}).get("value")
        return v if isinstance(v, (int, float)) and v > 0 else None
    on, off = rate(with_summary), rate(without_summary)
    if on is None or off is None:
        return "fail", "no events/s in {} report".format("either" if on is None and off is None
                                                          else "the first" if on is None else "the second")
    cost = 1 - on / off
    status = "warn" if cost > 0.05 else "pass"
    return status, ("{:.4g} events/s with the activity records, {:.4g} without: they cost {:.1%} "
                    "(one run each: a rough figure)".format(on, off, cost))


def gaps_line(comparison):
    """The differences `compare` measured, row by row: 'what diff D (limit)'."""
    out = []
    for row in comparison.get("rows") or []:
        m = re.match(r"(abs|rel) (\S+) \(diff (\S+)\)", str(row.get("limit", "")))
        if m:
            flag = "" if row.get("ok") else " OVER"
            out.append(f"{row.get('what')} diff {m.group(3)} ({m.group(1)} {m.group(2)}){flag}")
    return "; ".join(out) if out else "no measured differences in the comparison"


def entry_args(yaml_path, entry):
    """The `args:` mapping of one benchmark entry of hepscore/hep-mlbench.yaml, read by
    indentation (the node's Python may lack PyYAML; the file is plain key: value lines)."""
    try:
        lines = open(yaml_path).read().splitlines()
    except OSError as e:
        die(f"cannot read {yaml_path}: {e.strerror}")
    args, in_entry, in_args, entry_indent, args_indent = {}, False, False, -1, -1
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        key, _, val = line.strip().partition(":")
        if in_args and indent <= args_indent:
            break
        if in_entry and indent <= entry_indent:
            in_entry = False
        if not in_entry and key == entry:
            in_entry, entry_indent = True, indent
            continue
        if in_entry and key == "args":
            in_args, args_indent = True, indent
            continue
        if in_args:
            args[key] = val.strip().strip("'\"")
    if not args:
        die(f"no 'args' of entry '{entry}' in {yaml_path}")
    return args


# ------------------------------------------------------------------ render
def fmt(v, spec="{:.3g}"):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    return spec.format(v)


STATUSES = ("pass", "fail", "warn", "skip")


def check_seconds(text):
    """SECONDS of `record`: a finite number, 0 or more (NaN would make gpu_check.json not JSON)."""
    try:
        v = float(text)
    except ValueError:
        v = None
    if v is None or not math.isfinite(v) or v < 0:
        die(f"record: SECONDS '{text}' is not a number of seconds (a finite number, 0 or more)")
    return v


def read_checks(out):
    """The records of OUT/checks.jsonl, each checked to be one that `record` writes: a file
    edited by hand or cut short is named with its line, not rendered into a wrong verdict."""
    path = os.path.join(out, "checks.jsonl")
    if not os.path.exists(path):
        return []
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        die(f"cannot read {path}: {getattr(e, 'strerror', None) or e}")
    checks = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            c = json.loads(line)
        except json.JSONDecodeError as e:
            die(f"{path} line {n} is not JSON ({e.msg}): not a record of `gpu_check_report.py record`")
        bad = None
        if not isinstance(c, dict):
            bad = "is not a JSON object"
        elif not isinstance(c.get("name"), str):
            bad = "has no 'name'"
        elif c.get("status") not in STATUSES:
            bad = "has no 'status' of pass, fail, warn or skip"
        elif not isinstance(c.get("seconds"), (int, float)) or isinstance(c["seconds"], bool) \
                or not math.isfinite(c["seconds"]) or c["seconds"] < 0:
            bad = "has no 'seconds' that is a finite number, 0 or more"
        elif not isinstance(c.get("detail"), str):
            bad = "has no 'detail'"
        elif not isinstance(c.get("figures") or {}, dict):
            bad = "has 'figures' that is not an object"
        if bad:
            die(f"{path} line {n} {bad}: not a record of `gpu_check_report.py record`")
        checks.append(c)
    return checks


def read_meta(out):
    path = os.path.join(out, "meta.json")
    return load_object(path, "the facts of `gpu_check_report.py meta`") if os.path.exists(path) else {}


def render(out):
    out_dir(out)
    checks = read_checks(out)
    if not checks:
        die(f"no checks recorded in {out} (no {os.path.join(out, 'checks.jsonl')} or it is empty): "
            "the check did not run, so there is no verdict; nothing written")
    meta = read_meta(out)
    failed = [c for c in checks if c["status"] == "fail"]
    precisions = [dict(c["figures"], check=c["name"]) for c in checks
                  if c["name"].startswith("precision-") and c.get("figures")]
    sweep = next((c.get("figures") for c in checks if c["name"] == "batch-sweep" and c.get("figures")), None)
    workload = next((c.get("figures") for c in checks if c["name"] == "workload" and c.get("figures")), None)
    doc = {
        "schema_version": 1,
        "verdict": "FAIL" if failed else "PASS",
        "first_failure": failed[0]["name"] if failed else None,
        "meta": meta,
        "checks": checks,
        "precision_table": precisions,
        "batch_sweep": sweep,
        "workload": workload,
    }
    json_path = os.path.join(out, "gpu_check.json")
    json_text = dumps_strict(doc, json_path, indent=2) + "\n"

    lines = []
    mode = meta.get("mode", "?")
    lines.append(f"# hep-mlbench gpu_check ({mode}{', quick' if meta.get('quick') == 'yes' else ''}) "
                 f"on {meta.get('host', '?')}: {meta.get('gpu', 'no GPU')}")
    lines.append(f"# LibTorch {meta.get('torch', '?')} (CUDA {meta.get('torch_cuda', '?')}), "
                 f"driver {meta.get('driver', '-')}, build {meta.get('build_seconds', '?')} s, "
                 f"total {meta.get('total_seconds', '?')} s")
    lines.append(f"{'check':<22} {'status':<6} {'seconds':>8}  detail")
    for c in checks:
        lines.append(f"{c['name']:<22} {c['status'].upper():<6} {c['seconds']:>8.1f}  {c['detail']}")
    if precisions:
        lines.append("")
        lines.append(f"{'precision':<9} {'batch':>5} {'events/s':>9} {'step ms':>8} {'peak MiB':>9} "
                     f"{'loss':>8} {'TFLOP/s':>8} {'of peak':>8}")
        for p in precisions:
            frac = p.get("fraction_of_peak")
            frac_s = f"{100 * frac:.1f}%" if isinstance(frac, (int, float)) else (frac or "-")
            flops = p.get("model_flop_per_s")
            # a failed run has no precision in its report: the check's name says which it was;
            # a star marks events/s taken with the counter passes inside the window
            name = p.get("precision") or p.get("check", "-").replace("precision-", "")
            name += "*" if p.get("with_counters") else ""
            lines.append(f"{name:<9} {fmt(p.get('batch_size')):>5} "
                         f"{fmt(p.get('events_per_s'), '{:.2f}'):>9} "
                         f"{fmt(p['step_time_s'] * 1e3 if p.get('step_time_s') else None, '{:.1f}'):>8} "
                         f"{fmt(p.get('peak_device_memory_mib'), '{:.0f}'):>9} "
                         f"{fmt(p.get('validation_loss'), '{:.4f}'):>8} "
                         f"{fmt(flops / 1e12 if flops else None, '{:.2f}'):>8} {frac_s:>8}")
        if any(p.get("with_counters") for p in precisions):
            lines.append("* hardware counters read inside the timed window: events/s and step time include their passes")
    if sweep:
        lines.append("")
        lines.append(f"batch sweep ({sweep.get('precision', 'fp32')}): largest batch that fits "
                     f"{sweep.get('largest_fitting', '-')}{' or more' if sweep.get('capped') else ''}; tried " +
                     ", ".join(f"{t['batch']}:{t['result']}" for t in sweep.get("tried", [])))
    if workload:
        lines.append(f"workload: score {fmt(workload.get('score'), '{:.3f}')} events/s, log {workload.get('log')}")
    lines.append("")
    lines.append(f"verdict: {doc['verdict']}" + (f" (first failure: {doc['first_failure']})" if failed else ""))
    text = "\n".join(lines) + "\n"
    # both made before either is written: an error leaves the earlier pair as it was
    write_atomic((json_path, json_text), (os.path.join(out, "gpu_check.txt"), text))
    print(text, end="")
    return 1 if failed else 0


# ------------------------------------------------------------------ main
# Each command's usage and how many arguments it takes (least, most; None: no limit), checked
# in one place before the command reads any of them.
USAGE = {
    "record": ("record OUT NAME STATUS SECONDS DETAIL [FIGURES_JSON]", 5, 6),
    "meta": ("meta OUT KEY=VALUE ...", 2, None),
    "figures": ("figures SUMMARY [--gpu NAME] [--peaks FILE]", 1, 5),
    "same": ("same A B", 2, 2),
    "oom": ("oom SUMMARY_OR_LOG ...", 1, None),
    "overhead": ("overhead WITH WITHOUT", 2, 2),
    "gaps": ("gaps COMPARE_JSON", 1, 1),
    "counter-reason": ("counter-reason SUMMARY", 1, 1),
    "counters": ("counters SUMMARY", 1, 1),
    "ncu-metrics": ("ncu-metrics [kernels]", 0, 1),
    "ncu-step": ("ncu-step CSV SUMMARY", 2, 2),
    "ncu-kernels": ("ncu-kernels CSV SUMMARY", 2, 2),
    "entry-args": ("entry-args YAML ENTRY [KEY=VALUE ...]", 2, None),
    "peak": ("peak GPU PRECISION", 2, 2),
    "render": ("render OUT", 1, 1),
}


def read_text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError as e:
        die(f"cannot read {path}: {e.strerror}")


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0
    try:
        return command(argv[1], argv[2:])
    except ReportError as e:
        print(f"[gpu_check_report] ERROR: {e}", file=sys.stderr)
        return 2


def command(cmd, args):
    if cmd not in USAGE:
        die(f"unknown command '{cmd}' (see --help)")
    usage, least, most = USAGE[cmd]
    if len(args) < least or (most is not None and len(args) > most):
        die(f"usage: gpu_check_report.py {usage} (see --help)")
    if cmd == "record":
        out, name, status, seconds, detail = args[:5]
        path = os.path.join(out_dir(out), "checks.jsonl")
        if status not in STATUSES:
            die(f"status '{status}' is not pass, fail, warn or skip")
        rec = {"name": name, "status": status, "seconds": round(check_seconds(seconds), 1), "detail": detail}
        if len(args) == 6 and args[5]:
            rec["figures"] = load_object(args[5], "a figures object (from `gpu_check_report.py figures`)")
        line = dumps_strict(rec, args[5] if "figures" in rec else path) + "\n"
        try:
            with open(path, "a") as f:  # one line appended in one write: the earlier lines stay
                f.write(line)
        except OSError as e:
            die(f"cannot write {path}: {e.strerror}")
        return 0
    if cmd == "meta":
        out, pairs = args[0], args[1:]
        path = os.path.join(out_dir(out), "meta.json")
        meta = read_meta(out)
        for p in pairs:
            k, sep, v = p.partition("=")
            if not sep or not k:
                die(f"meta: '{p}' is not KEY=VALUE")
            meta[k] = v
        write_atomic((path, dumps_strict(meta, path, indent=2) + "\n"))
        return 0
    if cmd == "figures":
        gpu, peaks = None, PEAKS
        rest = list(args[1:])
        while rest:
            opt = rest.pop(0)
            if opt == "--gpu" and rest:
                gpu = rest.pop(0)
            elif opt == "--peaks" and rest:
                peaks = rest.pop(0)
            elif opt in ("--gpu", "--peaks"):
                die(f"figures: option {opt} needs a value")
            else:
                die(f"figures: unknown option '{opt}'")
        # strict JSON, as `record` takes it in: a figure that is no number is null, as in the report
        print(json.dumps(nan_to_null(figures(args[0], gpu, peaks)), indent=2, allow_nan=False))
        return 0
    if cmd == "same":
        diffs = same(args[0], args[1])
        for d in diffs:
            print(d)
        return 1 if diffs else 0
    if cmd == "overhead":
        status, line = overhead_line(load_summary(args[0]), load_summary(args[1]))
        print(status, line)
        return 0
    if cmd == "gaps":
        print(gaps_line(load_object(args[0], "the output of `hep-mlbench compare --json`")))
        return 0
    if cmd == "counter-reason":
        print(counter_reason(load_summary(args[0])))
        return 0
    if cmd == "counters":
        print(counters_line(load_summary(args[0])))
        return 0
    if cmd == "oom":
        return 0 if any(is_oom(p) for p in args) else 1
    if cmd == "ncu-metrics":
        if args == ["kernels"]:
            print(NCU_TIME)
        elif not args:
            print(",".join((NCU_TIME, NCU_PIPE, *NCU_SASS)))
        else:
            die(f"usage: gpu_check_report.py {usage}")
        return 0
    if cmd in ("ncu-step", "ncu-kernels"):
        text = read_text(args[0])
        judge = ncu_step_line if cmd == "ncu-step" else ncu_kernels_line
        status, line = judge(text, load_summary(args[1]))
        print(status, line)
        return 0
    if cmd == "entry-args":
        merged = entry_args(args[0], args[1])
        for p in args[2:]:
            k, sep, v = p.partition("=")
            if not sep:
                die(f"entry-args: '{p}' is not KEY=VALUE")
            merged[k] = v
        for k, v in merged.items():
            print(f"--{k}")
            print(v)
        return 0
    if cmd == "peak":
        p = peak_tflops(args[0], args[1])
        print(p if p is not None else "unknown")
        return 0
    return render(args[0])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
