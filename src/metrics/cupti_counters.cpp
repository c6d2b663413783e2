// make_counter_sampler() of a build with CUPTI: the GPU's hardware counters over the sampled
// timed steps, with CUPTI's range profiler (cupti_range_profiler.h, CUDA 12.6 and later) and its
// host API (cupti_profiler_host.h) that turns metric names into a configuration and counter
// data into values. User range (one range per pass, pushed and popped around the pass's steps),
// user replay (each pass runs its own steps). Every failure becomes the figures' reason; nothing
// here may throw into the trainer.
//
// Written against the CUDA 13.0 headers; it compiles and links, and has not yet run on a GPU.
// Its host-API half (cupti_host.cpp) needs no GPU and is tested on the CPU for known chips.
#include <cuda.h>
#include <cuda_runtime_api.h>
#include <cupti.h>
#include <cupti_profiler_target.h>
#include <cupti_range_profiler.h>
#include <cupti_target.h>

#include <cstdint>
#include <vector>

#include "metrics/cupti_host.hpp"
#include "metrics/gpu_counters.hpp"

namespace hmb::metrics {

namespace {

// The current CUDA context, through the runtime's driver entry points (hep-mlbench does not link
// the driver library itself: LibTorch loads it).
std::string current_context(CUcontext& ctx) {
  using GetCurrent = CUresult (*)(CUcontext*);
  void* fn = nullptr;
  cudaDriverEntryPointQueryResult found = cudaDriverEntryPointSymbolNotFound;
  const cudaError_t e = cudaGetDriverEntryPointByVersion("cuCtxGetCurrent", &fn, 12000, cudaEnableDefault, &found);
  if (e != cudaSuccess || found != cudaDriverEntryPointSuccess || fn == nullptr)
    return std::string("CUDA: cuCtxGetCurrent not found (") + cudaGetErrorString(e) + ")";
  ctx = nullptr;
  const CUresult r = reinterpret_cast<GetCurrent>(fn)(&ctx);
  if (r != CUDA_SUCCESS || ctx == nullptr)
    return "CUDA: no current context on the training thread (cuCtxGetCurrent " + std::to_string(static_cast<int>(r)) +
           ")";
  return "";
}

class CuptiRangeSession final : public CounterSession {
 public:
  explicit CuptiRangeSession(int device) : device_(device) {}

  ~CuptiRangeSession() override { close(); }

  std::string open() override {
    if (auto why = current_context(ctx_); !why.empty()) return why;

    CUpti_Profiler_Initialize_Params init{};
    init.structSize = CUpti_Profiler_Initialize_Params_STRUCT_SIZE;
    if (auto why = cupti_check(cuptiProfilerInitialize(&init), "initialising the profiler"); !why.empty()) return why;
    profiler_initialised_ = true;

    CUpti_Device_GetChipName_Params chip{};
    chip.structSize = CUpti_Device_GetChipName_Params_STRUCT_SIZE;
    chip.deviceIndex = static_cast<size_t>(device_);
    if (auto why = cupti_check(cuptiDeviceGetChipName(&chip), "reading the chip name"); !why.empty()) return why;
    chip_ = chip.pChipName != nullptr ? chip.pChipName : "";

    // Which counters this device and driver make available (needs the profiling permission).
    CUpti_Profiler_GetCounterAvailability_Params avail{};
    avail.structSize = CUpti_Profiler_GetCounterAvailability_Params_STRUCT_SIZE;
    avail.ctx = ctx_;
    if (auto why = cupti_check(cuptiProfilerGetCounterAvailability(&avail), "querying counter availability");
        !why.empty())
      return why;
    availability_.resize(avail.counterAvailabilityImageSize);
    avail.pCounterAvailabilityImage = availability_.data();
    if (auto why = cupti_check(cuptiProfilerGetCounterAvailability(&avail), "reading counter availability");
        !why.empty())
      return why;

    if (auto why = host_.open(chip_, availability_.data()); !why.empty()) return why;

    CUpti_RangeProfiler_Enable_Params enable{};
    enable.structSize = CUpti_RangeProfiler_Enable_Params_STRUCT_SIZE;
    enable.ctx = ctx_;
    if (auto why = cupti_check(cuptiRangeProfilerEnable(&enable), "enabling the range profiler");
        !why.empty())
      return why;
    profiler_ = enable.pRangeProfilerObject;

    // Room for one range (one nesting level).
    CUpti_RangeProfiler_GetCounterDataSize_Params data_size{};
    data_size.structSize = CUpti_RangeProfiler_GetCounterDataSize_Params_STRUCT_SIZE;
    data_size.pRangeProfilerObject = profiler_;
    // The API takes a non-const array of const names; it only reads it.
    data_size.pMetricNames = const_cast<const char**>(host_.selection().names.data());
    data_size.numMetrics = host_.selection().names.size();
    data_size.maxNumOfRanges = 1;
    data_size.maxNumRangeTreeNodes = 1;
    if (auto why = cupti_check(cuptiRangeProfilerGetCounterDataSize(&data_size), "sizing the counter data");
        !why.empty())
      return why;
    counter_data_.resize(data_size.counterDataSize);
    CUpti_RangeProfiler_CounterDataImage_Initialize_Params data_init{};
    data_init.structSize = CUpti_RangeProfiler_CounterDataImage_Initialize_Params_STRUCT_SIZE;
    data_init.pRangeProfilerObject = profiler_;
    data_init.counterDataSize = counter_data_.size();
    data_init.pCounterData = counter_data_.data();
    if (auto why =
            cupti_check(cuptiRangeProfilerCounterDataImageInitialize(&data_init), "initialising the counter data");
        !why.empty())
      return why;

    CUpti_RangeProfiler_SetConfig_Params set{};
    set.structSize = CUpti_RangeProfiler_SetConfig_Params_STRUCT_SIZE;
    set.pRangeProfilerObject = profiler_;
    set.configSize = host_.config().size();
    set.pConfig = host_.config().data();
    set.counterDataImageSize = counter_data_.size();
    set.pCounterDataImage = counter_data_.data();
    set.range = CUPTI_UserRange;
    set.replayMode = CUPTI_UserReplay;
    set.maxRangesPerPass = 1;
    set.numNestingLevels = 1;
    set.minNestingLevel = 1;
    set.passIndex = 0;
    set.targetNestingLevel = 1;
    return cupti_check(cuptiRangeProfilerSetConfig(&set), "configuring the range profiler");
  }

