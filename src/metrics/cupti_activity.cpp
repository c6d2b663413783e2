// make_gpu_activity() of a build with CUPTI: activity records of kernels (concurrent), copies
// and memsets, gathered while the timed window is open. CUPTI takes one subscriber per process:
// when another tool holds it, or a permission is missing, the figures say so and training goes
// on. Nothing here may throw into the trainer.
#include <cupti.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <mutex>

#include "metrics/gpu_activity.hpp"

namespace hmb::metrics {

namespace {
constexpr size_t kBufferBytes = 8 << 20;  // per CUPTI buffer
constexpr size_t kMaxTraceRecords = 200000;
constexpr CUpti_ActivityKind kKinds[] = {CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL, CUPTI_ACTIVITY_KIND_MEMCPY,
                                         CUPTI_ACTIVITY_KIND_MEMSET};

std::string cupti_text(CUptiResult r) {
  const char* s = nullptr;
  cuptiGetResultString(r, &s);
  std::string text = s != nullptr ? s : "CUPTI error " + std::to_string(static_cast<int>(r));
  if (r == CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED)
    text += " (another profiler, such as Nsight Systems, holds CUPTI)";
  if (r == CUPTI_ERROR_INSUFFICIENT_PRIVILEGES) text += " (missing permission)";
  return text;
}

const char* memcpy_name(std::uint8_t kind) {
  switch (kind) {
    case CUPTI_ACTIVITY_MEMCPY_KIND_HTOD: return "memcpy HtoD";
    case CUPTI_ACTIVITY_MEMCPY_KIND_DTOH: return "memcpy DtoH";
    case CUPTI_ACTIVITY_MEMCPY_KIND_DTOD: return "memcpy DtoD";
    case CUPTI_ACTIVITY_MEMCPY_KIND_PTOP: return "memcpy PtoP";
    default: return "memcpy";
  }
}

class CuptiActivity;
CuptiActivity* g_active = nullptr;  // CUPTI's buffer callbacks are plain functions
std::mutex g_mutex;

class CuptiActivity final : public GpuActivity {
 public:
  explicit CuptiActivity(bool keep_trace) : keep_trace_(keep_trace) {
    const CUptiResult r = cuptiActivityRegisterCallbacks(&CuptiActivity::requested, &CuptiActivity::completed);
    if (r != CUPTI_SUCCESS) {
      why_ = "CUPTI: " + cupti_text(r);
      return;
    }
    std::lock_guard<std::mutex> lock(g_mutex);
    g_active = this;
    registered_ = true;
  }

  ~CuptiActivity() override {
    if (!registered_) return;
    disable();
    cuptiActivityFlushAll(1);
    std::lock_guard<std::mutex> lock(g_mutex);
    g_active = nullptr;
  }

  std::string unavailable() const override {
    std::lock_guard<std::mutex> lock(g_mutex);
    return why_;
  }

  // Enabling the record kinds costs time (the first time most): done before the window's clock
  // is read; records from before the window's edge are clipped away.
  void prepare() override { enable(); }
  void begin(double t) override { open(t); }
  void resume(double t) override { open(t); }
  void pause(double t) override { close(t); }
  void end(double t) override { close(t); }

  ActivitySummary summary(size_t top_n) const override {
    std::lock_guard<std::mutex> lock(g_mutex);
    auto s = acc_.summary(top_n);
    return s;
  }

  std::vector<TraceSpan> trace_spans(double host_from, double host_to) const override {
    std::lock_guard<std::mutex> lock(g_mutex);
    std::vector<TraceSpan> out;
    for (const auto& r : trace_) {
      const double b = to_host(r.begin_ns), e = to_host(r.end_ns);
      if (e < host_from || b > host_to) continue;
      const char* cat = r.kind == ActivityKind::copy ? (r.name == "memset" ? "memset" : "memcpy")
                        : r.kind == ActivityKind::communication ? "nccl" : "kernel";
      out.push_back({readable_kernel_name(r.name), cat, "GPU stream " + std::to_string(r.stream), b, e});
    }
    return out;
  }

 private:
  void enable() {
    if (!unavailable().empty() || enabled_) return;
    for (auto kind : kKinds) {
      const CUptiResult r = cuptiActivityEnable(kind);
      if (r != CUPTI_SUCCESS) {
        disable();
        std::lock_guard<std::mutex> lock(g_mutex);
        why_ = "CUPTI: enabling activity records: " + cupti_text(r);
        spdlog::warn("GPU activity: {}; the GPU busy figures are left out", why_);
        return;
      }
    }
    enabled_ = true;
  }

  void open(double host_t) {
    enable();  // where prepare() was not called
    if (!unavailable().empty()) return;
    // The device clock against the host's (the window's SteadyClock), read back to back; the
    // window's edges are then the host's, on the device clock, so that the busy fraction is
    // over the same time as the throughput.
    std::uint64_t ts = 0;
    cuptiGetTimestamp(&ts);
    const double host_now = SteadyClock().now();
    std::lock_guard<std::mutex> lock(g_mutex);
    offset_ns_ = static_cast<std::int64_t>(ts) - static_cast<std::int64_t>(host_now * 1e9);
    acc_.open(to_device(host_t));
  }

