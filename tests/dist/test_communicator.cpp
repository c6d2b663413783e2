#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "dist/communicator.hpp"

TEST_CASE("communicator: one process is the whole world, reductions are the identity", "[dist]") {
  hmb::dist::SingleProcess c;
  CHECK(c.rank() == 0);
  CHECK(c.world() == 1);
  CHECK(c.any(true));
  CHECK_FALSE(c.any(false));
  auto t = torch::tensor({1.0f, 2.0f});
  c.all_reduce(t, hmb::dist::ReduceOp::sum);
  CHECK(torch::equal(t, torch::tensor({1.0f, 2.0f})));
  std::vector<torch::Tensor> grads{torch::ones({3})};
  c.all_reduce_gradients(grads);
  CHECK(torch::equal(grads[0], torch::ones({3})));
  CHECK(c.describe() == "single process");
}