  int passes() const override { return host_.passes(); }

  std::string begin_pass() override {
    CUpti_RangeProfiler_Start_Params start{};
    start.structSize = CUpti_RangeProfiler_Start_Params_STRUCT_SIZE;
    start.pRangeProfilerObject = profiler_;
    if (auto why = cupti_check(cuptiRangeProfilerStart(&start), "starting a pass"); !why.empty()) return why;
    CUpti_RangeProfiler_PushRange_Params push{};
    push.structSize = CUpti_RangeProfiler_PushRange_Params_STRUCT_SIZE;
    push.pRangeProfilerObject = profiler_;
    push.pRangeName = "sampled timed steps";
    return cupti_check(cuptiRangeProfilerPushRange(&push), "pushing the range");
  }

  std::string end_pass(bool& all_passes_done) override {
    CUpti_RangeProfiler_PopRange_Params pop{};
    pop.structSize = CUpti_RangeProfiler_PopRange_Params_STRUCT_SIZE;
    pop.pRangeProfilerObject = profiler_;
    const auto why_pop = cupti_check(cuptiRangeProfilerPopRange(&pop), "popping the range");
    CUpti_RangeProfiler_Stop_Params stop{};
    stop.structSize = CUpti_RangeProfiler_Stop_Params_STRUCT_SIZE;
    stop.pRangeProfilerObject = profiler_;
    const auto why_stop = cupti_check(cuptiRangeProfilerStop(&stop), "ending a pass");
    all_passes_done = stop.isAllPassSubmitted != 0;
    return !why_pop.empty() ? why_pop : why_stop;
  }

  std::string read(CounterValues& out) override {
    // Decoding synchronises the context; the sampler calls it at a pause or the window's end,
    // where the window has synchronised already.
    CUpti_RangeProfiler_DecodeData_Params decode{};
    decode.structSize = CUpti_RangeProfiler_DecodeData_Params_STRUCT_SIZE;
    decode.pRangeProfilerObject = profiler_;
    if (auto why = cupti_check(cuptiRangeProfilerDecodeData(&decode), "decoding the counter data"); !why.empty())
      return why;
    if (decode.numOfRangeDropped > 0) return "CUPTI: the sampled range was dropped (counter data full)";

    CUpti_RangeProfiler_GetCounterDataInfo_Params info{};
    info.structSize = CUpti_RangeProfiler_GetCounterDataInfo_Params_STRUCT_SIZE;
    info.pCounterDataImage = counter_data_.data();
    info.counterDataImageSize = counter_data_.size();
    if (auto why = cupti_check(cuptiRangeProfilerGetCounterDataInfo(&info), "reading the counter data"); !why.empty())
      return why;
    if (info.numTotalRanges < 1) return "CUPTI: the counter data holds no range";

    if (auto why = host_.evaluate(counter_data_, out); !why.empty()) return why;
    close();
    return "";
  }

 private:
  void close() {
    if (profiler_ != nullptr) {
      CUpti_RangeProfiler_Disable_Params disable{};
      disable.structSize = CUpti_RangeProfiler_Disable_Params_STRUCT_SIZE;
      disable.pRangeProfilerObject = profiler_;
      cuptiRangeProfilerDisable(&disable);
      profiler_ = nullptr;
    }
    if (profiler_initialised_) {
      CUpti_Profiler_DeInitialize_Params deinit{};
      deinit.structSize = CUpti_Profiler_DeInitialize_Params_STRUCT_SIZE;
      cuptiProfilerDeInitialize(&deinit);
      profiler_initialised_ = false;
    }
  }

  int device_ = 0;
  CUcontext ctx_ = nullptr;
  bool profiler_initialised_ = false;
  std::string chip_;
  std::vector<std::uint8_t> availability_, counter_data_;
  CounterHost host_;  // the metrics, the configuration and the evaluation (cupti_host.cpp)
  CUpti_RangeProfiler_Object* profiler_ = nullptr;
};

}  // namespace

std::unique_ptr<CounterSampler> make_counter_sampler(bool on_gpu, bool enabled, int cuda_device, CounterPlan plan) {
  const auto why = counter_absence(on_gpu, enabled, true);
  if (!why.empty()) return std::make_unique<CounterSampler>(nullptr, plan, why);
  try {
    return std::make_unique<CounterSampler>(std::make_unique<CuptiRangeSession>(cuda_device), plan);
  } catch (const std::exception& e) {
    return std::make_unique<CounterSampler>(nullptr, plan, std::string("CUPTI: ") + e.what());
  }
}

}  // namespace hmb::metrics
