#include "config/run_config.hpp"

#include "train/gpu_devices.hpp"
#include "util/process.hpp"

namespace hmb::config {

namespace {
template <class T>
std::function<std::string(const T&)> at_least(T lo) {
  return [lo](const T& v) { return v >= lo ? std::string() : "must be at least " + format_value(lo); };
}
}  // namespace

std::function<std::string(const int&)> per_core_count(int lo, const std::string& what) {
  return [lo, what](const int& v) {
    if (v < lo) return "must be at least " + std::to_string(lo);
    const int cores = online_cpu_count();
    if (v > kThreadsPerCore * cores)
      return "is more than " + std::to_string(kThreadsPerCore) + " " + what + " per core of this machine's " +
             std::to_string(cores) + " cores: use at most " + std::to_string(kThreadsPerCore * cores) +
             (lo == 0 ? " (or 0: all cores)" : "");
    return std::string();
  };
}

std::function<std::string(const int&)> thread_count(int lo) { return per_core_count(lo, "threads"); }

namespace {
std::function<std::string(const double&)> positive() {
  return [](const double& v) { return v > 0 ? std::string() : std::string("must be positive"); };
}
}  // namespace

OptionTable<RunConfig> run_options() {
  OptionTable<RunConfig> t;
  t.add("data", &RunConfig::data, "event file to train on (HDF5, hep-mlbench format v1)")
      .add("preset", &RunConfig::preset, "model preset (auto: delphes on GPUs, small on the CPU)", "auto|tiny|small|delphes")
      .add("init-weights", &RunConfig::init_weights, "state_dict (.pt) to start from instead of the seeded initialisation")
      .add("epochs", &RunConfig::epochs, "training epochs", "", at_least<int>(1))
      .add("steps", &RunConfig::steps, "the run's length in steps, over as many epochs as they take (0: --epochs sets it)", "", at_least<std::int64_t>(0))
      .add("max-train-events", &RunConfig::max_train_events, "use only the first N training events (0: all)", "", at_least<std::int64_t>(0))
      .add("max-val-events", &RunConfig::max_val_events, "validate on the first N validation events (0: all)", "", at_least<std::int64_t>(0))
      .add("warmup-steps", &RunConfig::warmup_steps, "steps left out of the timed window", "", at_least<int>(0))
      .add("batch-size", &RunConfig::batch_size, "events per step on each device", "", at_least<int>(1))
      .add("lr", &RunConfig::lr, "AdamW learning rate", "", positive())
      .add("weight-decay", &RunConfig::weight_decay, "AdamW weight decay", "", at_least<double>(0.0))
      .add("seed", &RunConfig::seed, "the one seed behind weights, LSH codebooks and shuffling")
      .add("deterministic", &RunConfig::deterministic, "deterministic algorithms only (bit-for-bit repeatable runs)")
      .add("flush-denormals", &RunConfig::flush_denormals,
           "CPU arithmetic flushes denormal (subnormal) floats to zero, as a GPU's speed does not depend on them; "
           "false keeps them, at the CPU's own (often many times slower) speed for them")
      .add("threads", &RunConfig::threads, "CPU threads for LibTorch (0: every core this process may run on; at most 4 per core)", "", thread_count(0))
      .add("gpus", &RunConfig::gpus, "GPUs to train on: auto (every visible GPU, else the CPU), all (every visible GPU; an error if none), cpu, or a count")
      .add("gpu-devices", &RunConfig::gpu_devices,
           "which GPUs may be used, as numbers separated by , or _ (0,2 or 0_2; with CUDA_VISIBLE_DEVICES set, "
           "they count its GPUs): sets CUDA_VISIBLE_DEVICES; --gpus then picks among them (default: every GPU)",
           "", std::function<std::string(const std::string&)>([](const std::string& v) {
             try {
               train::parse_gpu_devices(v);
             } catch (const Error&) {
               return std::string("is not a list of distinct GPU numbers such as 0,1 or 0_1");
             }
             return std::string();
           }))
      .add("precision", &RunConfig::precision, "arithmetic (tf32, bf16, fp16 need CUDA)", "fp32|tf32|bf16|fp16")
      .add("nproc", &RunConfig::nproc, "CPU ranks to start on this node, data-parallel over Gloo (GPUs: --gpus N)", "",
           per_core_count(1, "ranks"))  // each a process: past the bound they only thrash the machine and its memory
      .add("dist-backend", &RunConfig::dist_backend, "communication between ranks", "auto|gloo|nccl")
      .add("dist-timeout", &RunConfig::dist_timeout, "seconds to wait for the other ranks (rendezvous, each collective)",
           "", positive())
      .add("lr-scaling", &RunConfig::lr_scaling, "learning rate x 1, x ranks or x sqrt(ranks)", "none|linear|sqrt")
      .add("bucket-mb", &RunConfig::bucket_mb, "gradient bucket size of the all-reduce (MiB)", "", positive())
      .add("scaling-baseline", &RunConfig::scaling_baseline,
           "one rank's events/s, to report the scaling efficiency (0: none)", "", at_least<double>(0.0))
      .add("loader-threads", &RunConfig::loader_threads, "background threads preparing batches (at most 4 per core)", "",
           thread_count(1))
      .add("prefetch", &RunConfig::prefetch, "batches prepared ahead", "", at_least<int>(1))
      .add("bucket-by-size", &RunConfig::bucket_by_size, "group events of similar size into batches to cut padding")
      .add("results", &RunConfig::results, "folder for the report, the resolved configuration and the log")
      .add("log-every", &RunConfig::log_every, "progress line every N steps", "", at_least<int>(1))
      .add("batch-sizes", &RunConfig::batch_sizes, "sweep: comma-separated batch sizes, e.g. 1,2,4,8")
      .add("gpu-activity", &RunConfig::gpu_activity, "record GPU kernels and copies with CUPTI (GPU busy time, top kernels)")
      .add("gpu-counters", &RunConfig::gpu_counters,
           "read GPU hardware counters with CUPTI on a few timed steps (achieved FLOP/s; slows those steps)")
      .add("counter-start-step", &RunConfig::counter_start_step,
           "timed step at which --gpu-counters starts sampling (1: the first timed step)", "", at_least<int>(1))
      .add("counter-steps", &RunConfig::counter_steps,
           "timed steps per --gpu-counters pass (metrics needing several passes sample that many passes)", "",
           at_least<int>(1))
      .add("profile-start-step", &RunConfig::profile_start_step,
           "timed step before which cudaProfilerStart opens the range an external profiler sees", "",
           at_least<int>(1))
      .add("profile-steps", &RunConfig::profile_steps,
           "timed steps inside that range, for ncu --profile-from-start off or nsys --capture-range=cudaProfilerApi "
           "(0: no range)",
           "", at_least<int>(0))
      .add("trace", &RunConfig::trace, "write a Chrome-trace (Perfetto) timeline of the first timed steps to this file")
      .add("trace-steps", &RunConfig::trace_steps, "timed steps in the --trace timeline", "", at_least<int>(1));
  return t;
}

}  // namespace hmb::config
