#pragma once
// What this binary is and what it was built with: printed by --version, at start-up, and
// stored in the report.
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "gpu/cuda_info.hpp"

namespace hmb::sys {

// Every library with the version compiled against and the one found at run time.
std::vector<gpu::LibraryVersion> library_versions();

// The text of `hep-mlbench --version`.
std::string version_text();

// The same as JSON: {"hep-mlbench": ..., "git": ..., "libraries": {name: {built, runtime}}}.
nlohmann::json version_json();

}  // namespace hmb::sys
