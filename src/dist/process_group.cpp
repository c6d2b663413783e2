// The multi-rank communicator on LibTorch's c10d: a store to meet (TCP or file), one process
// group with the Gloo (CPU) or NCCL (GPU) backend, and c10d's Reducer for the gradients, which
// buckets them and starts each bucket's all-reduce as soon as its last gradient is computed, so
// that communication overlaps the rest of the backward pass.
//
// Every collective goes through run(): a failure (a peer that died, a timeout) marks the
// communicator broken and becomes an hmb::Error saying what to look at; later collectives
// fail at once instead of waiting for a timeout each.
#include "dist/process_group.hpp"

#include <spdlog/spdlog.h>
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/HashStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/comm.hpp>
#include <torch/csrc/distributed/c10d/reducer.hpp>
#include <torch/version.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <type_traits>

#include "dist/process_group_nccl.hpp"
#include "util/error.hpp"

namespace hmb::dist {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0, Clock::time_point t) { return std::chrono::duration<double>(t - t0).count(); }

std::string timeout_text(std::chrono::milliseconds t) {
  return std::to_string(static_cast<long long>(t.count() / 1000)) + " s";
}

// What the communication hook saw of one step's buckets: launch and completion times.
class StepLog {
 public:
  void start_step() {
    std::lock_guard<std::mutex> lock(mu_);
    launches_.clear();
    done_.clear();
    bytes_ = 0;
  }
  size_t launched(double bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    launches_.push_back(Clock::now());
    done_.push_back(Clock::time_point{});
    bytes_ += bytes;
    return launches_.size() - 1;
  }
  void completed(size_t i) {
    std::lock_guard<std::mutex> lock(mu_);
    if (i < done_.size()) done_[i] = Clock::now();
  }
  // Union of the [launch, done] intervals; exposed = `end` minus the last launch.
  StepComm summary(Clock::time_point end) const {
    std::lock_guard<std::mutex> lock(mu_);
    StepComm s;
    s.bytes = bytes_;
    s.buckets = static_cast<int>(launches_.size());
    if (launches_.empty()) return s;
    std::vector<std::pair<Clock::time_point, Clock::time_point>> iv;
    for (size_t i = 0; i < launches_.size(); ++i)
      iv.emplace_back(launches_[i], done_[i] == Clock::time_point{} ? end : done_[i]);
    std::sort(iv.begin(), iv.end());
    Clock::time_point cur_from = iv[0].first, cur_to = iv[0].second;
    for (size_t i = 1; i < iv.size(); ++i) {
      if (iv[i].first > cur_to) {
        s.comm_s += seconds_since(cur_from, cur_to);
        cur_from = iv[i].first;
      }
      cur_to = std::max(cur_to, iv[i].second);
    }
    s.comm_s += seconds_since(cur_from, cur_to);
    const auto last_launch = *std::max_element(launches_.begin(), launches_.end());
    s.exposed_s = std::max(0.0, seconds_since(last_launch, end));
    return s;
  }

 private:
  mutable std::mutex mu_;
  std::vector<Clock::time_point> launches_, done_;
  double bytes_ = 0;
};

// The reducer's communication hook: a plain sum over the ranks (the loss is normalised by the
// global element counts, so the sum of the ranks' gradients is the gradient of the global
// loss), with the bucket's launch and completion noted for the report.
class SumHook final : public c10d::CommHookInterface {
 public:
  SumHook(c10::intrusive_ptr<c10d::ProcessGroup> pg, std::shared_ptr<StepLog> log)
      : pg_(std::move(pg)), log_(std::move(log)) {}

  c10::intrusive_ptr<c10::ivalue::Future> runHook(c10d::GradBucket& bucket) override {
    auto& buffer = bucket.getBufferRef();
    const size_t id = log_->launched(static_cast<double>(buffer.numel() * buffer.element_size()));
    std::vector<at::Tensor> tensors{buffer};
    auto fut = pg_->allreduce(tensors)->getFuture();
    std::weak_ptr<StepLog> log = log_;
    fut->addCallback([log, id](c10::ivalue::Future& /*f*/) {
      if (auto l = log.lock()) l->completed(id);
    });
    return fut;
  }
  at::Tensor parseHookResult(const c10::IValue& result) override { return c10d::detail::parseCppCommHookResult(result); }

