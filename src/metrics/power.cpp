#include "metrics/power.hpp"

#include <algorithm>
#include <chrono>

namespace hmb::metrics {

namespace {
bool inside(double t, const std::vector<TimeSpan>& open) {
  return std::any_of(open.begin(), open.end(), [t](const TimeSpan& s) { return t >= s.begin && t <= s.end; });
}
}  // namespace

PowerSummary absent_power(const std::string& reason) {
  PowerSummary p;
  p.memory_used_peak = Figure::absent("MiB", reason);
  p.mean_power = Figure::absent("W", reason);
  p.max_power = Figure::absent("W", reason);
  p.energy = Figure::absent("J", reason);
  p.sm_clock = Figure::absent("MHz", reason);
  p.temperature_max = Figure::absent("degC", reason);
  return p;
}

PowerSummary summarise_power(const std::string& gpu_name, const std::vector<GpuReading>& readings,
                             const std::vector<TimeSpan>& open, const std::vector<GpuReading>& edges) {
  PowerSummary p = absent_power("no reading inside the timed window");
  p.gpu_name = gpu_name;
  std::vector<GpuReading> all = readings;
  all.insert(all.end(), edges.begin(), edges.end());
  std::optional<double> mem, pmax, temp;
  double clock_sum = 0;
  std::int64_t clock_n = 0;
  std::vector<PowerSample> power;
  for (const auto& r : all) {
    if (!inside(r.t, open)) continue;
    ++p.readings;
    if (r.memory_used_mb) mem = std::max(mem.value_or(0.0), *r.memory_used_mb);
    if (r.temperature_c) temp = std::max(temp.value_or(-1e9), *r.temperature_c);
    if (r.power_w) {
      pmax = std::max(pmax.value_or(0.0), *r.power_w);
      power.push_back({r.t, *r.power_w});
    }
    if (r.sm_clock_mhz) {
      clock_sum += *r.sm_clock_mhz;
      ++clock_n;
    }
  }
  const std::string none = p.readings == 0 ? "no reading inside the timed window" : "the GPU does not report it";
  p.memory_used_peak = Figure::maybe(mem, "MiB", none);
  p.temperature_max = Figure::maybe(temp, "degC", none);
  p.max_power = Figure::maybe(pmax, "W", none);
  p.sm_clock = Figure::maybe(clock_n > 0 ? std::optional<double>(clock_sum / static_cast<double>(clock_n)) : std::nullopt,
                             "MHz", none);
  // Energy: the counter where both edge readings of every span have it, else the integral.
  double open_s = 0;
  for (const auto& s : open) open_s += s.length();
  bool counter = !open.empty() && edges.size() == 2 * open.size();
  double counter_j = 0;
  for (size_t i = 0; counter && i < open.size(); ++i) {
    const auto& a = edges[2 * i];
    const auto& b = edges[2 * i + 1];
    if (!a.energy_mj || !b.energy_mj || *b.energy_mj < *a.energy_mj) {
      counter = false;
    } else {
      counter_j += (*b.energy_mj - *a.energy_mj) / 1e3;
    }
  }
  std::optional<double> joules;
  if (counter) {
    joules = counter_j;
    p.energy = Figure::of(counter_j, "J", "NVML total-energy counter");
  } else if (auto integral = integrate_power(power, open)) {
    joules = integral;
    p.energy = Figure::of(*integral, "J", "integral of NVML power readings");
  } else {
    p.energy = Figure::absent("J", none);
  }
  p.mean_power = joules && open_s > 0 ? Figure::of(*joules / open_s, "W") : Figure::absent("W", none);
  return p;
}

PowerSampler::PowerSampler(std::unique_ptr<GpuProbe> probe, std::string why, Clock& clock, double period_s)
    : probe_(std::move(probe)), why_(std::move(why)), clock_(clock), period_s_(period_s) {}

PowerSampler::~PowerSampler() { stop(); }

GpuReading PowerSampler::read_at(double t) {
  GpuReading r;
  try {
    r = probe_->read();
  } catch (const std::exception&) {
    // A failed reading is a missing one.
  }
  r.t = t;
  return r;
}

void PowerSampler::begin(double t) {
  if (!probe_) return;
  auto r = read_at(t);
  std::lock_guard<std::mutex> lock(mutex_);
  if (is_open_) return;
  is_open_ = true;
  open_.push_back({t, t});
  edges_.push_back(r);
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
}

void PowerSampler::pause(double t) {
  if (!probe_) return;
  auto r = read_at(t);
  std::lock_guard<std::mutex> lock(mutex_);
  if (!is_open_) return;
  is_open_ = false;
  open_.back().end = t;
  edges_.push_back(r);
}

void PowerSampler::end(double t) {
  pause(t);
  stop();
}

void PowerSampler::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PowerSampler::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    if (is_open_) {
      lock.unlock();
      auto r = read_at(clock_.now());
      lock.lock();
      if (is_open_) readings_.push_back(r);
    }
    wake_.wait_for(lock, std::chrono::duration<double>(period_s_), [this] { return stopping_; });
  }
}

PowerSummary PowerSampler::summary() const {
  if (!probe_) return absent_power(why_);
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<TimeSpan> open = open_;
  std::vector<GpuReading> edges = edges_;
  if (is_open_) {  // a span still open is not a measurement
    edges.pop_back();
    open.pop_back();
  }
  return summarise_power(probe_->name(), readings_, open, edges);
}

}  // namespace hmb::metrics
