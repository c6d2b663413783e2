#include "app/pipeline.hpp"

#include <ATen/Parallel.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <cstdlib>
#include <memory>

#include "data/event_format.hpp"
#include "data/loader.hpp"
#include "dist/communicator.hpp"
#include "metrics/device_memory.hpp"
#include "metrics/timeline.hpp"
#include "metrics/window.hpp"
#include "model/cost_model.hpp"
#include "model/test_fault.hpp"
#include "model/weights_io.hpp"
#include "sys/context.hpp"
#include "train/determinism.hpp"
#include "train/device.hpp"
#include "train/reference_step.hpp"
#include "train/trainer.hpp"
#include "util/error.hpp"
#include "util/process.hpp"

namespace hmb::app {

namespace {
// Below these, the timed window is reported as too short to be a steady figure.
constexpr double kMinTimedSeconds = 30.0;
constexpr std::int64_t kMinTimedSteps = 10;

train::Config training_config(const config::RunConfig& c) {
  train::Config t;
  t.epochs = c.epochs;
  t.steps = c.steps;
  t.warmup_steps = c.warmup_steps;
  t.batch_size = c.batch_size;
  t.lr = c.lr;
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
}  // namespace

TrainingOutcome run_training(const config::RunConfig& requested) {
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
  const auto machine = sys::collect_context();
  for (const auto& line : sys::describe(machine)) spdlog::info("machine: {}", line);
  r.system = sys::to_json(machine);
  const train::DeviceChoice dev = train::select_device(cfg.gpus);
  const torch::Device device = dev.device;
  r.device = device.is_cuda() ? "cuda" : "cpu";
  r.device_summary = dev.summary;
  if (dev.num_gpus > 1) {
    r.device_summary += "; training on GPU 0 only (this version has no data-parallel training)";
    warn("device: " + std::to_string(dev.num_gpus) + " GPUs chosen, but this version trains on GPU 0 only");
  }
  cfg.preset = model::resolve_preset_name(requested.preset, device.is_cuda());
  if (cfg.preset != requested.preset)
    spdlog::info("model: preset {} is {} on this device ({})", requested.preset, cfg.preset, r.device);
  r.config = config::run_options().to_json(cfg);
  r.warmup_steps = cfg.warmup_steps;
  const auto tcfg = training_config(cfg);  // cfg.preset resolved above
  const auto precision = tcfg.precision;
  require(device.is_cuda() || precision == train::Precision::fp32,
          "option --precision: '" + cfg.precision + "' needs a CUDA device; on the CPU use --precision fp32");
  const auto det = train::configure_determinism(cfg.seed, cfg.deterministic, precision, cfg.threads, device);
  r.deterministic = det.deterministic;
  r.threads = at::get_num_threads();

  // ---- data: the whole file into memory, validated, before anything is timed ----------------
  require(!cfg.data.empty(), "option --data: no event file given (make one with `hep-mlbench generate`)");
  data::EventFileInfo info;
  const double t_read = clock.now();
  auto table = std::make_shared<const data::EventTable>(data::read_event_file(cfg.data, &info, true));
  r.data_read_s = clock.now() - t_read;
  r.data_checksum = info.checksum;
  spdlog::info("data: {} ({} events: {} train, {} validation; checksum {} verified)", cfg.data, info.n_events,
               info.n_train, info.n_validation, info.checksum.substr(0, 16));

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
  out.model = net;
  r.parameters = net->num_parameters();
  r.initial_weights_checksum = train::tensors_checksum(model::state_dict(*net));
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
  require(train_loader.events_in_split() >= cfg.batch_size,
          "option --batch-size: " + std::to_string(cfg.batch_size) + " is larger than the " +
              std::to_string(train_loader.events_in_split()) + " training events in use");

  // ---- the trainer and what measures it -------------------------------------------------------
  dist::SingleProcess comm;
  r.world_size = comm.world();
  r.communicator = comm.describe();
  metrics::TorchDeviceSync sync(device);
  auto timeline = metrics::make_timeline(device, clock);
  metrics::TimedWindow window(clock, sync, cfg.warmup_steps);
  metrics::ThroughputMeter meter;
  metrics::DeviceMemoryMeter device_memory(device.is_cuda() ? device.index() : -1);
  window.add_observer(&meter);
  window.add_observer(&device_memory);
  train::Trainer trainer(tcfg, net, device, comm, {window, *timeline, sync, clock});
  trainer.set_device_description(device_text(device, machine));
  {  // the reference step (train/reference_step.hpp): the first training events, file order
    data::LoaderConfig pc = lc;
    pc.shuffle = false;
    pc.bucket_by_size = false;
    pc.threads = 1;
    pc.max_events = cfg.batch_size;
    data::Loader probe_loader(table, data::Split::train, pc);
    probe_loader.start_epoch(0);
    if (auto batch = probe_loader.next()) {
      const double t_probe = clock.now();
      r.reference_step = train::reference_step(net, *batch, device);
      spdlog::info("reference step: losses {} ({:.1f} s)", r.reference_step["losses"].dump(), clock.now() - t_probe);
    }
  }
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
  r.peak_rss_mb = peak_rss_mb();
  try {
    r.final_weights_checksum = train::tensors_checksum(model::state_dict(*net));
  } catch (const std::exception& e) {
    warn(std::string("final weights checksum: not available (") + e.what() + ")");
  }
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

}  // namespace hmb::app