 private:
  c10::intrusive_ptr<c10d::ProcessGroup> pg_;
  std::shared_ptr<StepLog> log_;
};

// The Reducer's constructor gained arguments over LibTorch versions: build it with what this
// one takes.
template <class R = c10d::Reducer>
std::unique_ptr<R> make_reducer(const std::vector<at::Tensor>& params, std::vector<std::vector<size_t>> buckets,
                                const c10::intrusive_ptr<c10d::ProcessGroup>& pg, int64_t cap, int64_t first_cap) {
  std::vector<bool> sparse(params.size(), false);
  if constexpr (std::is_constructible_v<R, std::vector<at::Tensor>, std::vector<std::vector<size_t>>,
                                        c10::intrusive_ptr<c10d::ProcessGroup>, std::vector<bool>, int64_t, bool,
                                        bool, std::unordered_map<size_t, std::string>, int64_t, bool, bool,
                                        std::vector<int64_t>>) {
    return std::make_unique<R>(params, std::move(buckets), pg, sparse, cap, /*find_unused_parameters=*/false,
                               /*gradient_as_bucket_view=*/false, std::unordered_map<size_t, std::string>{},
                               first_cap, /*skip_all_reduce_unused_params=*/false, /*use_python_reducer=*/false,
                               std::vector<int64_t>{});
  } else {
    return std::make_unique<R>(params, std::move(buckets), pg, sparse, cap, false, false,
                               std::unordered_map<size_t, std::string>{}, first_cap, false, false);
  }
}

class ReducerSync final : public GradientSync {
 public:
  ReducerSync(const std::vector<torch::Tensor>& params, const c10::intrusive_ptr<c10d::ProcessGroup>& pg,
              const GradientSyncOptions& opts)
      : log_(std::make_shared<StepLog>()) {
    const auto cap = static_cast<int64_t>(opts.bucket_mb * 1024 * 1024);
    const int64_t first_cap = std::min<int64_t>(cap, 1024 * 1024);
    // Buckets in reverse order of the parameters: their gradients become ready in that order.
    auto assignment = c10d::compute_bucket_assignment_by_size(
        params, {static_cast<size_t>(first_cap), static_cast<size_t>(cap)}, std::vector<bool>(params.size(), false));
    auto buckets = std::get<0>(assignment);
    std::reverse(buckets.begin(), buckets.end());
    n_buckets_ = buckets.size();
    reducer_ = make_reducer(params, std::move(buckets), pg, cap, first_cap);
    reducer_->register_comm_hook(std::make_unique<SumHook>(pg, log_));
  }

  void before_forward() override {
    log_->start_step();
    // After the first step the reducer rebuilds its buckets in the order gradients arrived.
    reducer_->rebuild_buckets();
    reducer_->prepare_for_forward();
  }
  void before_backward() override { reducer_->prepare_for_backward({}); }
  void after_backward() override { last_ = log_->summary(Clock::now()); }
  StepComm last_step() const override { return last_; }

 private:
  std::shared_ptr<StepLog> log_;
  std::unique_ptr<c10d::Reducer> reducer_;
  size_t n_buckets_ = 0;
  StepComm last_;
};

class ProcessGroupCommunicator final : public Communicator {
 public:
  ProcessGroupCommunicator(c10::intrusive_ptr<c10d::Store> store, c10::intrusive_ptr<c10d::ProcessGroup> pg,
                           const LaunchInfo& launch, const ConnectOptions& opts)
      : store_(std::move(store)), pg_(std::move(pg)), launch_(launch), opts_(opts) {}

  int rank() const override { return launch_.rank; }
  int world() const override { return launch_.world; }
  std::string backend() const override { return opts_.backend; }
  std::string describe() const override {
    return opts_.backend + ", " + std::to_string(launch_.world) + " ranks (" + launch_.launcher + ", " +
           launch_.rendezvous() + ")";
  }

