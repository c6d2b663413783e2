#include "app/pipeline.hpp"

#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include "data/event_format.hpp"
#include "data/loader.hpp"
#include "dist/agreement.hpp"
#include "dist/communicator.hpp"
#include "dist/process_group.hpp"
#include "metrics/cpu_peak.hpp"
#include "metrics/device_memory.hpp"
#include "metrics/timeline.hpp"
#include "metrics/utilisation.hpp"
#include "metrics/window.hpp"
#include "model/cost_model.hpp"
#include "model/test_fault.hpp"
#include "model/weights_io.hpp"
#include "sys/context.hpp"
#include "train/determinism.hpp"
#include "train/device.hpp"
#include "train/reference_step.hpp"
#include "train/trainer.hpp"
#include "util/atomic_file.hpp"
#include "util/error.hpp"
#include "util/json_text.hpp"
#include "util/process.hpp"

namespace hmb::app {

namespace detail {
double lr_factor(const std::string& rule, int world) {
  if (rule == "linear") return static_cast<double>(world);
  if (rule == "sqrt") return std::sqrt(static_cast<double>(world));
  return 1.0;
}

// CPU threads for one rank: --threads when given; else the cores this process may run on,
// shared among the node's ranks unless a launcher already gave it its own cores.
int threads_for_rank(int requested, const dist::LaunchInfo& launch) {
  if (requested > 0 || launch.local_world <= 1) return requested;
  const int allowed = allowed_cpu_count();
  const int online = online_cpu_count();
  if (allowed < online) return std::max(1, allowed);
  return std::max(1, allowed / launch.local_world);
}
}  // namespace detail

namespace {
using detail::kRankColumns;
using detail::lr_factor;
using detail::rank_record;
using detail::rank_row;
using detail::threads_for_rank;

// Below these, the timed window is reported as too short to be a steady figure.
constexpr double kMinTimedSeconds = 30.0;
constexpr std::int64_t kMinTimedSteps = 10;

train::Config training_config(const config::RunConfig& c, int world) {
  train::Config t;
  t.epochs = c.epochs;
  t.steps = c.steps;
  t.warmup_steps = c.warmup_steps;
  t.batch_size = c.batch_size;
  t.lr = c.lr * lr_factor(c.lr_scaling, world);
  t.bucket_mb = c.bucket_mb;
  t.weight_decay = c.weight_decay;
  t.precision = train::parse_precision(c.precision);
  t.log_every = c.log_every;
  t.preset = c.preset;
  return t;
}

std::string device_text(const torch::Device& device, const sys::SystemContext& ctx) {
  if (device.is_cuda()) {
    for (const auto& g : ctx.gpus)
      if (g.index == device.index())
        return fmt::format("a {:.0f} GiB {} (GPU {})", g.memory_gib, g.name, g.index);
    return "GPU " + std::to_string(device.index());
  }
  return fmt::format("the CPU ({:.0f} GiB host memory)", ctx.host_memory_gib);
}

// The same weights on every rank: rank 0's, broadcast; then their checksums compared.
// A stop signal between the phases before training: every rank leaves at the same point (a rank
// that left alone would leave the others waiting in the next collective).
void stop_point(dist::Communicator& comm, const std::string& during) {
  const bool mine = stop_requested() != 0;
  const int sig = dist::agree_on_stop(comm);
  if (sig == 0) return;
  throw Interrupted("interrupted by signal " + std::to_string(sig) + (mine ? "" : " (to another rank)") + " " + during);
}

void share_initial_weights(model::MLPF& net, dist::Communicator& comm) {
  torch::NoGradGuard no_grad;
  for (auto& p : net->parameters()) comm.broadcast(p, 0);
  for (auto& b : net->buffers()) comm.broadcast(b, 0);
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Every rank's figures, gathered on all (an all-reduce of a world x k table, one row each; NaN
// marks a figure a rank does not have). Then the job's figures that need them all.
void gather_ranks(train::RunResult& r, dist::Communicator& comm) {
  constexpr int k = kRankColumns;
  const int world = comm.world();
  double bytes = 0;
  int timed_steps = 0;
  for (const auto& st : r.steps) {
    if (!st.timed) continue;
    bytes += st.comm_bytes;
    ++timed_steps;
  }
  auto table = torch::zeros({world, k}, torch::kDouble);
  const auto row = rank_row(r, world);
  for (int j = 0; j < k; ++j) table[comm.rank()][j] = row[static_cast<size_t>(j)];
  comm.all_reduce(table, dist::ReduceOp::sum);
  auto& d = r.dist;
  d.ranks.clear();
  double slowest = 0, fastest = 0, comm_sum = 0, exposed_sum = 0, window_max = 0, exposed_frac = 0;
  for (int i = 0; i < world; ++i) {
    std::array<double, kRankColumns> got{};
    for (int j = 0; j < k; ++j) got[static_cast<size_t>(j)] = table[i][j].item<double>();
    const train::RankRecord rr = rank_record(i, got);
    slowest = i == 0 ? rr.step_s_median : std::max(slowest, rr.step_s_median);
    fastest = i == 0 ? rr.step_s_median : std::min(fastest, rr.step_s_median);
    comm_sum += rr.comm_s;
    exposed_sum += rr.exposed_comm_s;
    window_max = std::max(window_max, rr.timed_s);
    exposed_frac += rr.step_s_median > 0 ? rr.exposed_comm_s / rr.step_s_median : 0;
    d.ranks.push_back(rr);
  }
  d.step_time_spread = slowest > 0 ? (slowest - fastest) / slowest : 0;
  d.comm_s_per_step = comm_sum / world;
  d.exposed_comm_s_per_step = exposed_sum / world;
  d.exposed_comm_fraction = exposed_frac / world;
  if (comm.backend() == "nccl")
    d.comm_time_absent =
        "not measured with NCCL: its all-reduces finish on the GPU after the host has moved on, so host clocks "
        "see only their launch; gpu_communication_time (CUPTI) is the device time of NCCL's kernels";
  d.comm_bytes_per_step = timed_steps == 0 ? 0 : bytes / timed_steps;
  // The job's throughput: all ranks' trained events over the longest timed window.
  // The job's window is its longest rank's: the job has trained its events only when all have.
  if (window_max > 0) {
    r.timed_s = window_max;
    r.events_per_s = static_cast<double>(r.timed_events) / window_max;
  }
  // The model's rate from that throughput; the GPUs' energy summed, their other figures over the ranks.
  std::vector<metrics::RankGpuFigures> gpus;
  for (const auto& rr : d.ranks) gpus.push_back(rr.gpu);
  metrics::apply_job_figures(r.utilisation, r.events_per_s / world, r.flop_per_event_train,
                             static_cast<double>(r.timed_events), gpus);
}

metrics::UtilisationConfig utilisation_config(const config::RunConfig& c, const torch::Device& device,
                                              const sys::SystemContext& ctx) {
  metrics::UtilisationConfig u;
  if (device.is_cuda()) {
    u.cuda_device = device.has_index() ? device.index() : 0;
    for (const auto& g : ctx.gpus)
      if (g.index == u.cuda_device) u.gpu_name = g.name;
  }
  u.precision = c.precision;
  u.usable_cores = ctx.usable_cores;
  u.gpu_activity = c.gpu_activity;
  u.gpu_counters = c.gpu_counters;
  u.counter_start_step = c.counter_start_step;
  u.counter_steps = c.counter_steps;
  u.profile_start_step = c.profile_start_step;
  u.profile_steps = c.profile_steps;
  u.trace_steps = c.trace.empty() ? 0 : c.trace_steps;
  return u;
}
}  // namespace

TrainingOutcome run_training(const config::RunConfig& requested, const dist::LaunchInfo& launch) {
  metrics::SteadyClock clock;
  const double t_start = clock.now();
  TrainingOutcome out;
  train::RunResult& r = out.result;
  auto warn = [&r](std::string what) {
    spdlog::warn("{}", what);
    r.warnings.push_back(std::move(what));
  };
  config::RunConfig cfg = requested;  // with the preset resolved once the device is known

  // ---- machine, device, seeds --------------------------------------------------------------
  train::prepare_cuda_environment(cfg.deterministic);  // before the first CUDA call
  // Denormal floats on the CPU: flushed by default, so that a CPU's slow path for them does not
  // decide its score. Before any thread starts (the communicator's, LibTorch's), which inherit it.
  train::set_denormal_mode(cfg.flush_denormals);
  const auto machine = sys::collect_context();
  for (const auto& line : sys::describe(machine)) spdlog::info("machine: {}", line);
  // --debug: the settings from the environment that steer threads, kernels and communication.
  if (spdlog::should_log(spdlog::level::debug))
    for (const auto& entry : environment_with_prefixes(
             {"HMB_", "OMP_", "GOMP_", "KMP_", "MKL_", "OPENBLAS_", "DNNL_", "ONEDNN_", "ATEN_", "TORCH_", "PYTORCH_",
              "CUDA_", "CUBLAS_", "CUDNN_", "NVIDIA_TF32_OVERRIDE", "NCCL_", "GLOO_", "MASTER_", "RANK", "LOCAL_",
              "WORLD_", "SLURM_", "OMPI_", "PMI_"}))
      spdlog::debug("environment: {}", entry);
  r.system = sys::to_json(machine);
  const train::DeviceChoice dev = train::select_device(cfg.gpus);
  torch::Device device = dev.device;
  if (launch.multi_rank() && device.is_cuda()) {
    // One rank per GPU of the node: rank i of the node on GPU i, or on the one GPU it is bound to.
    device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(
                                             train::rank_gpu(launch.local_rank, launch.local_world, dev.visible)));
  }
  r.device = device.is_cuda() ? "cuda" : "cpu";
  r.device_summary = dev.summary;
  if (launch.multi_rank()) {
    r.device_summary = device.is_cuda() ? "GPU " + std::to_string(device.index()) + " of each rank's node (" +
                                              std::to_string(launch.world) + " ranks)"
                                        : "CPU, " + std::to_string(launch.world) + " ranks";
  } else if (dev.num_gpus > 1) {
    r.device_summary += "; training on GPU 0 only (data-parallel runs: hep-mlbench train --gpus N)";
    warn("device: " + std::to_string(dev.num_gpus) + " GPUs chosen, but this command trains on GPU 0 only");
  }
  if (launch.multi_rank() && !launch.local_world_known)
    warn("dist: the launcher gave this rank's local rank (" + launch.contract + ") but not how many ranks share "
         "its node, so it is taken as " + std::to_string(launch.local_world) + ": the node's CPU threads are not "
         "split among its ranks and local_world_size is a lower bound. Set --threads per rank, or the launcher's "
         "count of ranks per node (" + (launch.launcher == "slurm" ? std::string("SLURM_STEP_TASKS_PER_NODE")
                                                                   : std::string("its local world size")) + ")");
  if (!launch.multi_rank())
    if (auto w = dist::lone_job_size_warning()) warn(*w);
  if (device.is_cuda() && launch.local_rank == 0)
    if (auto w = dist::shared_memory_warning(launch.local_world, dist::file_system_bytes("/dev/shm"))) warn(*w);

