#include "metrics/host_usage.hpp"

#include <sys/resource.h>

namespace hmb::metrics {

double process_cpu_seconds() {
  rusage u{};
  if (getrusage(RUSAGE_SELF, &u) != 0) return 0;
  auto s = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

void CpuUsageMeter::begin(double t) {
  if (open_) return;
  open_ = true;
  t0_ = t;
  cpu0_ = cpu_seconds_();
}

void CpuUsageMeter::pause(double t) {
  if (!open_) return;
  open_ = false;
  cpu_s_ += cpu_seconds_() - cpu0_;
  wall_s_ += t - t0_;
}

Figure CpuUsageMeter::busy_cores() const {
  if (!(wall_s_ > 0)) return Figure::absent("cores", "empty timed window");
  return Figure::of(cpu_s_ / wall_s_, "cores");
}

Figure CpuUsageMeter::utilisation() const {
  if (!(wall_s_ > 0)) return Figure::absent("fraction", "empty timed window");
  if (cores_ <= 0) return Figure::absent("fraction", "number of usable cores unknown");
  return Figure::of(cpu_s_ / wall_s_ / cores_, "fraction");
}

}  // namespace hmb::metrics