  void all_reduce(torch::Tensor& t, ReduceOp op) override {
    run("all-reduce", [&] {
      c10d::AllreduceOptions o;
      o.reduceOp = op == ReduceOp::sum ? c10d::ReduceOp::SUM : c10d::ReduceOp::MAX;
      std::vector<at::Tensor> v{on_backend(t)};
      pg_->allreduce(v, o)->wait();
      if (!v[0].is_same(t)) t.copy_(v[0]);
    });
  }
  void broadcast(torch::Tensor& t, int root) override {
    run("broadcast", [&] {
      c10d::BroadcastOptions o;
      o.rootRank = root;
      std::vector<at::Tensor> v{on_backend(t)};
      pg_->broadcast(v, o)->wait();
      if (!v[0].is_same(t)) t.copy_(v[0]);
    });
  }
  bool any(bool flag) override {
    auto t = torch::full({1}, flag ? 1 : 0, torch::TensorOptions(torch::kInt).device(small_device()));
    all_reduce(t, ReduceOp::max);
    return t.item<int>() != 0;
  }
  std::unique_ptr<GradientSync> sync_gradients(const std::vector<torch::Tensor>& params,
                                               const GradientSyncOptions& opts) override {
    return std::make_unique<ReducerSync>(params, pg_, opts);
  }

 private:
  torch::Device small_device() const {
    return opts_.device_index >= 0 ? torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(opts_.device_index))
                                   : torch::Device(torch::kCPU);
  }
  // NCCL reduces device tensors only: a host tensor (a table of figures) travels through a copy.
  // The result is contiguous, as the backends want it.
  torch::Tensor on_backend(const torch::Tensor& t) const {
    const auto dev = small_device();
    if (t.device() == dev && t.is_contiguous()) return t;
    return t.to(dev).contiguous();
  }
  template <class F>
  void run(const char* what, F&& f) {
    if (!broken_.empty())
      throw Error(std::string(what) + " across " + std::to_string(launch_.world) +
                  " ranks: not attempted, an earlier collective failed (" + broken_ + ")");
    try {
      f();
    } catch (const std::exception& e) {
      std::string msg = e.what();
      if (auto nl = msg.find('\n'); nl != std::string::npos) msg.resize(nl);
      // Gloo's own advice after the reason repeats ours.
      if (auto advice = msg.find(" This is typically caused"); advice != std::string::npos) msg.resize(advice);
      broken_ = msg;
      throw Error(std::string(what) + " across " + std::to_string(launch_.world) + " ranks failed on rank " +
                  std::to_string(launch_.rank) + " (" + opts_.backend + ", timeout " + timeout_text(opts_.timeout) +
                  "): " + msg + ". Another rank has stopped or hangs: its log (rank_N.log in the results folder, or "
                  "the launcher's output) says why");
    }
  }

  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroup> pg_;
  LaunchInfo launch_;
  ConnectOptions opts_;
  std::string broken_;
};

c10::intrusive_ptr<c10d::Store> meet(const LaunchInfo& launch, const ConnectOptions& opts) {
  const std::string where = launch.rendezvous();
  // One rank that nobody else has to find (train --dist-backend gloo|nccl on its own): the
  // store lives in this process.
  if (launch.world == 1 && launch.master_addr.empty() && launch.rendezvous_file.empty())
    return c10::make_intrusive<c10d::HashStore>();
  try {
    if (!launch.master_addr.empty()) {
      c10d::TCPStoreOptions o;
      o.port = static_cast<std::uint16_t>(launch.master_port);
      o.isServer = launch.rank == 0 && !launch.agent_store;
      o.numWorkers = launch.world;
      o.waitWorkers = true;
      o.timeout = opts.timeout;
      // Under its own prefix: torchrun's agent keeps its keys in the same store.
      return c10::make_intrusive<c10d::PrefixStore>("hep-mlbench",
                                                    c10::make_intrusive<c10d::TCPStore>(launch.master_addr, o));
    }
    auto store = c10::make_intrusive<c10d::FileStore>(launch.rendezvous_file, launch.world);
    store->setTimeout(opts.timeout);
    return store;
  } catch (const std::exception& e) {
    std::string msg = e.what();
    if (auto nl = msg.find('\n'); nl != std::string::npos) msg.resize(nl);
    throw Error("rendezvous at " + where + " failed for rank " + std::to_string(launch.rank) + " of " +
                std::to_string(launch.world) + " (" + launch.launcher + ", timeout " + timeout_text(opts.timeout) +
                "): " + msg +
                ". Check that rank 0 runs and that MASTER_ADDR/MASTER_PORT name its host and a free port "
                "(or that HMB_RENDEZVOUS_FILE is a fresh path every rank sees)");
  }
}

