#include "data/loader.hpp"

#include <ATen/EmptyTensor.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "data/rng.hpp"
#include "util/error.hpp"

namespace hmb::data {

std::vector<std::vector<std::int64_t>> epoch_batches(const EventTable& t, Split split, const LoaderConfig& cfg, int epoch) {
  std::vector<std::int64_t> order;
  for (std::int64_t i = 0; i < t.n_events(); ++i)
    if (t.split[static_cast<size_t>(i)] == static_cast<std::int8_t>(split)) order.push_back(i);
  if (cfg.max_events > 0 && static_cast<std::int64_t>(order.size()) > cfg.max_events) order.resize(static_cast<size_t>(cfg.max_events));

  // Fisher–Yates with hep-mlbench's own generator: the order depends on (seed, epoch) only.
  Rng rng(cfg.seed, 0x5eed0000ULL + static_cast<std::uint64_t>(epoch));
  auto shuffle = [&rng](auto& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[static_cast<size_t>(rng.next() % i)]);
  };
  if (cfg.shuffle) shuffle(order);

  const size_t B = static_cast<size_t>(cfg.batch_size), W = static_cast<size_t>(cfg.world);
  std::vector<std::vector<std::int64_t>> out;
  if (split == Split::train) {
    const size_t global = B * W;
    const size_t n_global = order.size() / global;  // the incomplete last global batch is dropped
    if (cfg.bucket_by_size) {
      // Sort windows of 32 global batches by event size, so each batch holds similar sizes.
      const size_t window = 32 * global;
      for (size_t s = 0; s < n_global * global; s += window) {
        auto end = order.begin() + static_cast<std::ptrdiff_t>(std::min(s + window, n_global * global));
        std::stable_sort(order.begin() + static_cast<std::ptrdiff_t>(s), end,
                         [&t](std::int64_t a, std::int64_t b) { return t.event_size(a) < t.event_size(b); });
      }
    }
    std::vector<std::vector<std::int64_t>> globals(n_global);
    for (size_t g = 0; g < n_global; ++g) globals[g].assign(order.begin() + static_cast<std::ptrdiff_t>(g * global),
                                                            order.begin() + static_cast<std::ptrdiff_t>((g + 1) * global));
    if (cfg.bucket_by_size && cfg.shuffle) shuffle(globals);
    for (auto& g : globals) {
      out.emplace_back(g.begin() + static_cast<std::ptrdiff_t>(static_cast<size_t>(cfg.rank) * B),
                       g.begin() + static_cast<std::ptrdiff_t>(static_cast<size_t>(cfg.rank + 1) * B));
    }
  } else {
    std::vector<std::int64_t> mine;
    for (size_t i = static_cast<size_t>(cfg.rank); i < order.size(); i += W) mine.push_back(order[i]);
    for (size_t s = 0; s < mine.size(); s += B)
      out.emplace_back(mine.begin() + static_cast<std::ptrdiff_t>(s),
                       mine.begin() + static_cast<std::ptrdiff_t>(std::min(s + B, mine.size())));
  }
  return out;
}

Loader::Loader(std::shared_ptr<const EventTable> table, Split split, LoaderConfig cfg, Assembler assembler)
    : table_(std::move(table)), split_(split), cfg_(cfg), assembler_(std::move(assembler)) {
  require(cfg_.batch_size >= 1, "loader: batch size must be at least 1");
  require(cfg_.world >= 1 && cfg_.rank >= 0 && cfg_.rank < cfg_.world, "loader: rank must be in [0, world)");
  for (auto s : table_->split) n_split_events_ += s == static_cast<std::int8_t>(split);
  if (cfg_.max_events > 0) n_split_events_ = std::min(n_split_events_, cfg_.max_events);
}

Loader::~Loader() { stop_workers(); }

void Loader::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& w : workers_) w.join();
  workers_.clear();
  stopping_ = false;
}

void Loader::start_epoch(int epoch) {
  stop_workers();
  batches_ = epoch_batches(*table_, split_, cfg_, epoch);
  pad_to_.assign(batches_.size(), 0);
  if (split_ == Split::train && cfg_.world > 1) {
    // The global batches are one rank's batches of batch_size x world events, in the same order.
    LoaderConfig whole = cfg_;
    whole.batch_size = cfg_.batch_size * cfg_.world;
    whole.rank = 0;
    whole.world = 1;
    const auto globals = epoch_batches(*table_, split_, whole, epoch);
    for (size_t b = 0; b < batches_.size() && b < globals.size(); ++b)
      for (auto i : globals[b]) pad_to_[b] = std::max(pad_to_[b], table_->event_size(i));
  }
  ready_.assign(batches_.size(), std::nullopt);
  failed_.assign(batches_.size(), nullptr);
  consumed_ = 0;
  for (int i = 0; i < cfg_.threads; ++i) workers_.emplace_back(&Loader::worker, this, i);
}