  // ---- ranks: meet the others before anything slow, so a missing rank is found at once ------
  // One rank goes through the communicator too when a backend is named (--dist-backend gloo or
  // nccl): the data-parallel path, all-reduce included, on a single device.
  std::unique_ptr<dist::Communicator> comm_owner;
  if (launch.multi_rank() || cfg.dist_backend != "auto") {
    dist::ConnectOptions co;
    co.backend = dist::choose_backend(cfg.dist_backend, device.is_cuda());
    co.device_index = device.is_cuda() ? device.index() : -1;
    co.timeout = std::chrono::milliseconds(static_cast<long long>(cfg.dist_timeout * 1000));
    comm_owner = dist::connect(launch, co);
  } else {
    comm_owner = std::make_unique<dist::SingleProcess>();
  }
  dist::Communicator& comm = *comm_owner;
  auto& d = r.dist;
  d.launcher = launch.launcher;
  d.contract = launch.contract;
  d.backend = comm.backend();
  d.rendezvous = launch.rendezvous();
  d.world = launch.world;
  d.local_world = launch.local_world;
  d.nodes = std::max(1, launch.world / std::max(1, launch.local_world));
  d.global_batch = cfg.batch_size * launch.world;
  d.lr_scaling = cfg.lr_scaling;
  if (cfg.scaling_baseline > 0) d.baseline_events_per_s = cfg.scaling_baseline;
  cfg.preset = model::resolve_preset_name(requested.preset, device.is_cuda());
  if (cfg.preset != requested.preset)
    spdlog::info("model: preset {} is {} on this device ({})", requested.preset, cfg.preset, r.device);
  r.config = config::run_options().to_json(cfg);
  if (const auto differ = dist::options_differing_across_ranks(r.config, comm); !differ.empty()) {
    std::string names;
    for (const auto& n : differ) names += (names.empty() ? "--" : ", --") + n;
    throw Error("dist: the ranks were started with different values of " + names +
                ": every rank of a job needs the same options (the same command line or --config)");
  }
  r.warmup_steps = cfg.warmup_steps;
  const auto tcfg = training_config(cfg, launch.world);  // cfg.preset resolved above
  d.lr = tcfg.lr;
  const auto precision = tcfg.precision;
  require(device.is_cuda() || precision == train::Precision::fp32,
          "option --precision: '" + cfg.precision + "' needs a CUDA device; on the CPU use --precision fp32");
  const auto det = train::configure_determinism(cfg.seed, cfg.deterministic, precision,
                                                threads_for_rank(cfg.threads, launch), device);
  r.deterministic = det.deterministic;
  r.threads = at::get_num_threads();
  r.denormals = train::denormal_mode();  // as set at the start, on every LibTorch thread
  // Which of LibTorch's CPU kernel builds runs (the widest the CPU has, or ATEN_CPU_CAPABILITY's):
  // another build may round differently, so it is one of the things two reports may differ in.
  r.cpu_kernels = at::get_cpu_capability();
  if (const char* asked = cfg.flush_denormals ? "flushed" : "kept"; r.denormals != asked)
    warn("CPU arithmetic: denormal floats are " + r.denormals + " on LibTorch's threads, not " + asked +
         " as --flush-denormals " + (cfg.flush_denormals ? "true" : "false") + " asks" +
         (r.denormals == "mixed" ? " (threads started before the mode was set keep the old one)"
                                 : " (LibTorch cannot set the mode on this CPU)"));
  else
    spdlog::info("CPU arithmetic: denormal floats {} (--flush-denormals {})",
                 cfg.flush_denormals ? "flushed to zero" : "kept", cfg.flush_denormals ? "true" : "false");
  if (!cfg.trace.empty()) output_target(cfg.trace, "--trace");  // its folder exists; not a device or FIFO

