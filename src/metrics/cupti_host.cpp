#include "metrics/cupti_host.hpp"

#include <dlfcn.h>

#include <filesystem>

namespace hmb::metrics {

namespace {

std::string result_text(CUptiResult r) {
  const char* s = nullptr;
  cuptiGetResultString(r, &s);
  return s != nullptr ? s : "CUPTI error " + std::to_string(static_cast<int>(r));
}

CounterFailure failure_of(CUptiResult r) {
  switch (r) {
    case CUPTI_ERROR_INSUFFICIENT_PRIVILEGES:
    case CUPTI_ERROR_VIRTUALIZED_DEVICE_INSUFFICIENT_PRIVILEGES: return CounterFailure::permission;
    case CUPTI_ERROR_HARDWARE_BUSY:
    case CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED:
    case CUPTI_ERROR_OLD_PROFILER_API_INITIALIZED: return CounterFailure::busy;
    case CUPTI_ERROR_NOT_SUPPORTED:
    case CUPTI_ERROR_NOT_COMPATIBLE:
    case CUPTI_ERROR_VIRTUALIZED_DEVICE_NOT_SUPPORTED:
    case CUPTI_ERROR_CONFIDENTIAL_COMPUTING_NOT_SUPPORTED:
    case CUPTI_ERROR_CMP_DEVICE_NOT_SUPPORTED:
    case CUPTI_ERROR_MIG_DEVICE_NOT_SUPPORTED:
    case CUPTI_ERROR_SLI_DEVICE_NOT_SUPPORTED:
    case CUPTI_ERROR_WSL_DEVICE_NOT_SUPPORTED:
    case CUPTI_ERROR_INVALID_CHIP_NAME: return CounterFailure::unsupported;
    default: return CounterFailure::other;
  }
}

// CUPTI's host API loads libnvperf_host.so by name when it starts. The torch wheel keeps it
// beside libcupti, a folder the loader may not search for a library that CUPTI opens itself:
// loading it from there first lets CUPTI's lookup find the copy already loaded. When it is not
// there, CUPTI looks as it would anyway.
void preload_nvperf_host() {
  static const bool loaded = [] {
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(&cuptiGetResultString), &info) == 0 || info.dli_fname == nullptr) return false;
    const auto candidate = std::filesystem::path(info.dli_fname).parent_path() / "libnvperf_host.so";
    std::error_code ec;
    return std::filesystem::exists(candidate, ec) && dlopen(candidate.c_str(), RTLD_NOW | RTLD_GLOBAL) != nullptr;
  }();
  (void)loaded;
}

}  // namespace

std::string cupti_check(CUptiResult r, const std::string& what) {
  return r == CUPTI_SUCCESS ? std::string() : counter_failure_reason(failure_of(r), what, result_text(r));
}

CounterHost::~CounterHost() {
  if (host_ != nullptr) {
    CUpti_Profiler_Host_Deinitialize_Params deinit{};
    deinit.structSize = CUpti_Profiler_Host_Deinitialize_Params_STRUCT_SIZE;
    deinit.pHostObject = host_;
    cuptiProfilerHostDeinitialize(&deinit);
  }
}

