#pragma once
// Process-level facts and controls: peak memory, and a stop request from SIGINT/SIGTERM.
#include <vector>

namespace hmb {

// Peak resident set size of this process so far, in MiB (getrusage).
double peak_rss_mb();

// CPU cores this process may run on (its affinity mask), and cores online on the machine.
int allowed_cpu_count();
int online_cpu_count();
// The cores of the affinity mask, in order.
std::vector<int> allowed_cpus();

// Installs SIGINT/SIGTERM handlers that set a flag instead of killing the process, so that
// a run stops cleanly after the current step and keeps what it measured.
void install_stop_handlers();
// The signal that asked to stop, or 0.
int stop_requested();
// For tests: request or clear a stop as if a signal had come.
void request_stop(int signal_number);

}  // namespace hmb
