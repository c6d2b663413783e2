#pragma once
// The GPU's power, energy, memory, clock and temperature over the timed window, from a light
// background thread that reads a GpuProbe (NVML on a GPU) every `period` seconds, plus one
// reading at each edge of the window. The arithmetic is plain code (summarise_power), tested
// with made-up readings; nvml_probe.cpp reads the driver, nvml_probe_stub.cpp stands in for
// builds without NVML.
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "metrics/figure.hpp"
#include "metrics/formulas.hpp"
#include "metrics/window.hpp"

namespace hmb::metrics {

// One reading of the GPU; what the GPU cannot tell is left empty.
struct GpuReading {
  double t = 0;                          // host clock, s
  std::optional<double> power_w;         // board power draw
  std::optional<double> energy_mj;       // total-energy counter since the driver loaded, mJ
  std::optional<double> memory_used_mb;  // device memory in use (all processes), MiB
  std::optional<double> sm_clock_mhz;
  std::optional<double> temperature_c;
};

class GpuProbe {
 public:
  virtual ~GpuProbe() = default;
  virtual std::string name() const = 0;
  virtual GpuReading read() = 0;  // `t` is set by the caller; must be safe from any thread
};

// NVML for CUDA device `cuda_device` (found by its PCI bus id), or nullptr with `why` set:
// "no GPU driver (libnvidia-ml.so.1 not found)", "built without NVML", ...
std::unique_ptr<GpuProbe> make_nvml_probe(int cuda_device, std::string& why);

struct PowerSummary {
  std::string gpu_name;
  Figure memory_used_peak;  // MiB
  Figure mean_power;        // W: energy ÷ open time
  Figure max_power;         // W
  Figure energy;            // J, source: counter or integral
  Figure sm_clock;          // MHz, mean of the readings
  Figure temperature_max;   // °C
  std::int64_t readings = 0;
};

// The figures of `readings` over the window's open spans. Energy: the total-energy counter's
// increase over each span where every edge reading has it, else the integral of power
// (integrate_power). `edges` holds the readings taken at each span's begin and end, in order.
PowerSummary summarise_power(const std::string& gpu_name, const std::vector<GpuReading>& readings,
                             const std::vector<TimeSpan>& open, const std::vector<GpuReading>& edges);

// Every figure absent with `reason`.
PowerSummary absent_power(const std::string& reason);

class PowerSampler final : public WindowObserver {
 public:
  // `probe` may be null: then every figure is absent with `why`.
  PowerSampler(std::unique_ptr<GpuProbe> probe, std::string why, Clock& clock, double period_s);
  ~PowerSampler() override;
  PowerSampler(const PowerSampler&) = delete;
  PowerSampler& operator=(const PowerSampler&) = delete;

  void begin(double t) override;
  void pause(double t) override;
  void resume(double t) override { begin(t); }
  void end(double t) override;

  PowerSummary summary() const;

 private:
  GpuReading read_at(double t);
  void run();
  void stop();
  std::unique_ptr<GpuProbe> probe_;
  std::string why_;
  Clock& clock_;
  double period_s_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
  std::vector<GpuReading> readings_, edges_;
  std::vector<TimeSpan> open_;
  bool is_open_ = false;
};

}  // namespace hmb::metrics