void Loader::worker(int id) {
  for (size_t b = static_cast<size_t>(id); b < batches_.size(); b += static_cast<size_t>(cfg_.threads)) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || b < consumed_ + static_cast<size_t>(cfg_.prefetch); });
      if (stopping_) return;
    }
    std::optional<Batch> batch;
    std::exception_ptr error;
    try {
      batch = assembler_(*table_, batches_[b], cfg_.pin_memory, pad_to_[b]);
    } catch (...) {
      error = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (error) {
        failed_[b] = error;
      } else {
        ready_[b] = std::move(batch);
      }
    }
    cv_.notify_all();
    if (error) return;  // the consumer rethrows it when it reaches this batch
  }
}

std::optional<Batch> Loader::next() {
  if (consumed_ >= batches_.size()) return std::nullopt;
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return ready_[consumed_].has_value() || failed_[consumed_] != nullptr; });
  if (failed_[consumed_]) {
    const auto error = failed_[consumed_];
    const auto& ids = batches_[consumed_];
    lock.unlock();
    std::string what;
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
      what = "unknown exception";
    }
    std::string events;
    for (size_t k = 0; k < ids.size() && k < 8; ++k) events += (k ? ", " : "") + std::to_string(ids[k]);
    if (ids.size() > 8) events += ", ...";
    throw Error("loader: batch " + std::to_string(consumed_) + " (events " + events + ") could not be made: " + what);
  }
  Batch b = std::move(*ready_[consumed_]);
  ready_[consumed_].reset();
  ++consumed_;
  lock.unlock();
  cv_.notify_all();
  last_wait_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  wait_s_ += last_wait_s_;
  return b;
}

Batch assemble_batch(const EventTable& t, const std::vector<std::int64_t>& ids, bool pin_memory, std::int64_t pad_to) {
  std::int64_t n_max = std::max<std::int64_t>(1, pad_to), real = 0;
  for (auto i : ids) {
    n_max = std::max(n_max, t.event_size(i));
    real += t.event_size(i);
  }
  const auto B = static_cast<std::int64_t>(ids.size());
  // This runs on a loader thread, which must not enter a LibTorch operator that can run in
  // parallel (torch::zeros, or torch::empty itself under deterministic algorithms, which fills
  // new memory): each such thread would start an OpenMP team of its own, and with more OpenMP
  // threads than cores the training threads sleep at every barrier instead of spinning, which
  // slowed CPU training steps by a fifth (docs/performance.md). So the memory comes straight
  // from the allocator (pinned where asked) and is filled here.
  Batch b;
  b.x = at::detail::empty_cpu({B, n_max, kXColumns}, torch::kFloat, pin_memory);
  b.ygen = at::detail::empty_cpu({B, n_max, kYColumns}, torch::kFloat, pin_memory);
  float* x = b.x.data_ptr<float>();
  float* y = b.ygen.data_ptr<float>();
  for (std::int64_t k = 0; k < B; ++k) {  // each event's rows, then zeros to n_max
    const auto i = ids[static_cast<size_t>(k)];
    const auto row = t.offsets[static_cast<size_t>(i)];
    const auto n = t.event_size(i);
    std::memcpy(x + k * n_max * kXColumns, t.X.data() + row * kXColumns, static_cast<size_t>(n * kXColumns) * sizeof(float));
    std::memcpy(y + k * n_max * kYColumns, t.ygen.data() + row * kYColumns, static_cast<size_t>(n * kYColumns) * sizeof(float));
    std::fill(x + (k * n_max + n) * kXColumns, x + (k + 1) * n_max * kXColumns, 0.0f);
    std::fill(y + (k * n_max + n) * kYColumns, y + (k + 1) * n_max * kYColumns, 0.0f);
  }
  // The mask goes to the device with the other two: in pinned memory too, so that its copy is a
  // DMA queued on the stream like theirs rather than one the driver stages through its own
  // buffer on the host, at the host's expense, every step.
  b.mask = at::detail::empty_cpu({B, n_max}, torch::kBool, pin_memory);
  bool* m = b.mask.data_ptr<bool>();
  for (std::int64_t e = 0; e < B * n_max; ++e) m[e] = x[e * kXColumns + xcol::type] != 0.0f;
  b.event_ids = ids;
  b.real_elements = real;
  b.padded_elements = B * n_max - real;
  return b;
}

}  // namespace hmb::data