  // ---- how well the hardware is used: the CPU's peak first, on LibTorch's threads ----------
  auto ucfg = utilisation_config(cfg, device, machine);
  ucfg.ranks = comm.world();  // a step's events are all ranks'; the counters see this rank's GPU
  metrics::UtilisationMeters utilisation(ucfg, clock);
  if (!device.is_cuda()) {
    try {
      const auto peak = metrics::measure_matmul_peak();
      utilisation.set_cpu_peak(peak);
      spdlog::info("CPU peak: {:.1f} GFLOP/s ({}; mean {:.1f} GFLOP/s)", peak.flop_per_s / 1e9, peak.describe(),
                   peak.mean_flop_per_s / 1e9);
    } catch (const std::exception& e) {
      warn(std::string("CPU peak: not measured (") + e.what() + "); MFU is left out");
    }
  }

  stop_point(comm, "before training (after measuring the CPU peak)");
  // ---- data: the whole file into memory, validated, before anything is timed ----------------
  require(!cfg.data.empty(), "option --data: no event file given (make one with `hep-mlbench generate`)");
  data::EventFileInfo info;
  const double t_read = clock.now();
  auto table = std::make_shared<const data::EventTable>(data::read_event_file(cfg.data, &info, true));
  r.data_read_s = clock.now() - t_read;
  r.data_checksum = info.checksum;
  require(comm.world() == 1 || dist::same_on_all_ranks(info.checksum, comm),
          "dist: the ranks read different event files (" + cfg.data + " on rank " + std::to_string(comm.rank()) +
              ", checksum " + info.checksum.substr(0, 16) + "): every rank needs the same --data");
  spdlog::info("data: {} ({} events: {} train, {} validation; checksum {} verified)", cfg.data, info.n_events,
               info.n_train, info.n_validation, info.checksum.substr(0, 16));

