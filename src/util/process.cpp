#include "util/process.hpp"

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <ctime>

#include "util/error.hpp"

extern char** environ;

namespace hmb {

namespace {
std::atomic<int> g_stop{0};
std::atomic<std::int64_t> g_first_stop_ns{0};

// Temporary files to remove on a forced exit. Slots are claimed with `used`, and the handler
// reads only slots whose path is complete (`ready`): no allocation, nothing but unlink there.
constexpr int kTempSlots = 8;
struct TempSlot {
  std::atomic<bool> used{false};
  std::atomic<bool> ready{false};
  char path[4096] = {};
};
TempSlot g_temp[kTempSlots];

std::int64_t monotonic_ns() {  // clock_gettime is async-signal-safe
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

extern "C" void on_stop_signal(int sig) {
  const std::int64_t now = monotonic_ns();
  std::int64_t first = 0;
  if (g_first_stop_ns.compare_exchange_strong(first, now)) {
    g_stop.store(sig);
    return;
  }
  if (static_cast<double>(now - first) < kForceExitAfterSeconds * 1e9) return;  // the same stop, delivered twice
  for (auto& slot : g_temp)
    if (slot.ready.load()) ::unlink(slot.path);
  static const char msg[] =
      "hep-mlbench: second stop signal: exiting now (a run's report says that it did not finish)\n";
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, msg, sizeof msg - 1);
  ::_exit(128 + sig);
}
}  // namespace

double peak_rss_mb() {
  if (std::FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    long long kib = -1;
    while (std::fgets(line, sizeof line, f) != nullptr)
      if (std::sscanf(line, "VmHWM: %lld kB", &kib) == 1) break;
    std::fclose(f);
    if (kib >= 0) return static_cast<double>(kib) / 1024.0;
  }
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

bool reset_peak_rss() {
  std::FILE* f = std::fopen("/proc/self/clear_refs", "w");
  if (f == nullptr) return false;
  const bool written = std::fputs("5", f) >= 0;
  return std::fclose(f) == 0 && written;  // the kernel refuses at the write, seen at the flush
}

std::vector<int> allowed_cpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &set)) cpus.push_back(c);
  }
  return cpus;
}

int allowed_cpu_count() {
  const auto n = static_cast<int>(allowed_cpus().size());
  return n > 0 ? n : online_cpu_count();
}

std::string host_name() {
  char buf[256] = {};
  return ::gethostname(buf, sizeof buf - 1) == 0 ? buf : "unknown";
}

std::vector<std::string> environment_with_prefixes(const std::vector<std::string>& prefixes) {
  std::vector<std::string> found;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string entry = *e;
    for (const auto& prefix : prefixes)
      if (entry.rfind(prefix, 0) == 0) {
        found.push_back(entry);
        break;
      }
  }
  std::sort(found.begin(), found.end());
  return found;
}

int online_cpu_count() {
  const long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  // SIGHUP (the terminal closed, an ssh session ended) stops the run the same way, unless it is
  // ignored already: a run started under nohup keeps going, as nohup promises.
  struct sigaction hup {};
  if (sigaction(SIGHUP, nullptr, &hup) == 0 && hup.sa_handler != SIG_IGN) sigaction(SIGHUP, &sa, nullptr);
}

int stop_requested() { return g_stop.load(); }
void request_stop(int signal_number) {
  g_stop.store(signal_number);
  g_first_stop_ns.store(signal_number != 0 ? monotonic_ns() : 0);
}

void adopt_stop(int signal_number) {
  int none = 0;
  g_stop.compare_exchange_strong(none, signal_number);
}

void throw_if_stopped(const std::string& during) {
  if (const int sig = stop_requested(); sig != 0)
    throw Interrupted("interrupted by signal " + std::to_string(sig) + " " + during);
}

void remove_on_forced_exit(const std::string& path) {
  if (path.size() >= sizeof(TempSlot::path)) return;
  for (auto& slot : g_temp) {
    bool expected = false;
    if (!slot.used.compare_exchange_strong(expected, true)) continue;
    std::memcpy(slot.path, path.c_str(), path.size() + 1);
    slot.ready.store(true);
    return;
  }
}

void forget_on_forced_exit(const std::string& path) {
  for (auto& slot : g_temp) {
    if (slot.ready.load() && path == slot.path) {
      slot.ready.store(false);
      slot.used.store(false);
      return;
    }
  }
}

}  // namespace hmb
