#pragma once
// The loader: batches of events for one rank, prepared ahead by background threads so that
// the trainer never waits when the loader keeps up.
//
// Order: the split's events (the first max_events of them), shuffled from (seed, epoch) only;
// with bucket_by_size, events of similar size are grouped into the same batch (less padding)
// and the batches are shuffled. Sharding: global batch j holds batch_size x world events; rank
// r takes the r-th slice, so across ranks every training event appears exactly once per epoch
// (the last incomplete global batch is dropped in training; validation keeps every event).
// With several ranks, every rank pads its training batch to the longest event of the global
// batch, so that the model sees the shapes one rank would see with the whole global batch (the
// LSH binning depends on the padded length) and the ranks' steps are alike in cost.
#include <torch/types.h>

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "data/event_format.hpp"

namespace hmb::data {

struct Batch {
  torch::Tensor x;       // (B, N, 12) float32, zero-padded to the longest event N of the batch
  torch::Tensor ygen;    // (B, N, 7) float32
  torch::Tensor mask;    // (B, N) bool: x[..., 0] != 0
  std::vector<std::int64_t> event_ids;  // (B) indices into the file
  std::int64_t real_elements = 0;       // sum of event sizes
  std::int64_t padded_elements = 0;     // B * N - real_elements
};

enum class Split { train = 0, validation = 1 };

struct LoaderConfig {
  int batch_size = 4;
  int rank = 0, world = 1;
  std::uint64_t seed = 42;
  bool shuffle = true;          // training: yes; validation: file order
  bool bucket_by_size = false;
  int threads = 2;              // background threads
  int prefetch = 4;             // batches ready ahead of the trainer
  bool pin_memory = false;      // page-locked host memory (only where CUDA is present)
  std::int64_t max_events = 0;  // > 0: only the first N events of the split
};

// Builds the batch of the given events (the default pads and copies them from the table), padded
// to at least `pad_to` elements per event. Runs on the loader's threads; what it throws reaches
// the consumer in next().
using Assembler = std::function<Batch(const EventTable&, const std::vector<std::int64_t>& ids, bool pin_memory,
                                      std::int64_t pad_to)>;
Batch assemble_batch(const EventTable& t, const std::vector<std::int64_t>& ids, bool pin_memory,
                     std::int64_t pad_to = 0);

// Event order and batches of one epoch for one rank: a pure function, tested directly.
std::vector<std::vector<std::int64_t>> epoch_batches(const EventTable& t, Split split, const LoaderConfig& cfg, int epoch);

class Loader {
 public:
  Loader(std::shared_ptr<const EventTable> table, Split split, LoaderConfig cfg, Assembler assembler = assemble_batch);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Starts preparing the batches of `epoch` (from 0).
  void start_epoch(int epoch);
  std::int64_t batches_in_epoch() const { return static_cast<std::int64_t>(batches_.size()); }
  std::int64_t events_in_split() const { return n_split_events_; }
  // The next batch of the epoch, or nothing at its end. Blocks while the batch is not ready;
  // that time is added to wait_seconds(). When a loader thread failed to make the batch, its
  // exception is rethrown here (an Error naming the batch's events).
  std::optional<Batch> next();
  double wait_seconds() const { return wait_s_; }
  double last_wait_seconds() const { return last_wait_s_; }

 private:
  void stop_workers();
  void worker(int id);

  std::shared_ptr<const EventTable> table_;
  Split split_;
  LoaderConfig cfg_;
  std::int64_t n_split_events_ = 0;
  std::vector<std::vector<std::int64_t>> batches_;
  std::vector<std::int64_t> pad_to_;  // per batch: the global batch's longest event (0: own)
  Assembler assembler_;
  std::vector<std::optional<Batch>> ready_;
  std::vector<std::exception_ptr> failed_;
  std::size_t consumed_ = 0;
  bool stopping_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::thread> workers_;
  double wait_s_ = 0, last_wait_s_ = 0;
};

}  // namespace hmb::data