  stop_point(comm, "before training (after reading the event file)");
  // ---- model --------------------------------------------------------------------------------
  const auto mcfg = model::preset(cfg.preset);
  model::check_events_fit(*table, mcfg, cfg.data);
  torch::manual_seed(cfg.seed);  // the initial weights and the LSH codebooks depend on the seed only
  model::MLPF net(mcfg);
  if (!cfg.init_weights.empty()) {
    model::load_state_dict(*net, cfg.init_weights);
    spdlog::info("model: weights from {}", cfg.init_weights);
  }
  net->to(device);
  if (comm.world() > 1) share_initial_weights(net, comm);
  out.model = net;
  r.parameters = net->num_parameters();
  r.initial_weights_checksum = train::tensors_checksum(model::state_dict(*net));
  require(comm.world() == 1 || dist::same_on_all_ranks(r.initial_weights_checksum, comm),
          "dist: the initial weights differ across ranks after the broadcast from rank 0 (checksum " +
              r.initial_weights_checksum.substr(0, 16) + " on rank " + std::to_string(comm.rank()) + ")");
  if (const char* fault = std::getenv(model::kTestFaultVariable); fault != nullptr && *fault != '\0')
    warn(std::string("test fault (") + model::kTestFaultVariable + "): " + model::apply_test_fault(net, fault) +
         " after the initial weights checksum: this run is deliberately wrong");
  const auto cost = model::cost_per_element(mcfg);
  spdlog::info("model: preset {} (width {}, {} graph layers per stack, bin size {}): {} trainable parameters, "
               "{:.1f} MFLOP per element forward",
               mcfg.name, mcfg.width, mcfg.num_convs, mcfg.bin_size, r.parameters, cost.forward_per_element / 1e6);

