#include "train/trainer.hpp"

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <spdlog/spdlog.h>
#include <torch/cuda.h>
#include <torch/optim/adamw.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <memory>

#include "data/event_format.hpp"
#include "data/loader.hpp"
#include "gpu/cuda_info.hpp"
#include "model/cost_model.hpp"
#include "model/loss.hpp"
#include "model/mlpf.hpp"
#include "model/weights_io.hpp"
#include "train/determinism.hpp"
#include "train/device.hpp"
#include "train/grad_scaler.hpp"
#include "train/throughput.hpp"
#include "util/error.hpp"
#include "util/process.hpp"

namespace hmb::train {

namespace {
using Clock = std::chrono::steady_clock;
// Below these, the timed window is reported as too short to be a steady figure.
constexpr double kMinTimedSeconds = 30.0;
constexpr std::int64_t kMinTimedSteps = 10;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Reduced precision on CUDA: autocast for bf16/fp16 while the guard lives.
class AutocastGuard {
 public:
  AutocastGuard(const torch::Device& device, const std::string& precision) {
    if (!device.is_cuda() || (precision != "bf16" && precision != "fp16")) return;
    active_ = true;
    at::autocast::set_autocast_enabled(at::kCUDA, true);
    at::autocast::set_autocast_dtype(at::kCUDA, precision == "bf16" ? at::kBFloat16 : at::kHalf);
  }
  ~AutocastGuard() {
    if (!active_) return;
    at::autocast::set_autocast_enabled(at::kCUDA, false);
    at::autocast::clear_cache();
  }

