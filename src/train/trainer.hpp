#pragma once
// The training step and loop of MLPF, with the seams the rest of a run plugs into:
//
//   Loader ─► Batch ─► step(): forward ─► loss (global normalisation) ─► backward, with the
//                      GradientSync summing gradient buckets over the ranks as they are ready
//                              ─► AdamW (fp16: loss scaling, skip on overflow, all on device)
//   fit(): epochs of steps, validate() after each; the TimedWindow opened after the warm-up,
//          paused around validation, closed at the end; step times from the device Timeline
//
// The trainer reads no file and writes none, knows nothing of the command line, and decides to
// end or skip a step only on values reduced through the Communicator, so that every rank
// decides alike.
#include <torch/optim/adamw.h>

#include <memory>
#include <optional>
#include <vector>

#include "data/loader.hpp"
#include "dist/communicator.hpp"
#include "metrics/timeline.hpp"
#include "metrics/trace.hpp"
#include "metrics/window.hpp"
#include "model/loss.hpp"
#include "model/mlpf.hpp"
#include "train/amp.hpp"
#include "train/config.hpp"
#include "train/records.hpp"

namespace hmb::train {

// What the trainer measures with: the window it opens and closes, the device timeline it marks
// steps on, the device it synchronises and the host clock; optionally where it tells the
// phases of a step (data wait, forward, backward, all-reduce, optimiser) for the trace.
struct Instruments {
  metrics::TimedWindow& window;
  metrics::Timeline& timeline;
  metrics::DeviceSync& device_sync;
  metrics::Clock& clock;
  metrics::StepPhases* phases = nullptr;
};

class Trainer {
 public:
  Trainer(Config cfg, model::MLPF net, torch::Device device, dist::Communicator& comm, Instruments inst);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // One optimisation step on `batch`. Returns the loss, still on the device: nothing here waits
  // for the device. With fp16 the update is skipped on the device when gradients overflow.
  torch::Tensor step(const data::Batch& batch);

  // Loss and accuracy over every batch of `loader`, from counts summed over all ranks.
  ValidationRecord validate(data::Loader& loader);

  // Epochs of steps over `train`, validation on `val` after each. Fills r.steps, r.epochs,
  // r.status/r.error, r.skipped_steps and r.padding_fraction. Never throws: an exception (a
  // LibTorch error such as out-of-memory, a loader failure) ends the run as "failed" with a
  // reason a person can act on; a stop signal ends it as "interrupted".
  void fit(data::Loader& train, data::Loader& val, RunResult& r);

  // Named in messages: "an 80 GiB NVIDIA H100", "the CPU (24 GiB host memory)".
  void set_device_description(std::string d) { device_text_ = std::move(d); }
  // Real plus padded elements of the steps inside the timed window (for the cost model).
  double timed_elements() const { return timed_elements_; }
  model::MLPF& model() { return net_; }

 private:
  struct Pending {
    size_t record;             // index into RunResult::steps
    torch::Tensor loss;        // on the device
    torch::Tensor found_inf;   // fp16 only: the step's overflow flag (a copy)
    std::int64_t from, to;     // timeline marks around the step
    double timed_elements;     // what the step added to timed_elements_ (0 outside the window)
  };
  void run_epochs(data::Loader& train, data::Loader& val, RunResult& r, bool& stop);
  // Reads back the pending losses, overflow flags and step times in one go, hands the samples
  // to the window, and ends the run on a non-finite loss found on any rank.
  void flush(RunResult& r, bool& stop);
  std::vector<torch::Tensor> gradients() const;
  // Sums the loss's batch statistics over the ranks (empty for one rank).
  model::StatsReducer stats_reducer();
  // Step phases for the trace (nothing unless one is recorded).
  void mark(metrics::Phase p) {
    if (inst_.phases != nullptr) inst_.phases->enter(p);
  }

  Config cfg_;
  model::MLPF net_;
  torch::Device device_;
  dist::Communicator& comm_;
  Instruments inst_;
  std::unique_ptr<torch::optim::AdamW> adamw_;   // fp32, tf32, bf16
  std::unique_ptr<FusedAdamW> fused_;            // fp16 (skips on the device)
  std::unique_ptr<LossScaler> scaler_;           // fp16
  std::unique_ptr<dist::GradientSync> sync_;      // the gradients' sum over the ranks
  std::vector<Pending> pending_;
  std::int64_t prev_mark_ = 0;
  std::int64_t consecutive_skips_ = 0;
  std::int64_t padded_ = 0, real_ = 0;
  double timed_elements_ = 0;
  std::string device_text_ = "this device";
  std::string stage_ = "training";
  std::int64_t current_step_ = 0;
};

}  // namespace hmb::train