  // ---- loaders ------------------------------------------------------------------------------
  data::LoaderConfig lc;
  lc.batch_size = cfg.batch_size;
  lc.rank = comm.rank();
  lc.world = comm.world();
  lc.seed = cfg.seed;
  lc.bucket_by_size = cfg.bucket_by_size;
  lc.threads = cfg.loader_threads;
  lc.prefetch = cfg.prefetch;
  lc.pin_memory = device.is_cuda();
  lc.max_events = cfg.max_train_events;
  data::Loader train_loader(table, data::Split::train, lc);
  data::LoaderConfig vc = lc;
  vc.shuffle = false;
  vc.bucket_by_size = false;
  vc.max_events = cfg.max_val_events;
  data::Loader val_loader(table, data::Split::validation, vc);
  require(train_loader.events_in_split() >= static_cast<std::int64_t>(cfg.batch_size) * comm.world(),
          "option --batch-size: " + std::to_string(cfg.batch_size) + " events per rank x " +
              std::to_string(comm.world()) + " rank(s) is more than the " +
              std::to_string(train_loader.events_in_split()) + " training events in use" +
              (cfg.max_train_events > 0 && cfg.max_train_events <= train_loader.events_in_split()
                   ? " (--max-train-events " + std::to_string(cfg.max_train_events) +
                         "; under the workload, -e x threads per copy): give a smaller --batch-size or more events"
                   : ": give a smaller --batch-size or a larger sample"));