  void close(double host_t) {
    if (!unavailable().empty()) return;
    {
      std::lock_guard<std::mutex> lock(g_mutex);
      acc_.close(to_device(host_t));
    }
    disable();
    const CUptiResult r = cuptiActivityFlushAll(1);  // delivers the window's records now
    if (r != CUPTI_SUCCESS) spdlog::warn("GPU activity: flushing records: {}", cupti_text(r));
    std::lock_guard<std::mutex> lock(g_mutex);
    if (dropped_ > 0 && why_.empty())
      spdlog::warn("GPU activity: CUPTI dropped {} records (buffers full); busy figures are a lower bound", dropped_);
  }

  void disable() {
    for (auto kind : kKinds) cuptiActivityDisable(kind);
    enabled_ = false;
  }

  double to_host(std::int64_t ns) const { return static_cast<double>(ns - offset_ns_) / 1e9; }
  std::int64_t to_device(double host_s) const { return offset_ns_ + static_cast<std::int64_t>(host_s * 1e9); }

  // Called by CUPTI under g_mutex (see completed()).
  void take(const ActivityRecord& r) {
    acc_.add(r);
    if (keep_trace_ && trace_.size() < kMaxTraceRecords) trace_.push_back(r);
  }

  static void CUPTIAPI requested(uint8_t** buffer, size_t* size, size_t* max_records) {
    *buffer = static_cast<uint8_t*>(std::aligned_alloc(8, kBufferBytes));
    *size = *buffer != nullptr ? kBufferBytes : 0;
    *max_records = 0;
  }

  static void CUPTIAPI completed(CUcontext ctx, uint32_t stream, uint8_t* buffer, size_t /*size*/, size_t valid) {
    {
      std::lock_guard<std::mutex> lock(g_mutex);
      CUpti_Activity* rec = nullptr;
      while (g_active != nullptr && cuptiActivityGetNextRecord(buffer, valid, &rec) == CUPTI_SUCCESS) {
        ActivityRecord r;
        if (rec->kind == CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL || rec->kind == CUPTI_ACTIVITY_KIND_KERNEL) {
          // Kernel10: in the headers of CUDA 13.0 (current) and 13.2 (deprecated, beside Kernel11);
          // start, end, streamId and name sit at the same offsets in both.
          const auto* k = reinterpret_cast<const CUpti_ActivityKernel10*>(rec);
          r = {static_cast<std::int64_t>(k->start), static_cast<std::int64_t>(k->end), k->streamId,
               classify_kernel(k->name != nullptr ? k->name : ""), k->name != nullptr ? k->name : "?"};
        } else if (rec->kind == CUPTI_ACTIVITY_KIND_MEMCPY) {
          const auto* m = reinterpret_cast<const CUpti_ActivityMemcpy6*>(rec);
          r = {static_cast<std::int64_t>(m->start), static_cast<std::int64_t>(m->end), m->streamId,
               ActivityKind::copy, memcpy_name(m->copyKind)};
        } else if (rec->kind == CUPTI_ACTIVITY_KIND_MEMSET) {
          const auto* m = reinterpret_cast<const CUpti_ActivityMemset4*>(rec);
          r = {static_cast<std::int64_t>(m->start), static_cast<std::int64_t>(m->end), m->streamId,
               ActivityKind::copy, "memset"};
        } else {
          continue;
        }
        g_active->take(r);
      }
      size_t dropped = 0;
      if (g_active != nullptr && cuptiActivityGetNumDroppedRecords(ctx, stream, &dropped) == CUPTI_SUCCESS)
        g_active->dropped_ += dropped;
    }
    std::free(buffer);
  }

  bool keep_trace_ = false;
  bool registered_ = false;
  bool enabled_ = false;  // the record kinds are enabled
  std::string why_;
  ActivityAccumulator acc_;
  std::vector<ActivityRecord> trace_;
  std::int64_t offset_ns_ = 0;
  size_t dropped_ = 0;
};
}  // namespace

std::unique_ptr<GpuActivity> make_gpu_activity(bool on_gpu, bool enabled, bool keep_trace) {
  if (!on_gpu) return std::make_unique<AbsentGpuActivity>("no GPU");
  if (!enabled) return std::make_unique<AbsentGpuActivity>("turned off (--gpu-activity false)");
  try {
    auto a = std::make_unique<CuptiActivity>(keep_trace);
    const auto why = a->unavailable();
    if (!why.empty()) {
      spdlog::warn("GPU activity: {}; the GPU busy figures are left out", why);
      return std::make_unique<AbsentGpuActivity>(why);
    }
    return a;
  } catch (const std::exception& e) {
    return std::make_unique<AbsentGpuActivity>(std::string("CUPTI: ") + e.what());
  }
}

}  // namespace hmb::metrics
