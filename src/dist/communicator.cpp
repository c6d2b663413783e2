// The single-process communicator is header-only; the multi-rank ones are in process_group.cpp.
// Here: what every communicator does the same way through its collectives.
#include "dist/communicator.hpp"

#include <torch/torch.h>

#include "util/process.hpp"

namespace hmb::dist {

int agree_on_stop(Communicator& comm) {
  auto t = torch::tensor({static_cast<std::int64_t>(stop_requested())}, torch::kLong);
  comm.all_reduce(t, ReduceOp::max);
  const int sig = static_cast<int>(t.item<std::int64_t>());
  if (sig != 0) adopt_stop(sig);
  return sig;
}

}  // namespace hmb::dist
