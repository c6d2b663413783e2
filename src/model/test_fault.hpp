#pragma once
// A deliberately wrong run, for testing that `hep-mlbench compare` catches a broken machine
// (docs/tolerances.md). Hidden: set only through the environment variable HMB_TEST_FAULT, never
// in a configuration, and a run that has one says so in its report's warnings.
//
//   scale:F[@NAME]   multiply one parameter tensor by F (default: the first weight matrix), as a
//                    layer whose output comes out F times too large would
//   add:D[@NAME]     add D to the first element of that tensor (one corrupted weight)
//
// Applied after the initial weights checksum, so the run still claims the same workload.
#include <string>

#include "model/mlpf.hpp"

namespace hmb::model {

inline constexpr const char* kTestFaultVariable = "HMB_TEST_FAULT";

// Applies `spec` to the weights of `net`; returns what it did ("parameter x scaled by 1.01").
// Throws hmb::Error for a spec it does not understand or a parameter name it does not know.
std::string apply_test_fault(MLPF& net, const std::string& spec);

}  // namespace hmb::model
