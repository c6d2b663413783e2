#pragma once
// hep-mlbench's own random numbers for the event generator. std::*_distribution is
// implementation-defined (libstdc++ and libc++ give different numbers for the same engine), so
// the generator uses SplitMix64 and its own transforms: the same seed gives the same events
// with any standard library and any thread count (each event has its own stream).
#include <cmath>
#include <cstdint>

namespace hmb::data {

class Rng {
 public:
  // A stream for (seed, stream index), e.g. (run seed, event number).
  Rng(std::uint64_t seed, std::uint64_t stream) : state_(mix(seed ^ mix(stream + 0x9e3779b97f4a7c15ULL))) {}

  std::uint64_t next() {  // SplitMix64
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    return mix(z);
  }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Standard normal (Box–Muller, one value per call).
  double normal() {
    double u1 = 1.0 - uniform();  // (0, 1]
    double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  double normal(double mean, double sigma) { return mean + sigma * normal(); }
  double exponential(double mean) { return -mean * std::log(1.0 - uniform()); }
  // Poisson: Knuth's product method for small means, a rounded normal above 30.
  int poisson(double mean) {
    if (mean > 30.0) {
      double v = std::floor(normal(mean, std::sqrt(mean)) + 0.5);
      return v < 0 ? 0 : static_cast<int>(v);
    }
    const double limit = std::exp(-mean);
    int k = 0;
    double p = uniform();
    while (p > limit) {
      ++k;
      p *= uniform();
    }
    return k;
  }
  bool chance(double probability) { return uniform() < probability; }

 private:
  static std::uint64_t mix(std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  std::uint64_t state_;
};

}  // namespace hmb::data
