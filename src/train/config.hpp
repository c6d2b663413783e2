#pragma once
// The options of the training step and loop, and nothing else: how the data is read, where the
// results go and how the command line spells things are the pipeline's business (src/app/).
#include <cstdint>
#include <string>

namespace hmb::train {

enum class Precision { fp32, tf32, bf16, fp16 };

// "fp32" | "tf32" | "bf16" | "fp16"; anything else is an Error naming the value.
Precision parse_precision(const std::string& s);
std::string to_string(Precision p);

struct Config {
  int epochs = 2;
  std::int64_t steps = 0;          // > 0: stop after this many steps in all
  std::int64_t warmup_steps = 2;   // steps before the timed window opens
  int batch_size = 4;              // events per step on each rank
  double lr = 1e-4;
  double weight_decay = 0.01;
  Precision precision = Precision::fp32;
  int log_every = 10;              // progress line (and loss read-back) every N steps
  std::string preset;              // named in messages ("out of memory at batch size 4 with the delphes model")
  double bucket_mb = 25;           // data-parallel: gradient bucket size for the all-reduce (MiB)
};

}  // namespace hmb::train
