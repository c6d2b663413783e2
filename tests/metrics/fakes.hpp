#pragma once
// Fakes shared by the metrics tests: a clock the test sets, and a device with nothing queued.
#include "metrics/window.hpp"

namespace hmb::metrics::testing {

struct FakeClock final : Clock {
  double t = 0;
  double now() override { return t; }
};

struct NoDevice final : DeviceSync {
  void synchronize() override {}
};

}  // namespace hmb::metrics::testing
