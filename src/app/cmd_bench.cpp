// `hep-mlbench bench`: figures that are measured, not asserted (speed belongs here, not in
// unit tests). `--what data` times the generator and the loader; `--what model` one forward +
// backward of a 6,400-element event; `--what step` a training step against the matrix
// products it contains.
#include <spdlog/spdlog.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>

#include "app/commands.hpp"
#include "data/generator.hpp"
#include "data/loader.hpp"
#include "model/cost_model.hpp"
#include "model/loss.hpp"
#include "model/mlpf.hpp"
#include "train/determinism.hpp"
#include "util/atomic_file.hpp"
#include "util/error.hpp"
#include "util/process.hpp"

namespace hmb::app {

namespace {
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

void bench_data(std::int64_t events, int threads) {
  data::GeneratorConfig g;
  g.events = events;
  for (int t : {1, threads}) {
    g.threads = t;
    auto t0 = Clock::now();
    auto table = data::generate_events(g);
    const double s = since(t0);
    std::printf("generator  threads %d  %8.1f events/s  (%lld events in %.2f s; 2,000 events: %.0f s)\n", t,
                static_cast<double>(events) / s, static_cast<long long>(events), s, 2000.0 * s / static_cast<double>(events));
  }
  g.threads = threads;
  auto table = std::make_shared<const data::EventTable>(data::generate_events(g));
  const double bytes_per_event = static_cast<double>(table->X.size() + table->ygen.size()) * 4.0 / static_cast<double>(events);
  for (int t : {1, threads}) {
    data::LoaderConfig c;
    c.batch_size = 4;
    c.threads = t;
    c.prefetch = 8;
    data::Loader loader(table, data::Split::train, c);
    auto t0 = Clock::now();
    std::int64_t n = 0;
    for (int rep = 0; rep < 5; ++rep) {
      loader.start_epoch(rep);
      while (auto b = loader.next()) n += static_cast<std::int64_t>(b->event_ids.size());
    }
    const double s = since(t0);
    std::printf("loader     threads %d  %8.1f events/s  %8.1f MB/s  (%.1f events/s per thread)\n", t,
                static_cast<double>(n) / s, static_cast<double>(n) * bytes_per_event / s / 1e6, static_cast<double>(n) / s / t);
  }
}

torch::Tensor fake_event(std::int64_t n) {
  auto x = torch::randn({1, n, 12});
  x.select(-1, data::xcol::type).fill_(static_cast<int>(data::ElementType::tower));
  return x;
}

void bench_model(const std::string& preset, std::int64_t elements) {
  train::set_denormal_mode(true);  // as train does by default
  const std::string denormals = train::denormal_mode();
  torch::manual_seed(1);
  model::MLPF net(model::preset(preset));
  auto x = fake_event(elements);
  auto mask = x.select(-1, data::xcol::type) != 0;
  auto ygen = torch::zeros({1, elements, 7});
  ygen.select(-1, data::ycol::cls).copy_(torch::randint(0, data::kNumClasses, {1, elements}));
  ygen.narrow(-1, data::ycol::pt, data::ycol::num_momentum).copy_(torch::rand({1, elements, 5}));
  double best = 1e30;
  for (int rep = 0; rep < 3; ++rep) {
    auto t0 = Clock::now();
    net->zero_grad();
    auto out = net->forward(x, mask);
    model::compute_loss(out, ygen, mask).total.backward();
    best = std::min(best, since(t0));
  }
  const double flop = model::train_flop(net->config(), static_cast<double>(elements));
  std::printf("model %s: forward + backward of one %lld-element event on CPU: %.3f s (best of 3), %.2f GFLOP/s, "
              "peak RSS %.0f MiB, %lld parameters, denormals %s\n",
              preset.c_str(), static_cast<long long>(elements), best, flop / best / 1e9, peak_rss_mb(),
              static_cast<long long>(net->num_parameters()), denormals.c_str());
}

void bench_step(const std::string& preset, int batch, std::int64_t elements, const std::string& trace) {
  if (!trace.empty()) output_target(trace, "--trace");  // a path that cannot be written fails before the steps
  train::set_denormal_mode(true);  // as train does by default
  const std::string denormals = train::denormal_mode();
  const auto cfg = model::preset(preset);
  torch::manual_seed(1);
  model::MLPF net(cfg);
  torch::optim::AdamW opt(net->parameters(), torch::optim::AdamWOptions(1e-4));
  auto x = torch::cat(std::vector<torch::Tensor>(static_cast<size_t>(batch), fake_event(elements)), 0);
  auto mask = x.select(-1, data::xcol::type) != 0;
  auto ygen = torch::zeros({batch, elements, 7});
  auto step = [&] {
    opt.zero_grad();
    model::compute_loss(net->forward(x, mask), ygen, mask).total.backward();
    opt.step();
  };
  step();
  if (!trace.empty()) {
    // One more step under LibTorch's profiler: a Chrome trace (chrome://tracing, Perfetto) of
    // every operator, to see where the time outside the matrix products goes.
    std::ostringstream events;
    {
      torch::autograd::profiler::RecordProfile guard(events);
      step();
    }
    write_file_atomic(trace, events.str());  // whole or not at all, like every file hep-mlbench writes
  }
  double step_s = 1e30;
  for (int rep = 0; rep < 3; ++rep) {
    auto t0 = Clock::now();
    step();
    step_s = std::min(step_s, since(t0));
  }
  // The same matrix products alone: each forward product (M x K) @ (K x N) plus the two of
  // its backward pass, with the shapes of this batch.
  const std::int64_t rows = batch * ((elements + cfg.bin_size - 1) / cfg.bin_size * cfg.bin_size);
  const std::int64_t w = cfg.width, h = cfg.ffn_dist_hidden_dim, d = cfg.distance_dim, b = cfg.bin_size;
  struct Mm { std::int64_t batch, m, k, n, count; };
  const std::int64_t stacks = 2 * cfg.num_convs, bins = rows / b;
  std::vector<Mm> mms = {{1, batch * elements, 12, w, 2}, {1, batch * elements, w, w, 2},
                         {1, rows, w, h, stacks}, {1, rows, h, h, stacks}, {1, rows, h, d, stacks},
                         {bins, b, d, b, stacks}, {1, rows, w, w, 3 * cfg.num_node_messages * stacks},
                         {bins, b, b, w, cfg.num_node_messages * stacks},
                         {1, batch * elements, 12 + w, w, 1}, {1, batch * elements, 12 + w + 6, w, 5}};
  double mm_s = 0;
  for (const auto& mm : mms) {
    auto a = torch::randn({mm.batch, mm.m, mm.k}), bb = torch::randn({mm.batch, mm.k, mm.n});
    auto g = torch::randn({mm.batch, mm.m, mm.n});
    double best = 1e30;
    for (int rep = 0; rep < 3; ++rep) {
      auto t0 = Clock::now();
      auto c = torch::matmul(a, bb);                       // forward
      auto ga = torch::matmul(g, bb.transpose(1, 2));      // grad of a
      auto gb = torch::matmul(a.transpose(1, 2), g);       // grad of b
      best = std::min(best, since(t0));
    }
    mm_s += best * static_cast<double>(mm.count);
  }
  std::printf("step %s, batch %d x %lld elements: training step %.3f s (%.3f events/s, %d threads), its matrix "
              "products alone %.3f s, ratio %.2f (aim: <= 1.3); denormals %s\n",
              preset.c_str(), batch, static_cast<long long>(elements), step_s, batch / step_s, at::get_num_threads(),
              mm_s, step_s / mm_s, denormals.c_str());
}
}  // namespace

std::string preset_option(const std::string& requested, bool on_gpu) {
  const auto known = model::preset_names();
  if (requested != "auto" && std::find(known.begin(), known.end(), requested) == known.end()) {
    std::string list = "auto";
    for (const auto& n : known) list += ", " + n;
    throw Error("option --preset: '" + requested + "' is not a model preset (" + list + ")");
  }
  const std::string name = model::resolve_preset_name(requested, on_gpu);
  if (name != requested)
    spdlog::info("preset auto is {} ({}), as train would choose", name, on_gpu ? "on a GPU" : "on the CPU");
  return name;
}

void info_preset(const std::string& requested) {
  // As train's default --gpus auto would run: on a GPU where one is visible.
  const std::string name = preset_option(requested, torch::cuda::device_count() > 0);
  const auto cfg = model::preset(name);
  model::MLPF net(cfg);
  const auto cost = model::cost_per_element(cfg);
  std::printf("preset           %s\nwidth            %d\ngraph layers     %d per stack, %d messages each\n"
              "bin size         %d (codebook %d x %d)\ndistance dim     %d (hidden %d)\n"
              "parameters       %lld trainable\nFLOP per element %.4g forward, %.4g training step\n"
              "FLOP per event   %.4g training step (6,400 elements)\n",
              name.c_str(), cfg.width, cfg.num_convs, cfg.num_node_messages, cfg.bin_size, cfg.distance_dim,
              cfg.max_num_bins / 2, cfg.distance_dim, cfg.ffn_dist_hidden_dim,
              static_cast<long long>(net->num_parameters()), cost.forward_per_element, cost.train_per_element,
              cost.train_per_element * 6400);
  for (const auto& p : net->named_parameters())
    if (p.key().rfind("conv_id.1", 0) != 0 && p.key().rfind("conv_id.2", 0) != 0 && p.key().rfind("conv_reg", 0) != 0)
      std::printf("  %-58s %s\n", p.key().c_str(), c10::str(p.value().sizes()).c_str());
}

Command add_bench_command(CLI::App& app) {
  struct Args {
    std::string what = "data", preset = "delphes";
    std::int64_t events = 64, elements = 6400;
    int threads = 2, batch = 2;
    std::string trace;
    AllreduceBench allreduce;
    std::string gpus = "auto";
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("bench", "Print speed figures: data (generator, loader), model (fwd+bwd), step (vs matmuls)");
  sub->add_option("--what", a->what, "data | model | step | allreduce")
      ->capture_default_str()
      ->check(CLI::IsMember({"data", "model", "step", "allreduce"}));
  sub->add_option("--nproc", a->allreduce.nproc, "allreduce: CPU ranks to start on this node")->capture_default_str();
  sub->add_option("--mb", a->allreduce.mb, "allreduce: MiB to reduce (0: the preset's gradients)")->capture_default_str()
      ->check(CLI::Range(0.0, 65536.0));
  sub->add_option("--iterations", a->allreduce.iterations, "allreduce: timed all-reduces")->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub->add_option("--gpus", a->gpus, "allreduce: auto (NCCL on GPUs where there are any, else Gloo), all (NCCL on GPUs; an error without) or cpu (Gloo)")
      ->capture_default_str()->check(CLI::IsMember({"auto", "all", "cpu"}));
  sub->add_option("--preset", a->preset, "model preset (model, step; auto: delphes with a GPU visible, else small)")->capture_default_str();
  // Counts are checked here: a thread count of 0 would leave the loader waiting on no worker.
  sub->add_option("--events", a->events, "events (data)")->capture_default_str()->check(CLI::Range(std::int64_t{1}, std::int64_t{1000000}));
  sub->add_option("--elements", a->elements, "elements per event (model, step)")->capture_default_str()
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1000000}));
  sub->add_option("--threads", a->threads, "threads (data)")->capture_default_str()->check(CLI::Range(1, 1024));
  sub->add_option("--batch-size", a->batch, "events per step (step)")->capture_default_str()->check(CLI::Range(1, 4096));
  sub->add_option("--trace", a->trace, "step: write a Chrome trace of one profiled training step to this file");
  last_value_wins(*sub);
  return {sub, [a] {
            // model and step run on the CPU; allreduce on GPUs unless --gpus cpu or none is visible.
            a->preset = preset_option(a->preset, a->what == "allreduce" && a->gpus != "cpu" &&
                                                     torch::cuda::device_count() > 0);
            if (a->what == "allreduce") {
              a->allreduce.preset = a->preset;
              require(a->gpus != "all" || torch::cuda::device_count() > 0,
                      "option --gpus: 'all' asks for GPUs, but no CUDA device is visible; use --gpus auto or cpu");
              a->allreduce.gpus = a->gpus != "cpu";
              return bench_allreduce(a->allreduce);
            }
            if (a->what == "data") bench_data(a->events, a->threads);
            if (a->what == "model") bench_model(a->preset, a->elements);
            if (a->what == "step") bench_step(a->preset, a->batch, a->elements, a->trace);
            return 0;
          }};
}

}  // namespace hmb::app
