#pragma once
// The options of a training run (`hep-mlbench train`, `sweep`, and the container entrypoint).
// Defaults are the member initialisers; names, help and checks are in run_config.cpp's table.
#include <cstdint>
#include <string>

#include "config/option_table.hpp"

namespace hmb::config {

struct RunConfig {
  // what to train on and with
  std::string data;                  // event file (HDF5 format v1)
  std::string preset = "auto";       // model preset: auto (delphes on GPUs, small on CPU) | tiny | small | delphes
  std::string init_weights;          // state_dict (.pt) to start from, or "" for seeded init
  // how long
  int epochs = 2;
  std::int64_t steps = 0;            // > 0: stop after this many training steps in total
  std::int64_t max_train_events = 0; // > 0: use only the first N training events (small runs)
  std::int64_t max_val_events = 0;   // > 0: validate on the first N validation events
  int warmup_steps = 2;              // steps left out of the timed window
  // optimisation
  int batch_size = 4;                // events per step per device
  double lr = 1e-4;
  double weight_decay = 0.01;
  // reproducibility and hardware
  std::uint64_t seed = 42;
  bool deterministic = true;
  bool flush_denormals = true;
  int threads = 0;                   // CPU threads for LibTorch (0: as many as cores)
  std::string gpus = "auto";         // auto | all | cpu | N
  std::string gpu_devices;           // which GPUs: "0,2" or "0_2" (CUDA_VISIBLE_DEVICES), "" for all
  std::string precision = "fp32";    // fp32 | tf32 | bf16 | fp16
  // data-parallel training (docs/data-parallel.md)
  int nproc = 1;                     // CPU ranks started on this node by hep-mlbench itself
  std::string dist_backend = "auto"; // auto (nccl on GPUs, gloo on CPUs) | gloo | nccl
  double dist_timeout = 300;         // seconds: rendezvous and each collective
  std::string lr_scaling = "none";   // none | linear | sqrt: learning rate x f(ranks)
  double bucket_mb = 25;             // gradient bucket size of the all-reduce (MiB)
  double scaling_baseline = 0;       // > 0: one rank's events/s, for the scaling efficiency
  // input pipeline
  int loader_threads = 2;
  int prefetch = 4;                  // batches queued ahead per loader
  bool bucket_by_size = false;       // group events of similar size to cut padding
  // output
  std::string results = "results";
  int log_every = 10;                // progress line every N steps (rank 0)
  std::string batch_sizes;           // sweep: comma-separated list, e.g. 1,2,4,8
  // measurements of hardware use (docs/report.md)
  bool gpu_activity = true;          // CUPTI activity records on a GPU (busy time, top kernels)
  bool gpu_counters = false;         // CUPTI hardware counters on a few timed steps (achieved FLOP/s)
  int counter_start_step = 5;        // first sampled timed step (1 = the timed window's first)
  int counter_steps = 3;             // timed steps per counter pass
  int profile_start_step = 5;        // first timed step an external profiler sees
  int profile_steps = 0;             // timed steps bracketed by cudaProfilerStart/Stop (0: none)
  std::string trace;                 // Chrome-trace JSON of a few timed steps, or "" for none
  int trace_steps = 5;               // timed steps in the trace
};

// The single definition of every RunConfig option.
OptionTable<RunConfig> run_options();

// The check of a count of `what` ("threads", "ranks", "copies"): from `lo` (0: every core) up to
// kThreadsPerCore per core of this machine (more only slows a run down or runs it out of memory,
// and tens of thousands of threads crash it).
std::function<std::string(const int&)> per_core_count(int lo, const std::string& what);
// per_core_count(lo, "threads"): a thread-count option.
std::function<std::string(const int&)> thread_count(int lo);
// The most threads, ranks or copies per core a count is allowed.
inline constexpr int kThreadsPerCore = 4;

}  // namespace hmb::config
