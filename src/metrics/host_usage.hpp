#pragma once
// The host side of the timed window, measured on every run: the process's CPU time (all its
// threads: LibTorch's, the loader's) over the window's open time.
//
//   busy cores       = process CPU time ÷ open time
//   CPU utilisation  = busy cores ÷ cores the process may use
#include <functional>

#include "metrics/figure.hpp"
#include "metrics/window.hpp"

namespace hmb::metrics {

// User plus system CPU time of this process so far, in seconds (getrusage).
double process_cpu_seconds();

class CpuUsageMeter final : public WindowObserver {
 public:
  // `usable_cores`: cores this process may run on; `cpu_seconds` reads the process's CPU time.
  explicit CpuUsageMeter(int usable_cores, std::function<double()> cpu_seconds = process_cpu_seconds)
      : cores_(usable_cores), cpu_seconds_(std::move(cpu_seconds)) {}
  void begin(double t) override;
  void pause(double t) override;
  void resume(double t) override { begin(t); }
  void end(double t) override { pause(t); }

  double cpu_seconds() const { return cpu_s_; }
  double open_seconds() const { return wall_s_; }
  Figure busy_cores() const;
  Figure utilisation() const;

 private:
  int cores_;
  std::function<double()> cpu_seconds_;
  bool open_ = false;
  double t0_ = 0, cpu0_ = 0, cpu_s_ = 0, wall_s_ = 0;
};

}  // namespace hmb::metrics
