#include "train/trainer.hpp"

#include <spdlog/spdlog.h>
#include <torch/optim/adamw.h>
#include <torch/torch.h>

#include <cmath>

#include "model/loss.hpp"
#include "train/failure.hpp"
#include "util/error.hpp"
#include "util/process.hpp"

namespace hmb::train {

namespace {
// An fp16 run that skips this many updates in a row has no usable loss scale left.
constexpr std::int64_t kMaxConsecutiveSkips = 25;
}  // namespace

Trainer::Trainer(Config cfg, model::MLPF net, torch::Device device, dist::Communicator& comm, Instruments inst)
    : cfg_(std::move(cfg)), net_(std::move(net)), device_(device), comm_(comm), inst_(inst) {
  if (cfg_.precision == Precision::fp16) {
    fused_ = std::make_unique<FusedAdamW>(net_->parameters(), cfg_.lr, cfg_.weight_decay);
    scaler_ = std::make_unique<LossScaler>(device_);
  } else {
    adamw_ = std::make_unique<torch::optim::AdamW>(
        net_->parameters(), torch::optim::AdamWOptions(cfg_.lr).weight_decay(cfg_.weight_decay));
  }
  dist::GradientSyncOptions so;
  so.bucket_mb = cfg_.bucket_mb;
  sync_ = comm_.sync_gradients(net_->parameters(), so);
}

Trainer::~Trainer() = default;

std::vector<torch::Tensor> Trainer::gradients() const {
  std::vector<torch::Tensor> grads;
  for (const auto& p : net_->parameters())
    if (p.grad().defined()) grads.push_back(p.grad());
  return grads;
}

model::StatsReducer Trainer::stats_reducer() {
  if (comm_.world() == 1) return {};
  return [this](torch::Tensor& t) { comm_.all_reduce(t, dist::ReduceOp::sum); };
}

torch::Tensor Trainer::step(const data::Batch& batch) {
  mark(metrics::Phase::forward);
  auto x = batch.x.to(device_, /*non_blocking=*/true);
  auto y = batch.ygen.to(device_, true);
  auto m = batch.mask.to(device_, true);
  if (fused_) {
    fused_->zero_grad();
  } else {
    adamw_->zero_grad();
  }
  model::LossParts loss;
  sync_->before_forward();
  {
    AutocastGuard autocast(device_, cfg_.precision);
    auto out = net_->forward(x, m);
    // Each rank's loss is its share of the global batch's loss: the sum over ranks of the
    // gradients (the GradientSync's) is then the gradient of the global loss.
    loss = model::compute_loss(out, y, m, stats_reducer());
  }
  // The gradients' all-reduce runs inside the backward phase, bucket by bucket as gradients
  // are ready; only its exposed tail is measured apart (StepComm).
  mark(metrics::Phase::backward);
  if (scaler_) {
    sync_->backward([&] { scaler_->scale(loss.total).backward(); });
    auto grads = gradients();
    mark(metrics::Phase::optimiser);
    scaler_->unscale(grads);
    comm_.all_reduce(scaler_->found_inf(), dist::ReduceOp::max);  // every rank skips alike
    fused_->step(scaler_->found_inf());
    scaler_->update();
  } else {
    sync_->backward([&] { loss.total.backward(); });
    mark(metrics::Phase::optimiser);
    adamw_->step();
  }
  return loss.total.detach();
}

ValidationRecord Trainer::validate(data::Loader& loader) {
  torch::NoGradGuard no_grad;
  net_->eval();
  loader.start_epoch(0);
  const int nc = net_->config().num_classes;
  auto counts = model::zero_counts(nc, device_);
  std::int64_t events = 0;
  while (auto batch = loader.next()) {
    // Checked here on this rank alone (ranks may hold different numbers of validation batches,
    // so no collective can go inside this loop), agreed on once after it.
    if (stop_requested() != 0) break;
    auto x = batch->x.to(device_, /*non_blocking=*/true);
    auto y = batch->ygen.to(device_, true);
    auto m = batch->mask.to(device_, true);
    AutocastGuard autocast(device_, cfg_.precision);
    auto out = net_->forward(x, m);
    auto loss = model::compute_loss(out, y, m);
    model::accumulate(counts, out, loss, y, m);
    events += static_cast<std::int64_t>(batch->event_ids.size());
  }
  net_->train();
  if (dist::agree_on_stop(comm_) != 0) {
    ValidationRecord interrupted;
    interrupted.interrupted = true;
    return interrupted;
  }
  // Accuracy from counts summed over the ranks, never from an average of their fractions.
  auto n_events = torch::full({1}, events, torch::TensorOptions(torch::kLong).device(device_));
  comm_.all_reduce(counts.confusion, dist::ReduceOp::sum);
  comm_.all_reduce(counts.loss_sums, dist::ReduceOp::sum);
  comm_.all_reduce(counts.n_real, dist::ReduceOp::sum);
  comm_.all_reduce(n_events, dist::ReduceOp::sum);

  ValidationRecord v;
  v.events = n_events.item<std::int64_t>();
  auto confusion = counts.confusion.to(torch::kCPU);
  auto sums = counts.loss_sums.to(torch::kCPU);
  const auto n = counts.n_real.item<std::int64_t>();
  v.elements = n;
  const double dn = static_cast<double>(std::max<std::int64_t>(1, n));
  v.loss = sums[0].item<double>() / dn;
  v.loss_classification = sums[1].item<double>() / dn;
  v.loss_regression = sums[2].item<double>() / dn;
  std::int64_t correct = 0, particles = 0, particles_correct = 0;
  for (int t = 0; t < nc; ++t) {
    for (int p = 0; p < nc; ++p) {
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

void Trainer::flush(RunResult& r, bool& stop) {
  if (pending_.empty()) return;
  std::vector<torch::Tensor> losses, flags;
  for (const auto& p : pending_) {
    losses.push_back(p.loss.reshape({1}).to(torch::kFloat));
    if (p.found_inf.defined()) flags.push_back(p.found_inf.reshape({1}));
  }
  // The global batch's loss is the sum of the ranks' shares: one all-reduce for all of them,
  // then one read-back (the only synchronisation of the loop between boundaries).
  auto loss_shares = torch::cat(losses);
  if (comm_.world() > 1) comm_.all_reduce(loss_shares, dist::ReduceOp::sum);
  const auto loss_values = loss_shares.to(torch::kCPU, torch::kDouble);
  const auto flag_values = flags.empty() ? torch::Tensor() : torch::cat(flags).to(torch::kCPU, torch::kDouble);
  bool non_finite = false, hopeless = false;
  std::int64_t bad_step = 0;
  for (size_t i = 0; i < pending_.size(); ++i) {
    auto& rec = r.steps[pending_[i].record];
    rec.loss = loss_values[static_cast<std::int64_t>(i)].item<double>();
    rec.step_s = inst_.timeline.seconds(pending_[i].from, pending_[i].to);
    rec.skipped = flag_values.defined() && flag_values[static_cast<std::int64_t>(i)].item<double>() > 0;
    const metrics::StepSample sample{rec.epoch, rec.step, rec.events, rec.step_s, rec.data_wait_s, rec.timed};
    inst_.window.step(sample);
    if (rec.skipped) {
      ++r.skipped_steps;
      inst_.window.skipped(sample);
      // Not a trained step: its elements leave the model FLOP count as its events leave timed_events.
      timed_elements_ -= pending_[i].timed_elements;
    }
    switch (judge_step(rec.loss, rec.skipped)) {
      case StepOutcome::non_finite_loss:
        if (!non_finite) bad_step = rec.step;
        non_finite = true;
        break;
      case StepOutcome::skipped:
        if (++consecutive_skips_ >= kMaxConsecutiveSkips) hopeless = true;
        break;
      case StepOutcome::updated: consecutive_skips_ = 0; break;
    }
  }
  inst_.timeline.release_before(pending_.back().to);
  pending_.clear();
  const bool any_non_finite = comm_.any(non_finite);
  const bool any_hopeless = comm_.any(hopeless);
  if (r.status != "ok") return;
  if (any_non_finite) {
    r.status = "failed";
    r.error = non_finite_loss_error(non_finite ? bad_step : 0, cfg_.precision);
    stop = true;
  } else if (any_hopeless) {
    r.status = "failed";
    r.error = "fp16 loss scaling skipped " + std::to_string(kMaxConsecutiveSkips) +
              " updates in a row (gradients overflow at every scale): use --precision bf16 or fp32, or lower --lr";
    stop = true;
  }
}

void Trainer::run_epochs(data::Loader& train, data::Loader& val, RunResult& r, bool& stop) {
  stage_ = "training";
  train.start_epoch(0);
  const std::int64_t per_epoch = train.batches_in_epoch();
  require(per_epoch > 0, "training: no complete batch in the training split; lower --batch-size");
  // --steps S, when given, sets the run's length instead of --epochs: S steps, over as many
  // epochs as they take (the last one cut short; every epoch is validated).
  const int epochs = cfg_.steps > 0 ? static_cast<int>((cfg_.steps + per_epoch - 1) / per_epoch) : cfg_.epochs;
  const std::int64_t total = cfg_.steps > 0 ? cfg_.steps : per_epoch * epochs;
  spdlog::info("train: {} epochs x {} steps of {} events per rank ({} steps in all), warm-up {} steps", epochs,
               per_epoch, cfg_.batch_size, total, cfg_.warmup_steps);
  net_->train();
  std::int64_t done = 0;
  for (int epoch = 1; epoch <= epochs && !stop; ++epoch) {
    EpochRecord er;
    er.epoch = epoch;
    const double t_epoch = inst_.clock.now();
    inst_.window.resume();
    if (epoch > 1) train.start_epoch(epoch - 1);
    prev_mark_ = inst_.timeline.mark();
    double log_events = 0, log_seconds_from = inst_.clock.now();
    while (!stop) {
      stage_ = "training";
      current_step_ = done + 1;
      if (inst_.window.before_step(done)) prev_mark_ = inst_.timeline.mark();  // the window's edge
      mark(metrics::Phase::data_wait);
      auto batch = train.next();
      if (!batch) break;
      const double wait = train.last_wait_seconds();
      auto loss = step(*batch);
      if (inst_.phases != nullptr) inst_.phases->leave();
      ++done;
      const auto mark = inst_.timeline.mark();
      // Every rank trains a batch of the same size in each step: the step's events are all ranks'.
      const auto events = static_cast<std::int64_t>(batch->event_ids.size()) * comm_.world();
      const bool timed = inst_.window.is_open();
      const auto comm = sync_->last_step();
      r.steps.push_back(StepRecord{epoch, done, events, 0.0, wait, 0.0, timed, false, comm.comm_s, comm.exposed_s,
                                   comm.bytes});
      // With several ranks all batches of a step are padded alike (to the global batch's longest event).
      const double step_elements =
          timed ? static_cast<double>((batch->real_elements + batch->padded_elements) * comm_.world()) : 0.0;
      timed_elements_ += step_elements;
      pending_.push_back(Pending{r.steps.size() - 1, loss, scaler_ ? scaler_->found_inf().clone() : torch::Tensor(),
                                 prev_mark_, mark, step_elements});
      prev_mark_ = mark;
      padded_ += batch->padded_elements;
      real_ += batch->real_elements;
      er.steps += 1;
      er.events += events;
      er.data_wait_s += wait;
      log_events += static_cast<double>(events);

      // --debug: every step's batch on this rank as the host saw it (nothing here waits for the device).
      spdlog::debug("epoch {} step {}/{}: {} events, {} real + {} padding elements, data wait {:.2f} ms{}", epoch, done,
                    total, batch->event_ids.size(), batch->real_elements, batch->padded_elements, wait * 1e3,
                    timed ? "" : " (warm-up)");
      const bool at_flush = done % cfg_.log_every == 0 || done == total;
      if (at_flush) {
        flush(r, stop);
        const double now = inst_.clock.now();
        const auto& last = r.steps.back();
        spdlog::info("epoch {}/{} step {}/{} loss {:.4f} | {:.2f} events/s | {:.1f} ms/step | data-wait {:.1f}% | rss {:.0f} MiB",
                     epoch, epochs, done, total, last.loss, log_events / std::max(now - log_seconds_from, 1e-9),
                     last.step_s * 1e3, 100.0 * last.data_wait_s / std::max(last.step_s, 1e-9), peak_rss_mb());
        log_events = 0;
        log_seconds_from = now;
      }
      // A stop signal, agreed on by all ranks at the same step: every step alone (no collective)
      // and on CPU ranks (a small all-reduce of a host tensor). On GPU ranks the agreement's
      // read-back waits for the device, so it goes where the loop waits anyway (the flush, every
      // --log-every steps): one per step would keep the GPU from running ahead of the host with
      // several ranks but never with one, and bias the scaling figures.
      const bool agree_now = comm_.world() == 1 || !device_.is_cuda() || at_flush;
      if (!stop && agree_now && dist::agree_on_stop(comm_) != 0 && r.status == "ok") {
        r.status = "interrupted";
        r.error = "stopped by signal " + std::to_string(stop_requested()) + " at step " + std::to_string(done);
        stop = true;
      }
      if (done >= total) stop = true;
    }
    flush(r, stop);
    inst_.window.pause();
    inst_.device_sync.synchronize();  // the epoch's time includes its last step's device work
    er.train_s = inst_.clock.now() - t_epoch;
    er.events_per_s = er.train_s > 0 ? static_cast<double>(er.events) / er.train_s : 0;
    double loss_sum = 0;
    std::int64_t counted = 0;
    for (auto it = r.steps.end() - er.steps; it != r.steps.end(); ++it) {
      if (it->skipped || !std::isfinite(it->loss)) continue;
      loss_sum += it->loss;
      ++counted;
    }
    er.train_loss = counted > 0 ? loss_sum / static_cast<double>(counted) : 0;
    if (r.status == "ok") {
      stage_ = "validation";
      const double t_val = inst_.clock.now();
      er.validation = validate(val);
      er.validation_s = inst_.clock.now() - t_val;
      if (er.validation.interrupted) {
        r.status = "interrupted";
        r.error = "stopped by signal " + std::to_string(stop_requested()) + " during the validation of epoch " +
                  std::to_string(epoch) + " (after step " + std::to_string(done) + ")";
        r.epochs.push_back(er);
        stop = true;
        break;
      }
      spdlog::info("epoch {} done: {:.1f} s, {:.2f} events/s, train loss {:.4f} | validation loss {:.4f}, "
                   "accuracy {:.4f}, on particles {:.4f} ({} events, {:.1f} s)",
                   epoch, er.train_s, er.events_per_s, er.train_loss, er.validation.loss, er.validation.accuracy,
                   er.validation.accuracy_particles, er.validation.events, er.validation_s);
    }
    r.epochs.push_back(er);
  }
}

void Trainer::fit(data::Loader& train, data::Loader& val, RunResult& r) {
  bool stop = false;
  try {
    run_epochs(train, val, r, stop);
  } catch (const std::exception& e) {
    FailureContext ctx{stage_, current_step_, cfg_.batch_size, cfg_.preset, device_text_};
    r.status = "failed";
    r.failed_alone = comm_.world() > 1;
    r.error = explain_failure(e, ctx);
    spdlog::error("{}", r.error);
    pending_.clear();
  }
  try {
    inst_.window.end();
  } catch (const std::exception& e) {
    // A device that failed cannot be synchronised; the run has failed already and says why.
    spdlog::warn("closing the timed window: {}", e.what());
  }
  r.padding_fraction =
      (padded_ + real_) > 0 ? static_cast<double>(padded_) / static_cast<double>(padded_ + real_) : 0.0;
}

}  // namespace hmb::train