std::string CounterHost::open(const std::string& chip, const std::uint8_t* availability) {
  if (host_ != nullptr) return "CUPTI: the counter host is already set up for chip " + chip_;
  preload_nvperf_host();
  chip_ = chip;
  CUpti_Profiler_Host_Initialize_Params init{};
  init.structSize = CUpti_Profiler_Host_Initialize_Params_STRUCT_SIZE;
  init.profilerType = CUPTI_PROFILER_TYPE_RANGE_PROFILER;
  init.pChipName = chip_.c_str();
  init.pCounterAvailabilityImage = availability;
  if (auto why = cupti_check(cuptiProfilerHostInitialize(&init), "initialising the host API for chip " + chip_);
      !why.empty())
    return why;
  host_ = init.pHostObject;

  // The metrics this chip has: for each quantity the first of its names; an optional one the
  // chip lacks is left out and named in the report.
  selection_ = select_counter_metrics([this](const char* name) {
    CUpti_Profiler_Host_GetMetricProperties_Params props{};
    props.structSize = CUpti_Profiler_Host_GetMetricProperties_Params_STRUCT_SIZE;
    props.pHostObject = host_;
    props.pMetricName = name;
    return cuptiProfilerHostGetMetricProperties(&props) == CUPTI_SUCCESS;
  });
  if (!selection_.required_missing.empty())
    return "CUPTI: chip " + chip_ + " has no metric " + selection_.required_missing +
           " (this GPU or CUPTI version does not allow the FLOP count)";

  CUpti_Profiler_Host_ConfigAddMetrics_Params add{};
  add.structSize = CUpti_Profiler_Host_ConfigAddMetrics_Params_STRUCT_SIZE;
  add.pHostObject = host_;
  add.ppMetricNames = selection_.names.data();
  add.numMetrics = selection_.names.size();
  if (auto why = cupti_check(cuptiProfilerHostConfigAddMetrics(&add), "adding the metrics"); !why.empty())
    return why;

  CUpti_Profiler_Host_GetConfigImageSize_Params size{};
  size.structSize = CUpti_Profiler_Host_GetConfigImageSize_Params_STRUCT_SIZE;
  size.pHostObject = host_;
  if (auto why = cupti_check(cuptiProfilerHostGetConfigImageSize(&size), "sizing the configuration"); !why.empty())
    return why;
  config_.resize(size.configImageSize);
  CUpti_Profiler_Host_GetConfigImage_Params image{};
  image.structSize = CUpti_Profiler_Host_GetConfigImage_Params_STRUCT_SIZE;
  image.pHostObject = host_;
  image.configImageSize = config_.size();
  image.pConfigImage = config_.data();
  if (auto why = cupti_check(cuptiProfilerHostGetConfigImage(&image), "making the configuration"); !why.empty())
    return why;

  CUpti_Profiler_Host_GetNumOfPasses_Params passes{};
  passes.structSize = CUpti_Profiler_Host_GetNumOfPasses_Params_STRUCT_SIZE;
  passes.configImageSize = config_.size();
  passes.pConfigImage = config_.data();
  if (auto why = cupti_check(cuptiProfilerHostGetNumOfPasses(&passes), "counting the passes"); !why.empty())
    return why;
  passes_ = static_cast<int>(passes.numOfPasses);
  return "";
}

std::string CounterHost::evaluate(const std::vector<std::uint8_t>& counter_data, CounterValues& out) const {
  if (host_ == nullptr) return "CUPTI: the counter host is not set up";
  std::vector<double> values(selection_.names.size(), 0.0);
  CUpti_Profiler_Host_EvaluateToGpuValues_Params eval{};
  eval.structSize = CUpti_Profiler_Host_EvaluateToGpuValues_Params_STRUCT_SIZE;
  eval.pHostObject = host_;
  eval.pCounterDataImage = counter_data.data();
  eval.counterDataImageSize = counter_data.size();
  eval.rangeIndex = 0;
  // The API takes a non-const array of const names; it only reads it.
  eval.ppMetricNames = const_cast<const char**>(selection_.names.data());
  eval.numMetrics = selection_.names.size();
  eval.pMetricValues = values.data();
  if (auto why = cupti_check(cuptiProfilerHostEvaluateToGpuValues(&eval), "evaluating the metrics"); !why.empty())
    return why;
  out.values.clear();
  for (size_t i = 0; i < selection_.names.size(); ++i) out.values[selection_.names[i]] = values[i];
  out.missing = selection_.missing;
  return "";
}

std::vector<std::string> CounterHost::supported_chips() {
  preload_nvperf_host();
  CUpti_Profiler_Host_GetSupportedChips_Params chips{};
  chips.structSize = CUpti_Profiler_Host_GetSupportedChips_Params_STRUCT_SIZE;
  std::vector<std::string> out;
  if (cuptiProfilerHostGetSupportedChips(&chips) != CUPTI_SUCCESS) return out;
  for (size_t i = 0; i < chips.numChips; ++i) out.emplace_back(chips.ppChipNames[i]);
  return out;
}

}  // namespace hmb::metrics
