#include <catch2/catch.hpp>

#include <ATen/Context.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <filesystem>
#include <iterator>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <thread>

#include "data/loader.hpp"

using namespace hmb::data;

namespace {
// 23 training and 5 validation events of sizes 3..30.
std::shared_ptr<EventTable> table() {
  auto t = std::make_shared<EventTable>();
  for (int i = 0; i < 28; ++i) {
    const int n = 3 + i;
    std::vector<float> x(static_cast<size_t>(n * kXColumns), 0.5f), y(static_cast<size_t>(n * kYColumns), 0.0f);
    for (int r = 0; r < n; ++r) {
      x[static_cast<size_t>(r * kXColumns)] = 1.0f;
      x[static_cast<size_t>(r * kXColumns + 1)] = static_cast<float>(i);  // event id in column 1
    }
    t->append(x.data(), y.data(), n, i < 23 ? 0 : 1);
  }
  return t;
}
}  // namespace

TEST_CASE("loader: across R ranks every training event appears exactly once per epoch", "[data][loader]") {
  auto t = table();
  for (int world : {1, 2, 3}) {
    std::multiset<std::int64_t> seen;
    std::size_t steps = 0;
    for (int rank = 0; rank < world; ++rank) {
      LoaderConfig c;
      c.batch_size = 2;
      c.world = world;
      c.rank = rank;
      auto batches = epoch_batches(*t, Split::train, c, 0);
      if (rank == 0) steps = batches.size();
      CHECK(batches.size() == steps);  // every rank takes the same number of steps
      for (auto& b : batches) seen.insert(b.begin(), b.end());
    }
    const std::size_t used = (23 / (2 * world)) * 2 * world;  // the last incomplete global batch is dropped
    CHECK(seen.size() == used);
    CHECK(std::set<std::int64_t>(seen.begin(), seen.end()).size() == used);  // no duplicates
    for (auto id : seen) CHECK(t->split[static_cast<size_t>(id)] == 0);
  }
}

TEST_CASE("loader: the order depends on (seed, epoch) only", "[data][loader]") {
  auto t = table();
  LoaderConfig c;
  c.batch_size = 3;
  CHECK(epoch_batches(*t, Split::train, c, 0) == epoch_batches(*t, Split::train, c, 0));
  CHECK(epoch_batches(*t, Split::train, c, 0) != epoch_batches(*t, Split::train, c, 1));
  LoaderConfig other = c;
  other.seed = 99;
  CHECK(epoch_batches(*t, Split::train, c, 0) != epoch_batches(*t, Split::train, other, 0));
  c.shuffle = false;
  auto v = epoch_batches(*t, Split::validation, c, 0);
  REQUIRE(v.size() == 2);  // 5 validation events, batches of 3: none dropped
  CHECK(v[0] == std::vector<std::int64_t>{23, 24, 25});
  CHECK(v[1] == std::vector<std::int64_t>{26, 27});
}

