#pragma once
// The CPU's peak for MFU, measured at the start of a CPU run: float32 products of two n × n
// matrices (the dtype the model trains in on the CPU) on LibTorch's threads, one untimed
// product first, then as many as fit in `budget_s` (at least three). The rate of the best
// single product is the peak; the mean over the products is kept beside it.
#include <cstdint>
#include <string>

namespace hmb::metrics {

struct MatmulPeak {
  double flop_per_s = 0;        // best product
  double mean_flop_per_s = 0;   // all timed products
  std::int64_t n = 0;
  std::int64_t products = 0;
  double seconds = 0;           // time of the timed products
  int threads = 0;
  std::string describe() const;  // "float32 matrix product 1024 x 1024 on 2 threads, best of 12"
};

MatmulPeak measure_matmul_peak(std::int64_t n = 1024, double budget_s = 0.5);

}  // namespace hmb::metrics