  // ---- the trainer and what measures it -------------------------------------------------------
  r.world_size = comm.world();
  r.communicator = comm.describe();
  metrics::TorchDeviceSync sync(device);
  auto timeline = metrics::make_timeline(device, clock);
  metrics::TimedWindow window(clock, sync, cfg.warmup_steps);
  metrics::ThroughputMeter meter;
  metrics::DeviceMemoryMeter device_memory(device.is_cuda() ? device.index() : -1);
  window.add_observer(&meter);
  window.add_observer(&device_memory);
  utilisation.attach(window);
  {  // the reference step (train/reference_step.hpp): the first training events, file order
    data::LoaderConfig pc = lc;
    pc.shuffle = false;
    pc.bucket_by_size = false;
    pc.threads = 1;
    pc.max_events = cfg.batch_size;
    pc.rank = 0;  // every rank probes the same events, before the trainer's reducer hooks the gradients
    pc.world = 1;
    data::Loader probe_loader(table, data::Split::train, pc);
    probe_loader.start_epoch(0);
    if (auto batch = probe_loader.next()) {
      const double t_probe = clock.now();
      train::ReferenceStepConfig rc;
      rc.stop = [] { return stop_requested() != 0; };  // then the stop point below ends the run
      r.reference_step = train::reference_step(net, *batch, device, rc);
      spdlog::info("reference step: losses {} ({:.1f} s)", json_text(r.reference_step["losses"]), clock.now() - t_probe);
    }
  }
  stop_point(comm, "before training (after the reference step)");
  train::Trainer trainer(tcfg, net, device, comm, {window, *timeline, sync, clock, utilisation.phases()});
  trainer.set_device_description(device_text(device, machine));
  trainer.fit(train_loader, val_loader, r);

