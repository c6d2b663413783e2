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
  c.broadcast(t, 0);
  CHECK(torch::equal(t, torch::tensor({1.0f, 2.0f})));
  auto w = torch::ones({3}, torch::requires_grad());
  auto sync = c.sync_gradients({w}, {});
  sync->before_forward();
  auto loss = (w * 2).sum();
  sync->backward([&] { loss.backward(); });
  CHECK(torch::equal(w.grad(), torch::full({3}, 2.0f)));
  CHECK(sync->last_step().bytes == 0);
  CHECK(c.describe() == "single process");
  CHECK(c.backend() == "none");
}
