#pragma once
// What a training run measured: the only thing the console summary and the report read.
// Units are in the names (_s seconds, _mb MiB, _per_s per second, _j joules, _w watts).
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "metrics/utilisation_record.hpp"

namespace hmb::train {

struct StepRecord {
  int epoch = 0;
  std::int64_t step = 0;          // global step index, from 1
  std::int64_t events = 0;        // training events in this step, all ranks
  double step_s = 0;              // end of the previous step to the end of this one on the
                                  // device's timeline, data wait included
  double data_wait_s = 0;         // time the trainer waited for the loader
  double loss = 0;                // total training loss of the step (the global batch's)
  bool timed = false;             // inside the timed window (after warm-up)
  bool skipped = false;           // fp16: gradients overflowed, the update was skipped
  double comm_s = 0;              // data-parallel: gradient all-reduce time (host view)
  double exposed_comm_s = 0;      // data-parallel: the part of it backward waited for
  double comm_bytes = 0;          // data-parallel: gradient bytes all-reduced by this rank
};

struct ValidationRecord {
  std::int64_t events = 0;
  std::int64_t elements = 0;          // real (unpadded) elements
  double loss = 0, loss_classification = 0, loss_regression = 0;
  double accuracy = 0;                // argmax class == true class, over real elements
  double accuracy_particles = 0;      // the same over elements whose true class != 0
  std::vector<std::int64_t> confusion;  // 6x6 row-major: [true][predicted]
  bool interrupted = false;           // a stop signal came first: the figures above are not filled
  // The validation ran to its end: the figures above are measured (an epoch the run stopped in
  // has none, and neither has an interrupted one).
  bool complete() const { return !interrupted && events > 0; }
};

struct EpochRecord {
  int epoch = 0;                  // from 1
  double train_s = 0;             // training wall time of the epoch (validation excluded)
  double validation_s = 0;
  std::int64_t steps = 0;
  std::int64_t events = 0;        // training events, all ranks
  double events_per_s = 0;        // events / train_s
  double data_wait_s = 0;
  double train_loss = 0;          // mean of the step losses
  ValidationRecord validation;
};

struct GpuRecord {
  std::optional<double> peak_memory_mb;     // LibTorch's allocator, timed window
};

// One rank of a data-parallel run, as rank 0 gathered it after training.
struct RankRecord {
  int rank = 0;
  double events_per_s = 0;        // this rank's trained events / its timed window
  double timed_s = 0;
  double step_s_median = 0;       // median of its timed step times
  double comm_s = 0;              // mean gradient all-reduce time per timed step
  double exposed_comm_s = 0;      // mean per timed step: the part backward waited for
  double data_wait_fraction = 0;
  double peak_rss_mb = 0;
  std::optional<double> cpu_busy_cores;     // its process's CPU time ÷ its window (cores)
  metrics::RankGpuFigures gpu;              // its GPU's: busy fraction, energy, power, clock, ...
};

// How the ranks trained together (one rank: launcher "none", world 1).
struct DistRecord {
  std::string launcher = "none";  // none | hep-mlbench | torchrun | env | openmpi | pmi | slurm
  std::string contract;           // environment variables the ranks came from
  std::string backend = "none";   // gloo | nccl | none
  std::string rendezvous;         // "host:port" or "file PATH"
  int world = 1, local_world = 1, nodes = 1;
  int global_batch = 0;           // batch size x world
  std::string lr_scaling = "none";  // none | linear | sqrt
  double lr = 0;                  // the learning rate used, after scaling
  double comm_bytes_per_step = 0; // gradient bytes all-reduced per rank per timed step
  double comm_s_per_step = 0;     // mean over ranks and timed steps
  double exposed_comm_s_per_step = 0;
  double exposed_comm_fraction = 0;  // exposed communication / step time (mean over ranks)
  // Why the communication times above are not measured (empty when they are): NCCL completes
  // its collectives on the GPU after the host has moved on, so host clocks cannot time them.
  std::string comm_time_absent;
  double step_time_spread = 0;    // (slowest - fastest) / slowest of the ranks' median step times
  std::optional<double> baseline_events_per_s;  // --scaling-baseline: one rank's events/s
  std::optional<double> scaling_efficiency;     // events/s / (world x baseline)
  // The final weights' checksums are equal on every rank; empty when the run ended before they
  // were compared (a failed or interrupted run).
  std::optional<bool> weights_agree;
  std::vector<RankRecord> ranks;
};

struct RunResult {
  std::string status = "ok";      // ok | failed | interrupted
  std::string error;              // why, when not ok
  nlohmann::json config;          // the resolved configuration
  std::string device;             // "cpu", "cuda"
  std::string device_summary;
  std::string communicator = "single process";
  int world_size = 1;             // ranks
  nlohmann::json system;          // the machine (sys::SystemContext)
  int threads = 0;                // CPU threads LibTorch used
  std::int64_t parameters = 0;
  double flop_per_event_train = 0;  // cost model, for the average event of the sample
  std::string data_checksum;
  std::string initial_weights_checksum;
  std::string final_weights_checksum;
  bool deterministic = true;
  std::string denormals;          // train::denormal_mode() before training: flushed, kept or mixed
  std::string cpu_kernels;        // the instruction set of LibTorch's CPU kernels: AVX512, AVX2, DEFAULT, ...
  std::vector<StepRecord> steps;
  std::vector<EpochRecord> epochs;
  // timed window (all epochs, warm-up steps excluded)
  std::int64_t warmup_steps = 0;
  std::int64_t timed_steps = 0;
  std::int64_t timed_events = 0;  // trained (not skipped) events inside the window
  std::int64_t skipped_steps = 0; // fp16 updates skipped for overflowing gradients (all steps)
  double timed_s = 0;             // open time of the window (device synchronised at its edges)
  double events_per_s = 0;
  double data_wait_fraction = 0;  // data wait / wall time, timed window
  double padding_fraction = 0;    // padded / (padded + real) elements in training batches
  double wall_s = 0;              // whole run, start-up included
  double data_read_s = 0;         // reading and verifying the event file into memory
  double peak_rss_mb = 0;
  GpuRecord gpu;
  DistRecord dist;
  // This rank stopped on its own (an exception, not a decision reduced over the ranks): it
  // takes part in no further collective, and its process ends without waiting for the others.
  bool failed_alone = false;
  metrics::UtilisationRecord utilisation;  // CPU/GPU use, MFU, power (metrics/utilisation.hpp)
  std::vector<std::string> warnings;  // what makes the figures less trustworthy (also logged)
  nlohmann::json reference_step;      // train/reference_step.hpp (null when not taken)
};

}  // namespace hmb::train
