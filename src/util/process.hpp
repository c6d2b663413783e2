#pragma once
// Process-level facts and controls: peak memory, and a stop request from SIGINT/SIGTERM/SIGHUP.
#include <string>
#include <utility>
#include <vector>

namespace hmb {

// Peak resident set size of this process in MiB: since it started, or since the last
// reset_peak_rss() that succeeded (the kernel's VmHWM; getrusage's maximum where /proc cannot
// be read).
double peak_rss_mb();

// Starts a new peak at the current resident set size (Linux: "5" written to
// /proc/self/clear_refs), so that one process can measure several runs' peaks in turn. False,
// with nothing changed, where the kernel does not allow it.
bool reset_peak_rss();

// This machine's host name ("unknown" when it cannot be read).
std::string host_name();

// The environment variables whose names start with one of `prefixes`, as NAME=VALUE, sorted
// by name (what --debug prints of the settings that steer threads, kernels and communication).
std::vector<std::string> environment_with_prefixes(const std::vector<std::string>& prefixes);

// CPU cores this process may run on (its affinity mask), and cores online on the machine.
int allowed_cpu_count();
int online_cpu_count();
// The cores of the affinity mask, in order.
std::vector<int> allowed_cpus();

// Installs SIGINT/SIGTERM (and SIGHUP, unless ignored) handlers that set a flag instead of killing the process, so that
// a run stops cleanly after the current step and keeps what it measured. A second signal at
// least kForceExitAfterSeconds after the first (a user insisting, not the same stop delivered
// twice by a terminal and a launcher) ends the process at once with 128 + the signal, after
// removing the temporary files registered below.
void install_stop_handlers();
constexpr double kForceExitAfterSeconds = 2.0;
// The signal that asked to stop, or 0.
int stop_requested();
// For tests: request or clear a stop as if a signal had come.
void request_stop(int signal_number);
// A stop another rank of the job received (signal_number), learnt through a collective: from
// now on stop_requested() returns it (unless this process already has a signal of its own), so
// this rank reports and exits as the signalled one does. A signal this process receives later
// still counts as its first.
void adopt_stop(int signal_number);
// Throws Interrupted ("interrupted by signal N <during>") when a stop was requested: for the
// points between the phases of a run (`during`: e.g. "while reading the event file").
void throw_if_stopped(const std::string& during);

// A temporary file that a forced exit removes (a half-written file must not be left behind):
// registered while it is being written, forgotten once renamed or removed. At most a few at a
// time; paths longer than 4095 bytes are not registered.
void remove_on_forced_exit(const std::string& path);
void forget_on_forced_exit(const std::string& path);

// remove_on_forced_exit() for the lifetime of this object.
class RemoveOnForcedExit {
 public:
  explicit RemoveOnForcedExit(std::string path) : path_(std::move(path)) { remove_on_forced_exit(path_); }
  ~RemoveOnForcedExit() { forget_on_forced_exit(path_); }
  RemoveOnForcedExit(const RemoveOnForcedExit&) = delete;
  RemoveOnForcedExit& operator=(const RemoveOnForcedExit&) = delete;

 private:
  std::string path_;
};

}  // namespace hmb
