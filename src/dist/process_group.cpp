// The multi-rank communicator on LibTorch's c10d: a store to meet (TCP or file), one process
// group with the Gloo (CPU) or NCCL (GPU) backend, and c10d's Reducer for the gradients, which
// buckets them and starts each bucket's all-reduce as soon as its last gradient is computed, so
// that communication overlaps the rest of the backward pass.
//
// Every collective goes through run(): a failure (a peer that died, a timeout) marks the
// communicator broken and becomes an hmb::Error saying what to look at; later collectives
// fail at once instead of waiting for a timeout each.
#include "dist/process_group.hpp"

#include <c10/util/Logging.h>
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

#include <pthread.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>

#include "dist/process_group_nccl.hpp"
#include "util/error.hpp"
#include "util/process.hpp"

namespace hmb::dist {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0, Clock::time_point t) { return std::chrono::duration<double>(t - t0).count(); }

std::string timeout_text(std::chrono::milliseconds t) {
  return std::to_string(static_cast<long long>(t.count() / 1000)) + " s";
}

// The reason in a c10d or Gloo error: its first line, without the full stop it may end with
// (ours follows it with advice).
std::string reason_of(const std::exception& e) {
  std::string msg = e.what();
  if (auto nl = msg.find('\n'); nl != std::string::npos) msg.resize(nl);
  while (!msg.empty() && (msg.back() == '.' || msg.back() == ' ')) msg.pop_back();
  return msg;
}

// What the communication hook saw of one step's buckets: launch and completion times.
class StepLog {
 public:
  void start_step() {
    std::lock_guard<std::mutex> lock(mu_);
    launches_.clear();
    done_.clear();
    futures_.clear();
    bytes_ = 0;
  }
  size_t launched(double bytes, c10::intrusive_ptr<c10::ivalue::Future> future) {
    std::lock_guard<std::mutex> lock(mu_);
    launches_.push_back(Clock::now());
    done_.push_back(Clock::time_point{});
    futures_.push_back(std::move(future));
    bytes_ += bytes;
    return launches_.size() - 1;
  }
  // The reason the first of this step's bucket all-reduces failed; nothing when none has. A
  // future holds its error before anyone waiting on it wakes, so this is sure once the wait threw.
  std::optional<std::string> failure() const {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& f : futures_)
      if (f && f->completed() && f->hasError()) return f->tryRetrieveErrorMessage();
    return std::nullopt;
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
  std::vector<c10::intrusive_ptr<c10::ivalue::Future>> futures_;
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
    std::vector<at::Tensor> tensors{buffer};
    auto fut = pg_->allreduce(tensors)->getFuture();
    const size_t id = log_->launched(static_cast<double>(buffer.numel() * buffer.element_size()), fut);
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

// Turns a collective's failure into the communicator's error (and marks it broken); never returns.
using FailureReport = std::function<void(const char* what, const std::string& reason)>;

class ReducerSync final : public GradientSync {
 public:
  ReducerSync(const std::vector<torch::Tensor>& params, const c10::intrusive_ptr<c10d::ProcessGroup>& pg,
              const GradientSyncOptions& opts, FailureReport fail)
      : log_(std::make_shared<StepLog>()), fail_(std::move(fail)) {
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
  void backward(const std::function<void()>& run_backward) override {
    reducer_->prepare_for_backward({});
    try {
      run_backward();
    } catch (const std::exception&) {
      // The reducer waits for its buckets at the end of the backward pass: a bucket whose
      // all-reduce failed surfaces there, as the backward pass's own exception.
      if (auto why = log_->failure()) fail_("gradient all-reduce", *why);
      throw;
    }
    last_ = log_->summary(Clock::now());
  }
  StepComm last_step() const override { return last_; }

 private:
  std::shared_ptr<StepLog> log_;
  FailureReport fail_;
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
    // One rank through a named backend (--dist-backend gloo|nccl) has no launcher and no meeting point.
    if (launch_.world == 1) return opts_.backend + ", 1 rank (its store in this process)";
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
    return std::make_unique<ReducerSync>(params, pg_, opts,
                                         [this](const char* what, const std::string& reason) { fail(what, reason); });
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
      fail(what, e.what());
    }
  }
  // A collective failed for `reason` (c10d's or Gloo's message): the communicator is broken from
  // now on, and the error says what to look at.
  [[noreturn]] void fail(const char* what, std::string reason) {
    if (auto nl = reason.find('\n'); nl != std::string::npos) reason.resize(nl);
    // Gloo puts its source file first: "[/…/gloo/transport/tcp/pair.cc:561] Connection closed by peer".
    if (!reason.empty() && reason.front() == '[')
      if (auto close = reason.find("] "); close != std::string::npos) reason.erase(0, close + 2);
    // Gloo's own advice after the reason repeats ours.
    if (auto advice = reason.find(" This is typically caused"); advice != std::string::npos) reason.resize(advice);
    while (!reason.empty() && (reason.back() == '.' || reason.back() == ' ')) reason.pop_back();
    broken_ = reason;
    throw Error(std::string(what) + " across " + std::to_string(launch_.world) + " ranks failed on rank " +
                std::to_string(launch_.rank) + " (" + opts_.backend + ", timeout " + timeout_text(opts_.timeout) +
                "): " + reason + ". Another rank has stopped or hangs: its log (rank_N.log in the results folder, or "
                "the launcher's output) says why");
  }

  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroup> pg_;
  LaunchInfo launch_;
  ConnectOptions opts_;
  std::string broken_;
};

