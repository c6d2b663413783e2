#include "metrics/cpu_peak.hpp"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>

#include "metrics/formulas.hpp"
#include "util/error.hpp"

namespace hmb::metrics {

std::string MatmulPeak::describe() const {
  return "float32 matrix product " + std::to_string(n) + " x " + std::to_string(n) + " on " + std::to_string(threads) +
         (threads == 1 ? " thread" : " threads") + ", best of " + std::to_string(products);
}

MatmulPeak measure_matmul_peak(std::int64_t n, double budget_s) {
  require(n >= 1, "CPU peak: matrix size must be at least 1");
  torch::NoGradGuard no_grad;
  // Values from arange, not the random generator: the run's seeded streams stay untouched.
  const auto opts = torch::TensorOptions(torch::kFloat32);
  auto a = (torch::arange(n * n, opts).reshape({n, n}).remainder(7.0) - 3.0) / 8.0;
  auto b = a.t().contiguous();
  auto c = torch::empty({n, n}, opts);
  torch::mm_out(c, a, b);  // untimed: first-touch, thread pool start
  using clock = std::chrono::steady_clock;
  const double flop = matmul_flop(n, n, n);
  MatmulPeak p;
  p.n = n;
  p.threads = at::get_num_threads();
  double best_s = 1e300;
  const auto start = clock::now();
  while (p.products < 3 || p.seconds < budget_s) {
    const auto t0 = clock::now();
    torch::mm_out(c, a, b);
    const double s = std::chrono::duration<double>(clock::now() - t0).count();
    best_s = std::min(best_s, s);
    ++p.products;
    p.seconds = std::chrono::duration<double>(clock::now() - start).count();
  }
  p.flop_per_s = best_s > 0 ? flop / best_s : 0;
  p.mean_flop_per_s = p.seconds > 0 ? flop * static_cast<double>(p.products) / p.seconds : 0;
  return p;
}

}  // namespace hmb::metrics
