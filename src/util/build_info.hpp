#pragma once
// What this build of hep-mlbench is: its version, the git commit it was built from and the
// build type. The lowest stage knows it, so that every stage above can record it (the event
// file's provenance, the report).
#include <string>

namespace hmb {

std::string version();      // "0.1.0"
std::string git_commit();   // "3f2a9c1b7e44" or "unknown"
std::string build_type();   // "Release", "RelWithDebInfo", ...

}  // namespace hmb
