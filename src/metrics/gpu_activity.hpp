#pragma once
// What the GPU did inside the timed window, from activity records (CUPTI on a GPU): kernels on
// every stream, copies and memsets, each with its device timestamps.
//
//   busy time          | ∪ kernels ∩ window |          (compute and communication kernels)
//   compute time       | ∪ compute kernels ∩ window |
//   communication time | ∪ NCCL kernels ∩ window |    (told apart by name)
//   copy time          | ∪ memcpy, memset ∩ window |
//
// ActivityAccumulator is the arithmetic (plain code, tested on the CPU); GpuActivity is the
// window observer that feeds it: cupti_activity.cpp where hep-mlbench is built with CUPTI,
// cupti_activity_stub.cpp otherwise.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "metrics/intervals.hpp"
#include "metrics/trace.hpp"
#include "metrics/utilisation_record.hpp"
#include "metrics/window.hpp"

namespace hmb::metrics {

enum class ActivityKind { compute, communication, copy };
const char* to_string(ActivityKind k);

// A kernel is communication when its name says NCCL (NCCL names its kernels ncclKernel_...,
// ncclDevKernel_...), compute otherwise.
ActivityKind classify_kernel(std::string_view name);

// A mangled kernel name as a person reads it (demangled; long names shortened).
std::string readable_kernel_name(const std::string& name);

struct ActivityRecord {
  std::int64_t begin_ns = 0, end_ns = 0;  // device timestamps
  std::uint32_t stream = 0;
  ActivityKind kind = ActivityKind::compute;
  std::string name;                        // kernel name (mangled), "memcpy HtoD", "memset"
};

struct ActivitySummary {
  double window_s = 0;          // the window's open time on the device clock
  double busy_s = 0, compute_s = 0, communication_s = 0, copy_s = 0;
  std::int64_t kernels = 0;     // kernel launches inside the window
  std::int64_t copies = 0;      // copies and memsets inside the window
  std::vector<KernelTime> top;  // by time, longest first
};

class ActivityAccumulator {
 public:
  // The window's edges on the device clock: open at begin/resume, close at pause/end.
  void open(std::int64_t t_ns);
  void close(std::int64_t t_ns);
  // A record, in any order and at any time (CUPTI delivers buffers late): it counts for the
  // part of it inside the window's open spans (a span still open extends to the future).
  void add(const ActivityRecord& r);
  ActivitySummary summary(size_t top_n) const;
  const std::vector<Span>& window() const { return window_; }

 private:
  std::int64_t inside(const Span& s) const;
  void fold();
  struct NameTotal {
    ActivityKind kind = ActivityKind::compute;
    std::int64_t ns = 0, count = 0;
  };
  std::vector<Span> window_;      // closed spans
  bool is_open_ = false;
  std::int64_t open_since_ = 0;
  std::vector<Span> pending_[3];  // per kind, not yet folded into the unions
  SpanUnion union_[3];
  std::unordered_map<std::string, NameTotal> by_name_;
};

// The window observer behind the figures: records while the window is open.
class GpuActivity : public WindowObserver {
 public:
  // Empty when it measures; else why not ("no GPU", "CUPTI: ...").
  virtual std::string unavailable() const = 0;
  virtual ActivitySummary summary(size_t top_n) const = 0;
  // Kernels and copies between two host times, for the trace (host clock, seconds).
  virtual std::vector<TraceSpan> trace_spans(double host_from, double host_to) const = 0;
};

// A GpuActivity that measures nothing and says why.
class AbsentGpuActivity final : public GpuActivity {
 public:
  explicit AbsentGpuActivity(std::string why) : why_(std::move(why)) {}
  std::string unavailable() const override { return why_; }
  ActivitySummary summary(size_t /*top_n*/) const override { return {}; }
  std::vector<TraceSpan> trace_spans(double, double) const override { return {}; }

 private:
  std::string why_;
};

// CUPTI activity records of the training GPU (cupti_activity.cpp), or an AbsentGpuActivity:
// on the CPU ("no GPU"), when turned off, in a build without CUPTI, or when CUPTI refuses.
// The window's edges carry the host clock's (SteadyClock's) time; the records of the first
// kernels are kept for the trace when `keep_trace`.
std::unique_ptr<GpuActivity> make_gpu_activity(bool on_gpu, bool enabled, bool keep_trace = false);

}  // namespace hmb::metrics