// ---- meeting the others -------------------------------------------------------------------
// The blocking part of connect(): the store, every rank's arrival, the process group and its
// first all-reduce. c10d bounds none of it as a whole (a TCP client retries for up to about twice
// its timeout, and waits for ever on a program that holds the port without answering; a file
// store opens its file under c10d's own 300 s; Gloo keeps dialling an address that is gone), and
// none of it notices a stop signal. So it runs on a helper thread (run_meeting), while the
// calling thread waits with a deadline and watches stop_requested() (connect).

// How long past the timeout the caller waits before it gives up on the helper: c10d's own errors
// come at the timeout itself and say more than "no answer", so they get the chance to arrive.
constexpr std::chrono::seconds kGrace{2};
// How often the waiting caller looks at stop_requested().
constexpr std::chrono::milliseconds kStopPoll{100};

// "rank 1 of 4 (torchrun, timeout 300 s)"
std::string rank_text(const LaunchInfo& launch, const ConnectOptions& opts) {
  return "rank " + std::to_string(launch.rank) + " of " + std::to_string(launch.world) + " (" + launch.launcher +
         ", timeout " + timeout_text(opts.timeout) + ")";
}

// "rank 2", "ranks 1 and 3", "ranks 1, 2 and 5"; a long list is cut after its first eight.
std::string ranks_text(const std::vector<int>& ranks) {
  constexpr size_t kShown = 8;
  std::string s = ranks.size() == 1 ? "rank " : "ranks ";
  const size_t shown = ranks.size() > kShown + 2 ? kShown : ranks.size();
  for (size_t i = 0; i < shown; ++i) {
    if (i > 0) s += i + 1 == ranks.size() ? " and " : ", ";
    s += std::to_string(ranks[i]);
  }
  if (shown < ranks.size()) s += " and " + std::to_string(ranks.size() - shown) + " more";
  return s;
}

// The rendezvous as the user set it, for advice: "the same MASTER_ADDR and MASTER_PORT".
std::string same_rendezvous(const LaunchInfo& launch) {
  return launch.master_addr.empty() ? "the same HMB_RENDEZVOUS_FILE"
                                    : "the same MASTER_ADDR and MASTER_PORT (" + launch.rendezvous() + ")";
}

