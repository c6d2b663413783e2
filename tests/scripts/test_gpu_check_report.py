#!/usr/bin/env python3
"""scripts/gpu_check_report.py's reading of the hardware-counter figures, on made-up reports:
absent figures give their reason; Hopper's warp-group MMA share is stated, and a tensor total
smaller than the warp-group MMA count alone is flagged (the totals would then miss wgmma); a
failed run's report gives a line, not a crash. Which failures count as out of memory, the
activity records' overhead, and the differences of a CPU-vs-GPU comparison.

usage: test_gpu_check_report.py
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
SCRIPT = os.path.join(ROOT, "scripts", "gpu_check_report.py")
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import gpu_check_report as r  # noqa: E402


def fig(v, unit, reason=None):
    f = {"value": v, "unit": unit}
    if v is None:
        f["reason"] = reason
    return f


def report(achieved, ratio, tensor, metrics, reason="no GPU", fp32=None):
    return {"report": {"wl-stats": {
        "gpu_achieved_flop_per_s": fig(achieved, "FLOP/s", reason),
        "gpu_counted_fp32_flop": fig(fp32, "FLOP", reason),
        "model_to_measured_flop": fig(ratio, "ratio", reason),
        "gpu_counted_tensor_flop": fig(tensor, "FLOP", reason),
        "gpu_counter_sample": {"metrics": metrics},
    }}}


# absent: the reason, as the report gives it
line = r.counters_line(report(None, None, None, {}, reason="no GPU"))
assert line == "no GPU", line

# an A100-like run: no warp-group MMA counters, no share stated
line = r.counters_line(report(2.5e13, 1.04, 8e11, {"sm__ops_path_tensor_src_bf16_dst_fp32.sum": 8e11}))
assert "2.5e+13 FLOP/s achieved" in line and "cost model / counted 1.040" in line, line
assert "tensor cores 8e+11 FLOP" in line, line
assert "warp-group" not in line, line
assert "FP32 at most - FLOP" in line, line

# an fp32 window: the FMA-pipe bound of its FP32 FLOP, no tensor math
line = r.counters_line(report(1.8e13, 0.79, 0.0, {}, fp32=8.08e12))
assert "FP32 at most 8.08e+12 FLOP" in line and "tensor cores 0 FLOP" in line, line

# a Hopper run whose totals include warp-group MMA: its share
hop = {"sm__ops_path_tensor_src_bf16_dst_fp32.sum": 1e12,
       "sm__ops_path_tensor_op_hgmma_src_bf16_dst_fp32.sum": 7.5e11,
       "sm__ops_path_tensor_op_hgmma_src_fp16.sum": 0.0}
line = r.counters_line(report(4e14, 0.98, 1e12, hop))
assert "75% of it by warp-group MMA" in line, line
assert "WARNING" not in line, line

# totals that miss warp-group MMA: flagged
line = r.counters_line(report(4e14, 3.9, 2e11, hop))
assert "WARNING" in line and "miss warp-group MMA" in line, line

# why the counters gave no figure (empty when they did), as gpu_check's counters-alone asks
assert r.counter_reason(report(4e14, 0.98, 1e12, hop)) == ""
assert r.counter_reason(report(None, None, None, {}, reason="CUPTI: busy")) == "CUPTI: busy"
assert r.counter_reason({"report": {"log": "ERROR", "wl-stats": {}}}) == "not measured"

# a failed run's report (no figures) and a counter written as null (NaN): a line, not a crash
assert r.counters_line({"report": {"log": "ERROR", "wl-stats": {}}}) == "not measured"
nan = dict(hop, **{"sm__ops_path_tensor_op_hgmma_src_bf16_dst_fp32.sum": None})
line = r.counters_line(report(4e14, None, 1e12, nan))
assert "cost model / counted -" in line and "0% of it by warp-group MMA" in line, line

# out-of-memory as LibTorch, cuBLAS and the runtime say it; another failure is not
with tempfile.TemporaryDirectory() as d:
    for text, oom in [("CUDA out of memory. Tried to allocate 2.00 GiB", True),
                      ("CUBLAS_STATUS_NOT_INITIALIZED when calling cublasCreate(handle)", True),
                      ("cudaErrorMemoryAllocation", True),
                      ("NCCL error: unhandled system error", False)]:
        path = os.path.join(d, "run.log")
        with open(path, "w") as f:
            f.write(text)
        assert r.is_oom(path) == oom, text

# the activity records' overhead: with against without, warn above 5%
def rate(v):
    return {"report": {"wl-stats": {"throughput": fig(v, "events/s", "failed")}}}


status, line = r.overhead_line(rate(98.0), rate(100.0))
assert status == "pass" and "they cost 2.0%" in line, (status, line)
status, line = r.overhead_line(rate(90.0), rate(100.0))
assert status == "warn" and "10.0%" in line, (status, line)
status, line = r.overhead_line(rate(None), rate(100.0))
assert status == "fail" and "the first" in line, (status, line)

# the differences a CPU-vs-GPU comparison measured, from `compare --json`
cmp = {"rows": [{"what": "config seed", "limit": "equal", "ok": True},
                {"what": "validation_accuracy", "limit": "abs 0.05 (diff 0.0125)", "ok": True},
                {"what": "reference_loss", "limit": "rel 1e-05 (diff 3.2e-05)", "ok": False}]}
line = r.gaps_line(cmp)
assert line == ("validation_accuracy diff 0.0125 (abs 0.05); "
                "reference_loss diff 3.2e-05 (rel 1e-05) OVER"), line
assert r.gaps_line({"rows": []}) == "no measured differences in the comparison"

# the command line: one summary file in, the line out; a missing file is an error naming it
with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "hep-mlbench_summary.json")
    with open(path, "w") as f:
        json.dump(report(4e14, 0.98, 1e12, hop), f)
    out = subprocess.run([sys.executable, SCRIPT, "counters", path], capture_output=True, text=True)
    assert out.returncode == 0 and "75% of it by warp-group MMA" in out.stdout, out
    gone = os.path.join(d, "none.json")
    out = subprocess.run([sys.executable, SCRIPT, "counters", gone], capture_output=True, text=True)
    assert out.returncode != 0 and gone in out.stderr, out

print("gpu_check_report counters: ok")

# ncu's counts over the profiled step: SASS FP32 FLOP (fadd + fmul + 2 ffma) against the
# FMA-pipe bound and the cost model; thousands separators and the units row are handled
ncu_csv = "\n".join([
    '==PROF== Connected to process 1',
    '"ID","Kernel Name","gpu__time_duration.sum","sm__thread_inst_executed_pipe_fma_pred_on.sum",'
    '"smsp__sass_thread_inst_executed_op_fadd_pred_on.sum","smsp__sass_thread_inst_executed_op_ffma_pred_on.sum",'
    '"smsp__sass_thread_inst_executed_op_fmul_pred_on.sum"',
    '"","","ns","inst","inst","inst","inst"',
    '"0","gemm","1,000","600","100","500","0"',
    '"1","elu","500","50","0","0","20"'])
stats = {"model_flop_per_event": {"value": 90.0, "unit": "FLOP/event"}, "batch_size_per_device": 10}
status, line = r.ncu_step_line(ncu_csv, {"report": {"wl-stats": stats}})
# SASS: 100 + 20 + 2*500 = 1120; bound 2 * 650 = 1300; cost model 900; time 1.5 us
assert status == "pass", (status, line)
assert "SASS FP32 1.12e+03 FLOP" in line and "FMA-pipe bound 1.3e+03 FLOP (1.16x of SASS)" in line, line
assert "cost model 900 FLOP for 10 events (0.80x of SASS)" in line and "GPU time 1.5e-06 s" in line, line
assert r.ncu_step_line("no table here", {})[0] == "warn"
missing = ncu_csv.replace("smsp__sass_thread_inst_executed_op_fmul_pred_on.sum", "other")
assert "lacks smsp__sass_thread_inst_executed_op_fmul_pred_on.sum" in r.ncu_step_line(missing, {})[1]
print("gpu_check_report ncu-step: ok")

# the metric list gpu_check.sh hands to ncu is the one ncu-step reads
listed = r.NCU_TIME + "," + r.NCU_PIPE + "," + ",".join(r.NCU_SASS)
import io, contextlib
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    assert r.main(["gpu_check_report.py", "ncu-metrics"]) == 0
assert buf.getvalue().strip() == listed, buf.getvalue()
assert "smsp__sass_thread_inst_executed_op_ffma_pred_on.sum" in listed
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    assert r.main(["gpu_check_report.py", "ncu-metrics", "kernels"]) == 0
assert buf.getvalue().strip() == "gpu__time_duration.sum" == r.NCU_TIME, buf.getvalue()
print("gpu_check_report ncu-metrics: ok")

# ncu's kernel durations over the profiled step against the activity records of a normal run:
# names matched across a cut name ("...") and other spacing, time per launch compared for the
# top compute kernels, the time column's unit taken from ncu's units row
ELU = ("void at::native::vectorized_elementwise_kernel<4, at::native::(anonymous namespace)::elu_kernel("
       "at::TensorIteratorBase&, c10::Scalar const&, c10::Scalar const&)::{lambda(float)#1}, "
       "at::detail::Array<char*, 2> >(int, float*, at::detail::Array<char*, 2>)")
GEMM = "sm90_xmma_gemm_f32f32_f32f32_f32_tn_n_tilesize128x128x8_execute_kernel__5x_cublas"
kernels_csv = "\n".join([
    '==PROF== Disconnected from process 1',
    '"ID","Process ID","Process Name","Host Name","Kernel Name","Context","Stream","gpu__time_duration.sum"',
    '"","","","","","","","usecond"',
    '"0","1","hep-mlbench","n","{}","1","7","1.0"'.format(ELU),
    '"1","1","hep-mlbench","n","{}","1","7","1.0"'.format(ELU),
    '"2","1","hep-mlbench","n","{}","1","7","2,000.0"'.format(GEMM),
    '"3","1","hep-mlbench","n","other_kernel","1","7","3.0"'])
cut = ELU.replace(", ", ",  ")[:157] + "..."  # the report's cut, with other spacing
stats = {"timed_events": {"value": 100.0}, "batch_size_per_device": 10, "ranks": 1,
         "gpu_kernels": {"value": 40.0}, "gpu_compute_time": {"value": 0.02},
         "gpu_top_kernels": [
             {"name": GEMM, "kind": "compute", "count": 10, "time_s": 10 * 2.0e-3},   # ncu/records 1.0
             {"name": cut, "kind": "compute", "count": 20, "time_s": 20 * 1.25e-6},   # 0.8
             {"name": "ncclDevKernel_AllReduce", "kind": "communication", "count": 5, "time_s": 1.0},
             {"name": "never_in_ncu", "kind": "compute", "count": 3, "time_s": 1.0}]}
status, line = r.ncu_kernels_line(kernels_csv, {"report": {"wl-stats": stats}})
assert status == "pass", (status, line)
assert "profiled step under ncu: 4 kernels, 0.002005 s of kernel time" in line, line
assert "4 kernels and 0.002 s of compute-kernel time per timed step (mean of 10" in line, line
assert "for 2 of the 3 top compute kernels: median 0.900 (0.800-1.000)" in line, line
# far apart: a warning, not a pass
slow = dict(stats, gpu_top_kernels=[dict(stats["gpu_top_kernels"][0], time_s=10 * 0.5e-3)])
status, line = r.ncu_kernels_line(kernels_csv, {"report": {"wl-stats": slow}})
assert status == "warn" and "median 4.000" in line, (status, line)
# nothing in common, no table, no time column
none = dict(stats, gpu_top_kernels=[stats["gpu_top_kernels"][3]])
status, line = r.ncu_kernels_line(kernels_csv, {"report": {"wl-stats": none}})
assert status == "warn" and "none of the report's 1 top compute kernels" in line, (status, line)
assert r.ncu_kernels_line("no table here", {})[0] == "warn"
assert r.ncu_kernels_line(kernels_csv.replace("gpu__time_duration.sum", "x"), {})[0] == "warn"
# a report without activity records (a CPU run) says so instead of crashing
status, line = r.ncu_kernels_line(kernels_csv, {"report": {"wl-stats": {
    "gpu_compute_time": {"value": None, "unit": "s", "reason": "no GPU"}}}})
assert status == "warn" and "no activity-record figures (no GPU)" in line, (status, line)
print("gpu_check_report ncu-kernels: ok")

# the command line gpu_check.sh uses: "STATUS LINE" from the two files
with tempfile.TemporaryDirectory() as d:
    csv_path, summary_path = os.path.join(d, "kernels.csv"), os.path.join(d, "summary.json")
    with open(csv_path, "w") as f:
        f.write(kernels_csv)
    with open(summary_path, "w") as f:
        json.dump({"report": {"wl-stats": stats}}, f)
    out = subprocess.run([sys.executable, SCRIPT, "ncu-kernels", csv_path, summary_path],
                         capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("pass profiled step under ncu: 4 kernels"), out
    out = subprocess.run([sys.executable, SCRIPT, "ncu-kernels", csv_path], capture_output=True, text=True)
    assert out.returncode != 0 and "ncu-kernels CSV SUMMARY" in out.stderr, out
print("gpu_check_report ncu-kernels command: ok")

# Bad usage and input: one line naming what is wrong, exit status 2, no traceback, nothing
# written; a check with nothing recorded has no verdict (it did not run), never a PASS.
def cli(*args):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True)


def refused(out, *names):
    script_checks.refused(out, 2, "[gpu_check_report] ERROR: ", *names)


with tempfile.TemporaryDirectory() as d:
    empty = os.path.join(d, "empty")
    os.mkdir(empty)
    out = cli("render", empty)
    refused(out, "no checks recorded", empty)
    assert "PASS" not in out.stdout and os.listdir(empty) == [], (out, os.listdir(empty))

    # missing arguments and folders
    refused(cli("figures"), "figures SUMMARY")
    refused(cli("same", "a.json"), "same A B")
    refused(cli("render"), "render OUT")
    refused(cli("meta"), "meta OUT")
    refused(cli("peak"), "peak GPU PRECISION")
    gone = os.path.join(d, "nodir")
    refused(cli("render", gone), gone)
    refused(cli("meta", gone, "a=b"), gone)
    refused(cli("record", gone, "x", "pass", "1", "d"), gone)
    assert not os.path.exists(gone)

    # SECONDS must be a finite number, 0 or more: a NaN would make gpu_check.json not JSON
    rec = os.path.join(d, "rec")
    os.mkdir(rec)
    for bad in ("abc", "nan", "inf", "-1"):
        refused(cli("record", rec, "x", "pass", bad, "d"), f"SECONDS '{bad}'")
    assert os.listdir(rec) == [], os.listdir(rec)
    nan_fig = os.path.join(d, "nan.json")
    with open(nan_fig, "w") as f:
        f.write('{"events_per_s": NaN}')
    refused(cli("record", rec, "x", "pass", "1", "d", nan_fig), nan_fig, "NaN")
    assert os.listdir(rec) == [], os.listdir(rec)

    # records written by hand or cut short are named with their line, and nothing rendered
    for text, why in [('{"name": "x", "status": "pass", "seconds": NaN, "detail": "d"}\n', "seconds"),
                      ("garbage\n", "line 1 is not JSON"),
                      ('{"name": "x", "status": "pass", "seconds": 1, "detail": "d"}\n{"name": "y"}\n',
                       "line 2 has no 'status'")]:
        with open(os.path.join(rec, "checks.jsonl"), "w") as f:
            f.write(text)
        refused(cli("render", rec), os.path.join(rec, "checks.jsonl"), why)
        assert not os.path.exists(os.path.join(rec, "gpu_check.json")), why

    # files that are not what the command reads
    for name, text in [("list.json", "[1, 2]"), ("empty.json", "{}"), ("nullrep.json", '{"report": null}'),
                       ("bad.json", "not json")]:
        path = os.path.join(d, name)
        with open(path, "w") as f:
            f.write(text)
        refused(cli("figures", path), path)
        refused(cli("counters", path), path)
    refused(cli("same", os.path.join(d, "empty.json"), os.path.join(d, "empty.json")), "empty.json")
    refused(cli("ncu-step", os.path.join(d, "none.csv"), os.path.join(d, "empty.json")), "none.csv")
    with open(os.path.join(rec, "checks.jsonl"), "w") as f:
        f.write('{"name": "x", "status": "pass", "seconds": 1, "detail": "d"}\n')
    with open(os.path.join(rec, "meta.json"), "w") as f:
        f.write("[1]")
    refused(cli("render", rec), "meta.json")
    refused(cli("meta", rec, "a=b"), "meta.json")
    assert sorted(os.listdir(rec)) == ["checks.jsonl", "meta.json"], os.listdir(rec)

    # the way gpu_check.sh uses it: strict JSON out, the verdict from the records
    ok = os.path.join(d, "ok")
    os.mkdir(ok)
    summary = os.path.join(d, "summary.json")
    with open(summary, "w") as f:
        json.dump(report(4e14, 0.98, 1e12, hop), f)
    figs = os.path.join(d, "figures.json")
    out = cli("figures", summary)
    assert out.returncode == 0, out
    with open(figs, "w") as f:
        f.write(out.stdout)
    assert cli("meta", ok, "mode=quick", "host=h").returncode == 0
    assert cli("record", ok, "precision-fp32", "pass", "1.25", "fine", figs).returncode == 0
    out = cli("render", ok)
    assert out.returncode == 0 and "verdict: PASS" in out.stdout, out
    doc = strict(os.path.join(ok, "gpu_check.json"))
    assert doc["verdict"] == "PASS" and doc["meta"]["host"] == "h" and len(doc["precision_table"]) == 1, doc
    assert cli("record", ok, "later", "fail", "0", "broke").returncode == 0
    # a render that cannot write its text file leaves the earlier pair as it was, no temporaries
    before = {n: open(os.path.join(ok, n)).read() for n in ("gpu_check.json", "gpu_check.txt")}
    os.mkdir(os.path.join(ok, "gpu_check.txt.tmp"))
    refused(cli("render", ok), "gpu_check.txt")
    os.rmdir(os.path.join(ok, "gpu_check.txt.tmp"))
    assert {n: open(os.path.join(ok, n)).read() for n in before} == before
    assert not [n for n in os.listdir(ok) if n.endswith(".tmp")], os.listdir(ok)
    out = cli("render", ok)
    assert out.returncode == 1 and "verdict: FAIL (first failure: later)" in out.stdout, out
    assert strict(os.path.join(ok, "gpu_check.json"))["first_failure"] == "later"
print("gpu_check_report bad input: ok")