c10::intrusive_ptr<c10d::Backend> make_gloo(const c10::intrusive_ptr<c10d::Store>& store, const LaunchInfo& launch,
                                            const ConnectOptions& opts) {
  auto o = c10d::ProcessGroupGloo::Options::create(opts.timeout);
  // Ranks on one node talk over the loopback; across nodes over the interface GLOO_SOCKET_IFNAME
  // names, or the one the host name resolves to.
  if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname != nullptr && *ifname != '\0') {
    o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
  } else if (launch.local_world == launch.world) {
    o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
  } else {
    o->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  }
  o->threads = 2;
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, launch.rank, launch.world, o);
}

}  // namespace

std::string choose_backend(const std::string& option, bool cuda) {
  if (option == "auto") return cuda ? "nccl" : "gloo";
  require(option != "nccl" || cuda, "option --dist-backend: nccl needs GPUs; CPU ranks use gloo (--dist-backend auto)");
  require(option != "gloo" || !cuda,
          "option --dist-backend: gloo carries CPU tensors only, and this run trains on a GPU: use nccl "
          "(--dist-backend auto), or train on the CPU with --gpus cpu");
  return option;
}

bool backend_available(const std::string& backend) {
  if (backend == "gloo") return true;
  if (backend == "nccl") return nccl_backend_built();
  return false;
}

std::unique_ptr<Communicator> connect(const LaunchInfo& launch, const ConnectOptions& opts) {
  require(opts.backend == "gloo" || opts.backend == "nccl",
          "option --dist-backend: '" + opts.backend + "' is not gloo or nccl");
  require(backend_available(opts.backend),
          "option --dist-backend: this hep-mlbench was built without the CUDA path, so it has no NCCL; "
          "use --gpus cpu (Gloo) or a build with CUDA");
  spdlog::info("dist: {}; meeting the others at {} ({} backend, timeout {})", launch.describe(), launch.rendezvous(),
               opts.backend, timeout_text(opts.timeout));
  auto store = meet(launch, opts);
  c10::intrusive_ptr<c10d::Backend> backend;
  try {
    backend = opts.backend == "gloo" ? make_gloo(store, launch, opts)
                                     : make_nccl_backend(store, launch.rank, launch.world, opts.device_index, opts.timeout);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    std::string msg = e.what();
    if (auto nl = msg.find('\n'); nl != std::string::npos) msg.resize(nl);
    // What to do depends on what failed: no usable network interface, or missing peers.
    const bool no_interface = msg.find("Unable to find interface") != std::string::npos ||
                              msg.find("Unable to find address") != std::string::npos;
    const std::string hint =
        no_interface
            ? ". Gloo found no usable network interface: ranks on one node talk over the loopback (127.0.0.1), "
              "which must be up (`ip link set lo up`; a fresh network namespace has it down); across nodes, set "
              "GLOO_SOCKET_IFNAME to the interface the nodes share"
        : launch.world == 1 ? ""
                            : ". The other ranks did not all come: check that every rank was started with the same "
                              "rendezvous";
    throw Error("dist: setting up the " + opts.backend + " process group for rank " + std::to_string(launch.rank) +
                " of " + std::to_string(launch.world) + (launch.world > 1 ? " at " + launch.rendezvous() : "") +
                " failed (" + launch.launcher + ", timeout " + timeout_text(opts.timeout) + "): " + msg + hint);
  }
  auto pg = c10::make_intrusive<c10d::ProcessGroup>(store, launch.rank, launch.world);
  const auto type = opts.backend == "gloo" ? c10d::ProcessGroup::BackendType::GLOO : c10d::ProcessGroup::BackendType::NCCL;
  pg->setBackend(opts.backend == "gloo" ? c10::DeviceType::CPU : c10::DeviceType::CUDA, type, backend);
  pg->setDefaultBackend(type);
  auto comm = std::make_unique<ProcessGroupCommunicator>(store, pg, launch, opts);
  // Everyone is here: a first collective proves the group works before any data is read.
  auto hello = torch::ones({1}, torch::TensorOptions(torch::kInt).device(
                                    opts.device_index >= 0 ? torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(opts.device_index))
                                                           : torch::Device(torch::kCPU)));
  comm->all_reduce(hello, ReduceOp::sum);
  require(hello.item<int>() == launch.world, "dist: the first all-reduce counted " + std::to_string(hello.item<int>()) +
                                                 " ranks instead of " + std::to_string(launch.world));
  spdlog::info("dist: {} ranks connected ({})", launch.world, comm->describe());
  return comm;
}

}  // namespace hmb::dist