// c10d waits on a rendezvous file it cannot open until its own 300 s pass: a folder that is
// missing or closed to this process is found here instead, at once.
void check_rendezvous_file(const std::string& file) {
  namespace fs = std::filesystem;
  const fs::path path(file);
  const fs::path folder = path.has_parent_path() ? path.parent_path() : fs::path(".");
  const std::string head = "rendezvous file HMB_RENDEZVOUS_FILE=" + file + ": ";
  const std::string advice = ". Set HMB_RENDEZVOUS_FILE to a fresh path in a folder that every rank sees and can write";
  std::error_code ec;
  const auto st = fs::status(folder, ec);
  if (ec && ec != std::errc::no_such_file_or_directory && ec != std::errc::not_a_directory)
    throw Error(head + "its folder " + folder.string() + " cannot be read (" + ec.message() + ")" + advice);
  if (!fs::exists(st)) throw Error(head + "its folder " + folder.string() + " does not exist" + advice);
  if (!fs::is_directory(st)) throw Error(head + folder.string() + " is not a folder" + advice);
  if (::access(folder.c_str(), W_OK | X_OK) != 0)
    throw Error(head + "this process cannot create files in its folder " + folder.string() + " (" +
                std::strerror(errno) + ")" + advice);
  const auto fst = fs::status(path, ec);
  if (fs::exists(fst) && (!fs::is_regular_file(fst) || ::access(path.c_str(), R_OK | W_OK) != 0))
    throw Error(head + "it exists, and is not a file this process can read and write" + advice);
}

// Why `host` is no host this machine can find (the resolver's answer), or nothing: it resolves,
// or the resolver gave no final answer (EAI_AGAIN and the like).
std::optional<std::string> unknown_host(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (found != nullptr) ::freeaddrinfo(found);
  if (rc != EAI_NONAME && rc != EAI_FAIL && rc != EAI_NODATA) return std::nullopt;
  return std::string(::gai_strerror(rc));
}

// The error of a meeting whose store could not be reached, when MASTER_ADDR still names no host
// (c10d retries such a name until the timeout, since a job's own DNS record may come seconds
// after its ranks start): that is the cause to name. Nothing when it resolves.
std::optional<std::string> unknown_master_error(const LaunchInfo& launch, const std::string& head,
                                                const std::string& limit) {
  if (launch.master_addr.empty()) return std::nullopt;
  const auto why = unknown_host(launch.master_addr);
  if (!why) return std::nullopt;
  return head + "MASTER_ADDR='" + launch.master_addr + "' is no host this machine can find (" + *why +
         "), retried for " + limit + ". Set MASTER_ADDR to rank 0's host name or IP address, as every rank's host "
         "resolves it";
}

// torchrun's agent serves the store: "torchrun's agent store at ... did not answer<within> (...)".
std::string agent_store_advice(const LaunchInfo& launch, const std::string& within) {
  return "torchrun's agent store at " + launch.rendezvous() + " did not answer" + within +
         " (TORCHELASTIC_USE_AGENT_STORE=True: torchrun's agent serves the store and every rank, rank 0 included, "
         "is its client). Start the ranks with torchrun, or, when starting them by hand, unset "
         "TORCHELASTIC_USE_AGENT_STORE so that rank 0 serves the store";
}

// What to check when the store cannot be made or reached, by who serves it.
std::string store_advice(const LaunchInfo& launch) {
  if (launch.master_addr.empty())
    return "Check that HMB_RENDEZVOUS_FILE is a path every rank sees and can write, on a file system with file locks";
  if (launch.agent_store) return agent_store_advice(launch, "");
  if (launch.rank == 0)
    return "Rank 0 serves the store: check that MASTER_ADDR names this host and MASTER_PORT a free port";
  return "Check that rank 0 runs and that MASTER_ADDR/MASTER_PORT name its host and port, the same on every rank (a "
         "program other than rank 0 that holds the port does not answer)";
}