  // ---- what the run measured ----------------------------------------------------------------
  r.timed_steps = meter.steps();
  r.timed_events = meter.events();
  r.timed_s = meter.seconds();
  r.events_per_s = meter.events_per_second();
  r.data_wait_fraction = r.timed_s > 0 ? meter.data_wait_seconds() / r.timed_s : 0;
  r.flop_per_event_train =
      r.timed_events > 0 ? cost.train_per_element * trainer.timed_elements() / static_cast<double>(r.timed_events) : 0;
  r.gpu.peak_memory_mb = device_memory.peak_mb();
  try {
    // Per rank: this rank's share of the job against its own device's peak.
    const double ranks = static_cast<double>(comm.world());
    r.utilisation = utilisation.finish(static_cast<double>(r.timed_events) / ranks, r.events_per_s / ranks,
                                       r.flop_per_event_train);
    const auto& u = r.utilisation;
    if (u.mfu.value)
      spdlog::info("utilisation: MFU {:.2f}% of {:.3g} FLOP/s ({})", 100 * *u.mfu.value, *u.peak_flop_per_s.value,
                   u.peak_flop_per_s.source);
  } catch (const std::exception& e) {
    warn(std::string("utilisation figures: ") + e.what());
  }
  if (!cfg.trace.empty()) {  // a measurement: its loss is a warning, not a failed run
    try {
      // A run stopped before its first timed step has nothing to show: an earlier trace there is
      // worth more than an empty one.
      if (const auto steps = utilisation.traced_steps(); steps == 0) {
        warn("--trace: no timed step was traced (the run ended before one), so nothing was written to " +
             cfg.trace + "; a file already at that path is not this run's");
      } else {
        write_file_atomic(cfg.trace, json_text(utilisation.trace()) + "\n");
        spdlog::info("trace: {} ({} timed steps)", cfg.trace, steps);
      }
    } catch (const std::exception& e) {
      warn(std::string("--trace: ") + e.what() + "; a file already at that path is not this run's");
    }
  }
  r.peak_rss_mb = peak_rss_mb();
  try {
    r.final_weights_checksum = train::tensors_checksum(model::state_dict(*net));
  } catch (const std::exception& e) {
    warn(std::string("final weights checksum: not available (") + e.what() + ")");
  }
  // What every rank measured, and whether they end with the same weights. A rank that stopped
  // on its own takes part in no collective: the others are still inside a step.
  if ((comm.world() > 1 || comm.backend() != "none") && !r.failed_alone) {
    try {
      gather_ranks(r, comm);
      d.weights_agree = dist::same_on_all_ranks(r.final_weights_checksum, comm);
      if (!*d.weights_agree && r.status == "ok") {
        r.status = "failed";
        r.error = "dist: the final weights differ across ranks (checksum " + r.final_weights_checksum.substr(0, 16) +
                  " on rank " + std::to_string(comm.rank()) +
                  "): the gradient all-reduce or the optimiser diverged; report this with the log";
      }
    } catch (const std::exception& e) {
      if (r.status == "ok") {
        r.status = "failed";
        r.error = e.what();
      }
      r.failed_alone = true;
    }
  }
  if (d.baseline_events_per_s && r.events_per_s > 0)
    d.scaling_efficiency = r.events_per_s / (comm.world() * *d.baseline_events_per_s);
  r.wall_s = clock.now() - t_start;
  if (r.skipped_steps > 0)
    warn(std::to_string(r.skipped_steps) + " fp16 updates were skipped for overflowing gradients (not counted as trained events)");
  if (r.timed_steps > 0 && (r.timed_s < kMinTimedSeconds || r.timed_steps < kMinTimedSteps)) {
    warn(fmt::format(
        "the timed window is short ({:.1f} s over {} steps; at least {:.0f} s and {} steps make a steady figure): "
        "train longer (--epochs, --max-train-events) for a throughput to compare",
        r.timed_s, r.timed_steps, kMinTimedSeconds, kMinTimedSteps));
  }
  if (r.status == "ok" && r.timed_steps == 0) {
    r.status = "failed";
    r.error = "no step inside the timed window (" + std::to_string(r.steps.size()) + " steps, " +
              std::to_string(cfg.warmup_steps) + " warm-up): train longer or lower --warmup-steps";
  }
  return out;
}

namespace detail {
std::array<double, kRankColumns> rank_row(const train::RunResult& r, int world) {
  std::vector<double> step_s, comm_s, exposed_s;
  for (const auto& st : r.steps) {
    if (!st.timed) continue;
    step_s.push_back(st.step_s);
    comm_s.push_back(st.comm_s);
    exposed_s.push_back(st.exposed_comm_s);
  }
  auto mean = [](const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return v.empty() ? 0.0 : s / static_cast<double>(v.size());
  };
  const double own_events = static_cast<double>(r.timed_events) / world;
  const auto& u = r.utilisation;
  const auto or_nan = [](const metrics::Figure& f) { return f.value.value_or(std::nan("")); };
  return {r.timed_s > 0 ? own_events / r.timed_s : 0.0, r.timed_s, median(step_s), mean(comm_s),
          mean(exposed_s), r.data_wait_fraction, r.peak_rss_mb, or_nan(u.cpu_busy_cores),
          or_nan(u.gpu_busy_fraction), or_nan(u.gpu_energy), or_nan(u.gpu_mean_power),
          or_nan(u.gpu_max_power), or_nan(u.gpu_sm_clock), or_nan(u.gpu_temperature_max),
          or_nan(u.gpu_memory_used_peak)};
}

train::RankRecord rank_record(int rank, const std::array<double, kRankColumns>& row) {
  train::RankRecord rr;
  rr.rank = rank;
  rr.events_per_s = row[0];
  rr.timed_s = row[1];
  rr.step_s_median = row[2];
  rr.comm_s = row[3];
  rr.exposed_comm_s = row[4];
  rr.data_wait_fraction = row[5];
  rr.peak_rss_mb = row[6];
  const auto present = [&row](size_t j) { return std::isnan(row[j]) ? std::nullopt : std::optional<double>(row[j]); };
  rr.cpu_busy_cores = present(7);
  rr.gpu.busy_fraction = present(8);
  rr.gpu.energy_j = present(9);
  rr.gpu.mean_power_w = present(10);
  rr.gpu.max_power_w = present(11);
  rr.gpu.sm_clock_mhz = present(12);
  rr.gpu.temperature_max_c = present(13);
  rr.gpu.memory_used_peak_mib = present(14);
  return rr;
}
}  // namespace detail

}  // namespace hmb::app