 private:
  bool active_ = false;
};

void sync(const torch::Device& d) {
  if (d.is_cuda()) torch::cuda::synchronize();
}

std::vector<std::pair<std::string, torch::Tensor>> weights_of(const model::MLPF& m) {
  return model::state_dict(*m);
}

ValidationRecord validate(model::MLPF& net, data::Loader& loader, const torch::Device& device,
                          const std::string& precision, int num_classes) {
  torch::NoGradGuard no_grad;
  net->eval();
  loader.start_epoch(0);
  auto counts = model::zero_counts(num_classes, device);
  ValidationRecord v;
  while (auto batch = loader.next()) {
    auto x = batch->x.to(device, /*non_blocking=*/true);
    auto y = batch->ygen.to(device, true);
    auto m = batch->mask.to(device, true);
    AutocastGuard autocast(device, precision);
    auto out = net->forward(x, m);
    auto loss = model::compute_loss(out, y, m);
    model::accumulate(counts, out, loss, y, m);
    v.events += static_cast<std::int64_t>(batch->event_ids.size());
  }
  net->train();
  auto confusion = counts.confusion.to(torch::kCPU);
  auto sums = counts.loss_sums.to(torch::kCPU);
  const auto n = counts.n_real.item<std::int64_t>();
  v.elements = n;
  const double dn = static_cast<double>(std::max<std::int64_t>(1, n));
  v.loss = sums[0].item<double>() / dn;
  v.loss_classification = sums[1].item<double>() / dn;
  v.loss_regression = sums[2].item<double>() / dn;
  std::int64_t correct = 0, particles = 0, particles_correct = 0;
  for (int t = 0; t < num_classes; ++t) {
    for (int p = 0; p < num_classes; ++p) {
      const auto c = confusion[t][p].item<std::int64_t>();
      v.confusion.push_back(c);
      if (t == p) correct += c;
      if (t != 0) particles += c;
      if (t != 0 && t == p) particles_correct += c;
    }
  }
  v.accuracy = static_cast<double>(correct) / dn;
  v.accuracy_particles = static_cast<double>(particles_correct) / static_cast<double>(std::max<std::int64_t>(1, particles));
  return v;
}
}  // namespace

RunResult run_training(const config::RunConfig& requested) {
  const auto t_start = Clock::now();
  RunResult r;
  // What makes the figures less trustworthy goes to the log and into the report.
  auto warn = [&r](std::string what) {
    spdlog::warn("{}", what);
    r.warnings.push_back(std::move(what));
  };
  config::RunConfig cfg = requested;  // with the preset resolved once the device is known
  r.warmup_steps = cfg.warmup_steps;

  // ---- device, seeds, determinism ---------------------------------------------------------
  prepare_cuda_environment(cfg.deterministic);
  const DeviceChoice dev = select_device(cfg.gpus);
  const torch::Device device = dev.device;
  require(device.is_cuda() || cfg.precision == "fp32",
          "option --precision: '" + cfg.precision + "' needs a CUDA device; on the CPU use --precision fp32");
  r.device = device.is_cuda() ? "cuda" : "cpu";
  r.device_summary = dev.summary;
  if (dev.num_gpus > 1) {
    // Data-parallel training across GPUs is not part of this version: say so rather than let
    // the report suggest that every chosen GPU trained.
    r.device_summary += "; training on GPU 0 only (this version has no data-parallel training)";
    warn("device: " + std::to_string(dev.num_gpus) + " GPUs chosen, but this version trains on GPU 0 only");
  }
  cfg.preset = model::resolve_preset_name(requested.preset, device.is_cuda());
  if (cfg.preset != requested.preset)
    spdlog::info("model: preset {} is {} on this device ({})", requested.preset, cfg.preset, r.device);
  r.config = config::run_options().to_json(cfg);
  const auto det = configure_determinism(cfg.seed, cfg.deterministic, cfg.precision, cfg.threads, device);
  r.deterministic = det.deterministic;
  r.threads = at::get_num_threads();

  // ---- data -------------------------------------------------------------------------------
  data::EventFileInfo info;
  require(!cfg.data.empty(), "option --data: no event file given (make one with `hep-mlbench generate`)");
  // The whole file is read into memory once, before training: the loader never touches the
  // filesystem in the timed window (this is hep-mlbench's staging of the sample into RAM).
  const auto t_read = Clock::now();
  auto table = std::make_shared<const data::EventTable>(data::read_event_file(cfg.data, &info, true));
  r.data_read_s = seconds_since(t_read);
  r.data_checksum = info.checksum;
  spdlog::info("data: {} ({} events: {} train, {} validation; checksum {} verified)", cfg.data, info.n_events,
               info.n_train, info.n_validation, info.checksum.substr(0, 16));

  // ---- model and optimiser ------------------------------------------------------------------
  const auto mcfg = model::preset(cfg.preset);
  torch::manual_seed(cfg.seed);  // the initial weights and the LSH codebooks depend on the seed only
  model::MLPF net(mcfg);
  if (!cfg.init_weights.empty()) {
    model::load_state_dict(*net, cfg.init_weights);
    spdlog::info("model: weights from {}", cfg.init_weights);
  }
  net->to(device);
  r.parameters = net->num_parameters();
  r.initial_weights_checksum = tensors_checksum(weights_of(net));
  const auto cost = model::cost_per_element(mcfg);
  spdlog::info("model: preset {} (width {}, {} graph layers per stack, bin size {}): {} trainable parameters, "
               "{:.1f} MFLOP per element forward",
               mcfg.name, mcfg.width, mcfg.num_convs, mcfg.bin_size, r.parameters, cost.forward_per_element / 1e6);
  torch::optim::AdamW opt(net->parameters(), torch::optim::AdamWOptions(cfg.lr).weight_decay(cfg.weight_decay));
  GradScaler scaler(device.is_cuda() && cfg.precision == "fp16");

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

  // ---- the loop ---------------------------------------------------------------------------
  if (device.is_cuda()) gpu::reset_peak_device_memory(device.index());
  ThroughputMeter meter(cfg.warmup_steps);
  std::int64_t global_step = 0, padded = 0, real = 0;
  double timed_elements = 0;
  std::vector<torch::Tensor> pending;  // step losses not yet read back (no sync in the step)
  bool stop = false;

  // Reads the pending losses back in one transfer; a non-finite one ends the run.
  auto flush = [&]() {
    if (pending.empty()) return;
    auto values = torch::stack(pending).to(torch::kCPU, torch::kDouble);
    const auto first = r.steps.size() - pending.size();
    for (size_t i = 0; i < pending.size(); ++i) {
      const double v = values[static_cast<int64_t>(i)].item<double>();
      r.steps[first + i].loss = v;
      if (!std::isfinite(v) && r.status == "ok") {
        r.status = "failed";
        r.error = "training loss is " + std::string(std::isnan(v) ? "NaN" : "infinite") + " at step " +
                  std::to_string(r.steps[first + i].step) +
                  ": lower --lr, use --precision fp32, or check the event file";
        stop = true;
      }
    }
    pending.clear();
  };

  const std::int64_t per_epoch = [&] {
    train_loader.start_epoch(0);
    return train_loader.batches_in_epoch();
  }();
  require(per_epoch > 0, "training: no complete batch in the training split; lower --batch-size");
  const std::int64_t total_steps = cfg.steps > 0 ? std::min<std::int64_t>(cfg.steps, per_epoch * cfg.epochs) : per_epoch * cfg.epochs;
  spdlog::info("train: {} epochs x {} steps of {} events ({} steps in all), warm-up {} steps", cfg.epochs, per_epoch,
               cfg.batch_size, total_steps, cfg.warmup_steps);
  net->train();

  for (int epoch = 1; epoch <= cfg.epochs && !stop; ++epoch) {
    EpochRecord er;
    er.epoch = epoch;
    const auto t_epoch = Clock::now();
    train_loader.start_epoch(epoch - 1);
    double loss_sum_steps = 0;
    const size_t epoch_first_step = r.steps.size();
    auto t_step = Clock::now();
    while (!stop) {
      auto batch = train_loader.next();
      if (!batch) break;
      const double wait = train_loader.last_wait_seconds();
      auto x = batch->x.to(device, /*non_blocking=*/true);
      auto y = batch->ygen.to(device, true);
      auto m = batch->mask.to(device, true);
      opt.zero_grad();
      model::LossParts loss;
      {
        AutocastGuard autocast(device, cfg.precision);
        auto out = net->forward(x, m);
        loss = model::compute_loss(out, y, m);
      }
      scaler.scale(loss.total).backward();
      if (scaler.unscale_and_check(net->parameters())) opt.step();

      ++global_step;
      const auto events = static_cast<std::int64_t>(batch->event_ids.size());
      padded += batch->padded_elements;
      real += batch->real_elements;
      const bool log_now = global_step % cfg.log_every == 0 || global_step == total_steps;
      if (log_now) sync(device);
      const double step_s = seconds_since(t_step);
      t_step = Clock::now();
      meter.add_step(step_s, events, wait);
      if (global_step > cfg.warmup_steps)
        timed_elements += static_cast<double>(batch->real_elements + batch->padded_elements);
      StepRecord sr{epoch, global_step, events, step_s, wait, 0.0, global_step > cfg.warmup_steps};
      r.steps.push_back(sr);
      pending.push_back(loss.total.detach());
      er.steps += 1;
      er.events += events;
      er.data_wait_s += wait;

      if (log_now) {
        flush();
        const double rate = meter.timed_steps() > 0 ? meter.events_per_second() : events / std::max(step_s, 1e-9);
        spdlog::info("epoch {}/{} step {}/{} loss {:.4f} | {:.2f} events/s | {:.1f} ms/step | data-wait {:.1f}% | rss {:.0f} MiB",
                     epoch, cfg.epochs, global_step, total_steps, r.steps.back().loss, rate, step_s * 1e3,
                     100.0 * wait / std::max(step_s, 1e-9), peak_rss_mb());
      }
      if (stop_requested() != 0 && r.status == "ok") {
        r.status = "interrupted";
        r.error = "stopped by signal " + std::to_string(stop_requested()) + " at step " + std::to_string(global_step);
        stop = true;
      }
      if (global_step >= total_steps) stop = true;
    }
    flush();
    sync(device);
    er.train_s = seconds_since(t_epoch);
    er.events_per_s = er.train_s > 0 ? static_cast<double>(er.events) / er.train_s : 0;
    for (size_t i = epoch_first_step; i < r.steps.size(); ++i) loss_sum_steps += r.steps[i].loss;
    er.train_loss = er.steps > 0 ? loss_sum_steps / static_cast<double>(er.steps) : 0;
    if (r.status == "ok") {
      const auto t_val = Clock::now();
      er.validation = validate(net, val_loader, device, cfg.precision, mcfg.num_classes);
      er.validation_s = seconds_since(t_val);
      spdlog::info("epoch {} done: {:.1f} s, {:.2f} events/s, train loss {:.4f} | validation loss {:.4f}, "
                   "accuracy {:.4f}, on particles {:.4f} ({} events, {:.1f} s)",
                   epoch, er.train_s, er.events_per_s, er.train_loss, er.validation.loss, er.validation.accuracy,
                   er.validation.accuracy_particles, er.validation.events, er.validation_s);
    }
    r.epochs.push_back(er);
  }

  // ---- what the run measured ----------------------------------------------------------------
  r.timed_steps = meter.timed_steps();
  r.timed_events = meter.timed_events();
  r.timed_s = meter.timed_seconds();
  r.events_per_s = meter.events_per_second();
  r.data_wait_fraction = r.timed_s > 0 ? meter.timed_data_wait_seconds() / r.timed_s : 0;
  r.padding_fraction = (padded + real) > 0 ? static_cast<double>(padded) / static_cast<double>(padded + real) : 0;
  r.flop_per_event_train = r.timed_events > 0 ? cost.train_per_element * timed_elements / static_cast<double>(r.timed_events) : 0;
  r.final_weights_checksum = tensors_checksum(weights_of(net));
  r.peak_rss_mb = peak_rss_mb();
  if (device.is_cuda()) r.gpu.peak_memory_mb = gpu::peak_device_memory_mb(device.index());
  r.wall_s = seconds_since(t_start);
  // Too little work makes a timing meaningless: say so in the log and the report.
  if (r.timed_steps > 0 && (r.timed_s < kMinTimedSeconds || r.timed_steps < kMinTimedSteps)) {
    warn(fmt::format(
        "the timed window is short ({:.1f} s over {} steps; at least {:.0f} s and {} steps make a steady figure): "
        "train longer (--epochs, --max-train-events) for a throughput to compare",
        r.timed_s, r.timed_steps, kMinTimedSeconds, kMinTimedSteps));
  }
  if (r.status == "ok" && r.timed_steps == 0) {
    r.status = "failed";
    r.error = "no step inside the timed window (" + std::to_string(global_step) + " steps, " +
              std::to_string(cfg.warmup_steps) + " warm-up): train longer or lower --warmup-steps";
  }
  if (!cfg.results.empty()) model::save_state_dict(*net, cfg.results + "/final_weights.pt");
  return r;
}

}  // namespace hmb::train
