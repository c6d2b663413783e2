#pragma once
// Files hep-mlbench reads (an event file, a --config, --init-weights, a report given to compare)
// are checked before they are opened: opening a FIFO blocks until a writer comes, a device may
// never end, and a folder gives a stream error that names nothing. A text read from start to end
// (a YAML configuration, a JSON report) may come through a pipe, as `--config <(...)` gives it.
#include <string>

namespace hmb {

// Why `path` cannot be read as a file, as a phrase that follows the path ("does not exist", "is
// a folder", "is a FIFO (named pipe), not a file", "cannot be read: Permission denied"), or ""
// when it is a regular file (or a symbolic link to one) that this process may read; with
// `pipe_ok`, a FIFO is accepted too.
std::string input_file_problem(const std::string& path, bool pipe_ok = false);

// Throws Error "<what> '<path>' <problem><hint>" when input_file_problem(path) is not empty.
// `what` names the file ("configuration file"), `hint` says what to do (" (check --config)").
void require_input_file(const std::string& path, const std::string& what, const std::string& hint = "",
                        bool pipe_ok = false);

}  // namespace hmb