c10::intrusive_ptr<c10d::Store> meet(const LaunchInfo& launch, const ConnectOptions& opts) {
  const std::string where = launch.rendezvous();
  // One rank that nobody else has to find (train --dist-backend gloo|nccl on its own): the
  // store lives in this process.
  if (launch.world == 1 && launch.master_addr.empty() && launch.rendezvous_file.empty())
    return c10::make_intrusive<c10d::HashStore>();
  const bool serves = !launch.master_addr.empty() && launch.rank == 0 && !launch.agent_store;
  try {
    if (!launch.master_addr.empty()) {
      c10d::TCPStoreOptions o;
      o.port = static_cast<std::uint16_t>(launch.master_port);
      o.isServer = serves;
      o.numWorkers = launch.world;
      // The ranks' arrival is awaited by wait_for_ranks, rank by rank, so that the missing ones
      // can be named.
      o.waitWorkers = false;
      o.timeout = opts.timeout;
      // Under its own prefix: torchrun's agent keeps its keys in the same store, and keeps the
      // store across the restarts of a job, so each attempt has a prefix of its own (the ranks
      // of a restart must not find the addresses the failed attempt's ranks left there).
      return c10::make_intrusive<c10d::PrefixStore>("hep-mlbench/attempt_" + std::to_string(launch.attempt),
                                                    c10::make_intrusive<c10d::TCPStore>(launch.master_addr, o));
    }
    auto store = c10::make_intrusive<c10d::FileStore>(launch.rendezvous_file, launch.world);
    store->setTimeout(opts.timeout);
    return store;
  } catch (const std::exception& e) {
    const std::string head = "rendezvous at " + where + " failed for " + rank_text(launch, opts) + ": ";
    if (auto unknown = unknown_master_error(launch, head, timeout_text(opts.timeout))) throw Error(*unknown);
    const std::string msg = reason_of(e);
    const bool port_taken = serves && (msg.find("EADDRINUSE") != std::string::npos ||
                                       msg.find("ddress already in use") != std::string::npos);
    const std::string advice =
        port_taken ? "MASTER_PORT " + std::to_string(launch.master_port) +
                         " is already taken on this host: by another program, or by another rank that also claims "
                         "rank 0 (check every rank's launch variables" +
                         (launch.contract.empty() ? std::string() : ", " + launch.contract) +
                         "). Choose a free MASTER_PORT"
                   : store_advice(launch);
    throw Error("rendezvous at " + where + " failed for " + rank_text(launch, opts) + ": " + msg + ". " + advice);
  }
}

std::string here_key(int rank) { return "here/" + std::to_string(rank); }

// Who claims a rank, as the other ranks may read it in the store: "host node7, pid 4242", then
// the time and a count in this process, so that a reused pid, or several ranks in one process
// (the tests), are still told apart.
std::string claim_token() {
  static std::atomic<long long> claims{0};
  const auto t = std::chrono::system_clock::now().time_since_epoch().count();
  return "host " + host_name() + ", pid " + std::to_string(::getpid()) + " (" + std::to_string(t) + "/" +
         std::to_string(claims++) + ")";
}

// The claim without its time, for messages.
std::string claimant(const std::string& token) {
  const auto paren = token.rfind(" (");
  return paren == std::string::npos ? token : token.substr(0, paren);
}

// Takes this rank's place in the store. Only one process may hold it: another's claim means two
// processes were given the same rank, or (a rendezvous file) an earlier job left its claims.
void claim_rank(c10d::Store& store, const LaunchInfo& launch, const std::string& head) {
  const std::string token = claim_token();
  const std::vector<uint8_t> mine(token.begin(), token.end());
  const auto held = store.compareSet(here_key(launch.rank), {}, mine);
  if (held == mine) return;
  const std::string other(held.begin(), held.end());
  std::string msg = head + "rank " + std::to_string(launch.rank) + " is already claimed, by " + claimant(other) +
                    ". Two processes were given the same rank: check every rank's launch variables (" +
                    launch.contract + ")";
  if (launch.master_addr.empty())
    msg += ", or HMB_RENDEZVOUS_FILE holds the meeting of an earlier job: give each job a fresh file";
  throw Error(msg);
}

