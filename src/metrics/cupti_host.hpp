#pragma once
// CUPTI's profiler host API (cupti_profiler_host.h) for one chip: which of hep-mlbench's counter
// metrics the chip has, the configuration image and how many passes it needs, and the values of
// a decoded range. None of it needs a GPU, so the tests run it on the CPU for the chips of the
// GPUs hep-mlbench knows. Built with CUPTI only (HMB_WITH_CUPTI=ON).
#include <cupti.h>
#include <cupti_profiler_host.h>

#include <cstdint>
#include <string>
#include <vector>

#include "metrics/gpu_counters.hpp"

namespace hmb::metrics {

// "" when `r` is CUPTI_SUCCESS, else the reason of the absent counter figures, naming `what`
// failed, CUPTI's message and the fix where there is one.
std::string cupti_check(CUptiResult r, const std::string& what);

class CounterHost {
 public:
  CounterHost() = default;
  ~CounterHost();
  CounterHost(const CounterHost&) = delete;
  CounterHost& operator=(const CounterHost&) = delete;

  // Sets up for `chip` (CUPTI's name, e.g. "GH100"): selects the metrics (select_counter_metrics)
  // and makes the configuration. `availability`: the device's counter-availability image, or
  // null where there is no device. "" on success, else the reason.
  std::string open(const std::string& chip, const std::uint8_t* availability);

  const CounterSelection& selection() const { return selection_; }
  const std::vector<std::uint8_t>& config() const { return config_; }
  int passes() const { return passes_; }

  // The selected metrics' values in range 0 of a decoded counter-data image.
  std::string evaluate(const std::vector<std::uint8_t>& counter_data, CounterValues& out) const;

  // The chip names this CUPTI's host API knows.
  static std::vector<std::string> supported_chips();

 private:
  CUpti_Profiler_Host_Object* host_ = nullptr;
  std::string chip_;
  CounterSelection selection_;
  std::vector<std::uint8_t> config_;
  int passes_ = 0;
};

}  // namespace hmb::metrics