TEST_CASE("loader: batches are padded to the longest event, bucketing cuts the padding", "[data][loader]") {
  auto t = table();
  auto padding = [&](bool bucket) {
    LoaderConfig c;
    c.batch_size = 4;
    c.bucket_by_size = bucket;
    c.threads = 2;
    c.prefetch = 2;
    const auto t0 = std::chrono::steady_clock::now();
    Loader loader(t, Split::train, c);
    loader.start_epoch(0);
    std::int64_t pad = 0, real = 0, batches = 0;
    while (auto b = loader.next()) {
      ++batches;
      const auto n = b->x.size(1);
      CHECK(b->x.sizes() == torch::IntArrayRef({4, n, kXColumns}));
      CHECK(b->ygen.sizes() == torch::IntArrayRef({4, n, kYColumns}));
      for (int k = 0; k < 4; ++k) {
        const auto id = b->event_ids[static_cast<size_t>(k)];
        CHECK(b->mask[k].sum().item<std::int64_t>() == t->event_size(id));
        CHECK(b->x[k][0][1].item<float>() == static_cast<float>(id));  // the right rows
      }
      pad += b->padded_elements;
      real += b->real_elements;
    }
    CHECK(batches == 5);
    // The waits for batches are part of the time spent in this loop, and at most all of it.
    CHECK(loader.wait_seconds() <= std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    return static_cast<double>(pad) / static_cast<double>(pad + real);
  };
  const double plain = padding(false), bucketed = padding(true);
  INFO("padding fraction plain " << plain << ", bucketed " << bucketed);
  CHECK(bucketed < plain);
}

TEST_CASE("loader: a batch is made on a loader thread without starting threads of its own", "[data][loader]") {
  // A LibTorch operator big enough to run in parallel, called on a loader thread, starts an
  // OpenMP team for that thread; its threads outnumber the cores and slow training down. Under
  // deterministic algorithms even torch::empty is such an operator (it fills new memory).
  auto t = std::make_shared<EventTable>();
  const int n = 4000;  // 48,000 floats in x: above LibTorch's grain for running in parallel
  std::vector<float> x(static_cast<size_t>(n * kXColumns), 0.5f), y(static_cast<size_t>(n * kYColumns), 0.25f);
  // Element types: 1, 0, -0 and NaN in turn (the mask is "type != 0": true, false, false, true).
  const float types[] = {1.0f, 0.0f, -0.0f, std::numeric_limits<float>::quiet_NaN()};
  for (int r = 0; r < n; ++r) x[static_cast<size_t>(r * kXColumns + xcol::type)] = types[r % 4];
  t->append(x.data(), y.data(), n, 0);
  const std::int64_t pad_to = n + 10;

  // What a batch must be, made on this thread with LibTorch's own operators.
  auto ref_x = torch::zeros({1, pad_to, kXColumns});
  auto ref_y = torch::zeros({1, pad_to, kYColumns});
  ref_x[0].narrow(0, 0, n).copy_(torch::from_blob(x.data(), {n, kXColumns}));
  ref_y[0].narrow(0, 0, n).copy_(torch::from_blob(y.data(), {n, kYColumns}));
  const auto ref_mask = torch::ne(ref_x.select(-1, xcol::type), 0);

  auto threads = [] {
    std::set<std::string> ids;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) ids.insert(e.path().filename());
    return ids;
  };
  // LibTorch's thread count and deterministic flags are global: set for this case, put back after.
  struct Restore {
    int threads = at::get_num_threads();
    bool deterministic = at::globalContext().deterministicAlgorithms();
    bool warn_only = at::globalContext().deterministicAlgorithmsWarnOnly();
    ~Restore() {
      at::globalContext().setDeterministicAlgorithms(deterministic, warn_only);
      at::set_num_threads(threads);
    }
  } restore;
  at::set_num_threads(2);
  at::globalContext().setDeterministicAlgorithms(true, false);
  std::set<std::string> before, after;
  Batch b;
  std::exception_ptr error;
  std::thread loader_thread([&] {
    try {
      before = threads();
      b = assemble_batch(*t, {0}, false, pad_to);
      after = threads();
    } catch (...) {
      error = std::current_exception();
    }
  });
  loader_thread.join();
  if (error) std::rethrow_exception(error);
  std::vector<std::string> started;
  std::set_difference(after.begin(), after.end(), before.begin(), before.end(), std::back_inserter(started));
  INFO("threads started while the batch was made: " << started.size());
  CHECK(started.empty());

  REQUIRE(b.x.sizes() == ref_x.sizes());
  REQUIRE(b.ygen.sizes() == ref_y.sizes());
  CHECK(b.x.is_contiguous());
  CHECK(b.mask.scalar_type() == torch::kBool);
  // Bit for bit (a NaN compares unequal to itself as a float).
  CHECK(torch::equal(b.x.view(torch::kInt32), ref_x.view(torch::kInt32)));
  CHECK(torch::equal(b.ygen.view(torch::kInt32), ref_y.view(torch::kInt32)));
  CHECK(torch::equal(b.mask, ref_mask));
  CHECK(b.mask.sum().item<std::int64_t>() == n / 2);
  CHECK(b.real_elements == n);
  CHECK(b.padded_elements == 10);
}