// Every rank notes its arrival in the store, then waits until all have, up to `until`; the
// ranks still missing then are named.
void wait_for_ranks(c10d::Store& store, const LaunchInfo& launch, const ConnectOptions& opts,
                    Clock::time_point until) {
  if (launch.world == 1) return;
  const std::string head = "rendezvous at " + launch.rendezvous() + " failed for " + rank_text(launch, opts) + ": ";
  std::vector<int> missing;
  try {
    claim_rank(store, launch, head);
    std::vector<std::string> all;
    for (int r = 0; r < launch.world; ++r) all.push_back(here_key(r));
    std::chrono::milliseconds pause{5};
    while (!store.check(all)) {
      const auto now = Clock::now();
      if (now >= until) {
        for (int r = 0; r < launch.world; ++r)
          if (!store.check({here_key(r)})) missing.push_back(r);
        break;
      }
      std::this_thread::sleep_for(std::min<Clock::duration>(pause, until - now));
      pause = std::min(pause * 2, std::chrono::milliseconds(100));
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    // The store went away while the ranks gathered: whoever serves it stopped.
    throw Error(head + "the store stopped answering while the ranks gathered: " + reason_of(e) + ". " +
                (launch.master_addr.empty() ? store_advice(launch)
                 : launch.agent_store       ? "Check that torchrun's agent still runs"
                                            : "Check that rank 0 still runs (its log says why it stopped)"));
  }
  if (missing.empty()) return;
  throw Error(head + ranks_text(missing) + " did not come within " + timeout_text(opts.timeout) + ". Check that " +
              (missing.size() == 1 ? "it runs" : "each of them runs") +
              " (the launcher's output or the rank's log says why not), started with " + same_rendezvous(launch) +
              " and a world size of " + std::to_string(launch.world));
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

// What to check when the process group does not form although every rank reached the
// rendezvous; `reason`: c10d's, empty when it did not finish in time.
std::string group_hint(const LaunchInfo& launch, const ConnectOptions& opts, const std::string& reason) {
  const bool no_interface = reason.find("Unable to find interface") != std::string::npos ||
                            reason.find("Unable to find address") != std::string::npos;
  if (no_interface)
    return ". Gloo found no usable network interface: ranks on one node talk over the loopback (127.0.0.1), "
           "which must be up (`ip link set lo up`; a fresh network namespace has it down); across nodes, set "
           "GLOO_SOCKET_IFNAME to the interface the nodes share";
  if (launch.world == 1) return "";
  std::string hint = ". Every rank reached the rendezvous, but they did not all connect to each other: check that no "
                     "rank stopped since (its log says why), and, across nodes, that the ranks can reach each other "
                     "(" + std::string(opts.backend == "nccl" ? "NCCL_SOCKET_IFNAME" : "GLOO_SOCKET_IFNAME") +
                     " names the interface the nodes share)";
  if (launch.master_addr.empty())
    hint += ". A rendezvous file left by an earlier job holds that job's addresses: give each job a fresh "
            "HMB_RENDEZVOUS_FILE";
  return hint;
}

// The ranks have met: the process group over them, proven by a first all-reduce.
std::unique_ptr<Communicator> form_group(const c10::intrusive_ptr<c10d::Store>& store, const LaunchInfo& launch,
                                         const ConnectOptions& opts) {
  c10::intrusive_ptr<c10d::Backend> backend;
  try {
    backend = opts.backend == "gloo" ? make_gloo(store, launch, opts)
                                     : make_nccl_backend(store, launch.rank, launch.world, opts.device_index, opts.timeout);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    const std::string msg = reason_of(e);
    throw Error("dist: setting up the " + opts.backend + " process group for rank " + std::to_string(launch.rank) +
                " of " + std::to_string(launch.world) + (launch.world > 1 ? " at " + launch.rendezvous() : "") +
                " failed (" + launch.launcher + ", timeout " + timeout_text(opts.timeout) + "): " + msg +
                group_hint(launch, opts, msg));
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
  return comm;
}

// One meeting, shared by the caller and the helper thread that does it: whichever of the two
// lets go last frees it, so the helper never touches anything the caller owns.
struct Meeting {
  enum class Stage { store, ranks, group };

  explicit Meeting(std::chrono::milliseconds timeout) : start(Clock::now()), deadline(start + timeout + kGrace) {}

  // The helper moves on to `s`; the process group gets a timeout of its own from here.
  void enter(Stage s, std::chrono::milliseconds timeout) {
    std::lock_guard<std::mutex> lock(mu);
    stage = s;
    if (s == Stage::group) deadline = Clock::now() + timeout + kGrace;
  }

  const Clock::time_point start;
  std::mutex mu;
  std::condition_variable cv;
  // Guarded by mu:
  Clock::time_point deadline;  // when the caller gives up
  Stage stage = Stage::store;
  bool done = false;       // the helper has finished: comm or error is set
  bool abandoned = false;  // the caller gave up: nobody will take comm or error
  std::unique_ptr<Communicator> comm;
  std::exception_ptr error;
};

// Helper threads whose caller gave up and that have not ended yet. Never destroyed: such a thread
// may still run while the process exits.
struct Stragglers {
  std::mutex mu;
  std::condition_variable cv;
  int count = 0;
};
Stragglers& stragglers() {
  static auto* s = new Stragglers;
  return *s;
}

// The helper thread's work. It owns copies of everything it reads, and shares only the meeting.
void run_meeting(const std::shared_ptr<Meeting>& m, const LaunchInfo& launch, const ConnectOptions& opts) {
  // Stop signals are for the waiting caller: here they would only cut c10d's blocking calls
  // short (EINTR). The threads Gloo and c10d start from here inherit this mask.
  sigset_t stops;
  sigemptyset(&stops);
  sigaddset(&stops, SIGINT);
  sigaddset(&stops, SIGTERM);
  sigaddset(&stops, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stops, nullptr);

  std::unique_ptr<Communicator> comm;
  std::exception_ptr error;
  try {
    auto store = meet(launch, opts);
    m->enter(Meeting::Stage::ranks, opts.timeout);
    wait_for_ranks(*store, launch, opts, m->start + opts.timeout);
    m->enter(Meeting::Stage::group, opts.timeout);
    comm = form_group(store, launch, opts);
  } catch (...) {
    error = std::current_exception();
  }
  {
    std::lock_guard<std::mutex> lock(m->mu);
    if (!m->abandoned) {
      m->comm = std::move(comm);
      m->error = error;
      m->done = true;
      m->cv.notify_all();
      return;
    }
  }
  // Nobody waits for this meeting any more: what it made goes, then it no longer counts.
  comm.reset();
  error = nullptr;
  auto& s = stragglers();
  {
    std::lock_guard<std::mutex> lock(s.mu);
    --s.count;
  }
  s.cv.notify_all();
}

// The error for a meeting the helper did not finish in time, by what it was doing.
std::string overdue_message(const LaunchInfo& launch, const ConnectOptions& opts, Meeting::Stage stage) {
  const std::string head = "rendezvous at " + launch.rendezvous() + " failed for " + rank_text(launch, opts) + ": ";
  const std::string limit = timeout_text(opts.timeout);
  switch (stage) {
    case Meeting::Stage::store:
      if (launch.master_addr.empty())
        return head + "the rendezvous file could not be opened within " + limit + ". " + store_advice(launch);
      if (auto unknown = unknown_master_error(launch, head, limit)) return *unknown;
      if (launch.agent_store) return head + agent_store_advice(launch, " within " + limit);
      return head + "no store answered at " + launch.rendezvous() + " within " + limit + ". " + store_advice(launch);
    case Meeting::Stage::ranks:
      return head + "the store stopped answering while the ranks gathered (no answer within " + limit + "). " +
             (launch.master_addr.empty() ? store_advice(launch)
              : launch.agent_store       ? "Check that torchrun's agent still runs"
                                         : "Check that rank 0 still runs (its log says why it stopped)");
    case Meeting::Stage::group:
      break;
  }
  return "dist: setting up the " + opts.backend + " process group for rank " + std::to_string(launch.rank) + " of " +
         std::to_string(launch.world) + " at " + launch.rendezvous() + " did not finish within " + limit + " (" +
         launch.launcher + ")" + group_hint(launch, opts, "");
}

// While the ranks meet, c10d logs each of its retries and failures to the console, with a C++
// backtrace each; the meeting's outcome is reported here in one message that names the cause. So
// c10's log level is raised above ERROR for the meeting, unless the user chose a level
// (TORCH_CPP_LOG_LEVEL). It is restored when the meeting ends, so that what c10d says later (an
// NCCL watchdog that found a hung collective) is seen. A meeting given up on (abandoned()) leaves
// it raised: its helper thread may still be logging, and the process is about to end.
class QuietMeeting {
 public:
  QuietMeeting() : quiet_(std::getenv("TORCH_CPP_LOG_LEVEL") == nullptr) {
    if (!quiet_) return;
    std::lock_guard<std::mutex> lock(state().mu);
    if (state().meetings++ == 0) {
      state().saved = FLAGS_caffe2_log_level;
      FLAGS_caffe2_log_level = std::max(state().saved, kFatal);
    }
  }
  ~QuietMeeting() {
    if (!quiet_) return;
    std::lock_guard<std::mutex> lock(state().mu);
    if (--state().meetings == 0) FLAGS_caffe2_log_level = state().saved;
  }
  QuietMeeting(const QuietMeeting&) = delete;
  QuietMeeting& operator=(const QuietMeeting&) = delete;
  // The meeting goes on without a caller: the level stays raised for it.
  void abandoned() { quiet_ = false; }

 private:
  static constexpr int kFatal = 3;  // c10's levels: 0 INFO, 1 WARNING, 2 ERROR, 3 FATAL
  // The meetings under way in this process (several in the tests' threads): the first raises the
  // level, the last to end restores it.
  struct State {
    std::mutex mu;
    int meetings = 0;
    int saved = 0;
  };
  static State& state() {
    static auto* s = new State;
    return *s;
  }
  bool quiet_;
};

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
  if (launch.multi_rank() && launch.master_addr.empty()) check_rendezvous_file(launch.rendezvous_file);
  spdlog::info("dist: {}; meeting the others at {} ({} backend, timeout {})", launch.describe(), launch.rendezvous(),
               opts.backend, timeout_text(opts.timeout));
  const std::string during =
      "while meeting the other ranks" + (launch.multi_rank() ? " at " + launch.rendezvous() : std::string());
  throw_if_stopped(during);
  // This thread trains on the rank's device: it is made current here as well as on the helper.
  if (opts.backend == "nccl") use_nccl_device(opts.device_index);

  QuietMeeting quiet;
  auto m = std::make_shared<Meeting>(opts.timeout);
  std::thread([m, launch, opts] { run_meeting(m, launch, opts); }).detach();
  std::unique_lock<std::mutex> lock(m->mu);
  while (!m->done) {
    const int sig = stop_requested();
    const auto now = Clock::now();
    if (sig != 0 || now >= m->deadline) {
      // c10d's calls cannot be cut short: the helper is left to end by itself (the rank's process
      // ends first: a failed rank leaves through std::_Exit, which does not wait for it).
      m->abandoned = true;
      quiet.abandoned();
      {
        std::lock_guard<std::mutex> count_lock(stragglers().mu);
        ++stragglers().count;
      }
      if (sig != 0) throw_if_stopped(during);
      throw Error(overdue_message(launch, opts, m->stage));
    }
    m->cv.wait_for(lock, std::min<Clock::duration>(kStopPoll, m->deadline - now));
  }
  // A stop that came while the helper failed is what ended the meeting (a launcher stopping the
  // job stops rank 0's store too).
  if (m->error) {
    throw_if_stopped(during);
    std::rethrow_exception(m->error);
  }
  auto comm = std::move(m->comm);
  spdlog::info("dist: {} ranks connected ({})", launch.world, comm->describe());
  return comm;
}

bool wait_for_abandoned_meetings(std::chrono::milliseconds limit) {
  auto& s = stragglers();
  std::unique_lock<std::mutex> lock(s.mu);
  return s.cv.wait_for(lock, limit, [&s] { return s.count <= 0; });
}

}  // namespace hmb::dist
