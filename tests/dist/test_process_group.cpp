// Two ranks in one process (two threads) over Gloo, meeting in a file: the collectives, the
// gradient reducer's sum, and a peer that never comes; and the meeting's bounds: a rendezvous
// folder that is missing, a store that never answers, ranks that do not come, a stop signal.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <c10/util/Logging.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "dist/process_group.hpp"
#include "support/temp_folder.hpp"
#include "util/error.hpp"
#include "util/process.hpp"

namespace fs = std::filesystem;
using namespace hmb::dist;

namespace {
// A fresh rendezvous file, in a folder removed when the test program ends (the helpers of
// abandoned meetings may still hold a file until then).
std::string fresh_store(const std::string& name) {
  static std::vector<std::unique_ptr<hmb::testing::TempFolder>> folders;
  folders.push_back(std::make_unique<hmb::testing::TempFolder>("pg-" + name));
  return (folders.back()->path / "store").string();
}

LaunchInfo rank_of(int r, int world, const std::string& file) {
  LaunchInfo l;
  l.launcher = "env";
  l.contract = "RANK WORLD_SIZE";
  l.rank = r;
  l.world = world;
  l.local_rank = r;
  l.local_world = world;
  l.rendezvous_file = file;
  return l;
}

// What went wrong on one rank, noted on that rank's thread: Catch's assertions are not thread
// safe, so on_ranks makes the checks itself, on the test's thread, once every rank has ended.
struct Failures {
  std::vector<std::string> list;
  void expect(bool ok, std::string what) {
    if (!ok) list.push_back(std::move(what));
  }
};

// "[1, 2, 3]": a tensor's values on one line.
std::string text(const torch::Tensor& t) {
  const auto v = t.detach().to(torch::kDouble).flatten();
  std::ostringstream os;
  os << "[";
  for (std::int64_t i = 0; i < v.numel(); ++i) os << (i > 0 ? ", " : "") << v[i].item<double>();
  os << "]";
  return os.str();
}

// Runs `body(comm, failures)` on `world` ranks at once, one thread each.
template <class F>
void on_ranks(int world, const std::string& name, F body) {
  const auto file = fresh_store(name);
  std::vector<std::thread> threads;
  std::vector<std::string> errors(static_cast<size_t>(world));
  std::vector<Failures> failures(static_cast<size_t>(world));
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      try {
        ConnectOptions o;
        o.timeout = std::chrono::seconds(30);
        auto comm = connect(rank_of(r, world, file), o);
        body(*comm, failures[static_cast<size_t>(r)]);
      } catch (const std::exception& e) {
        errors[static_cast<size_t>(r)] = e.what();
      } catch (...) {
        errors[static_cast<size_t>(r)] = "an exception that is not a std::exception";
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int r = 0; r < world; ++r) {
    const auto& error = errors[static_cast<size_t>(r)];
    INFO("rank " << r << ": " << error);
    CHECK(error.empty());
    for (const auto& what : failures[static_cast<size_t>(r)].list) FAIL_CHECK("rank " << r << ": " << what);
  }
}
}  // namespace

TEST_CASE("process group: all-reduce, broadcast and any over two Gloo ranks", "[dist][gloo]") {
  on_ranks(2, "coll", [](Communicator& c, Failures& f) {
    f.expect(c.world() == 2, "world " + std::to_string(c.world()));
    f.expect(c.backend() == "gloo", "backend " + c.backend());
    auto t = torch::full({3}, static_cast<float>(c.rank() + 1));
    c.all_reduce(t, ReduceOp::sum);
    f.expect(torch::equal(t, torch::full({3}, 3.0f)), "all_reduce sum of 1 and 2 gave " + text(t));
    auto m = torch::tensor({static_cast<double>(c.rank()) * 5.0});
    c.all_reduce(m, ReduceOp::max);
    f.expect(m.item<double>() == 5.0, "all_reduce max of 0 and 5 gave " + text(m));
    auto b = torch::full({2}, static_cast<float>(c.rank() == 1 ? 7 : 0));
    c.broadcast(b, 1);
    f.expect(torch::equal(b, torch::full({2}, 7.0f)), "broadcast of rank 1's 7 gave " + text(b));
    f.expect(c.any(c.rank() == 1), "any(true on rank 1 only) was false");
    f.expect(!c.any(false), "any(false everywhere) was true");
  });
}

TEST_CASE("process group: the gradient sync sums each rank's gradients, bucket by bucket", "[dist][gloo]") {
  on_ranks(2, "grad", [](Communicator& c, Failures& f) {
    torch::nn::Linear a(4, 3), b(3, 2);
    std::vector<torch::Tensor> params;
    for (auto& p : a->parameters()) params.push_back(p);
    for (auto& p : b->parameters()) params.push_back(p);
    {
      // The same weights on both ranks, without the random generator the two threads share.
      torch::NoGradGuard no_grad;
      for (size_t i = 0; i < params.size(); ++i)
        params[i].copy_(torch::linspace(-0.5, 0.5 + 0.1 * static_cast<double>(i), params[i].numel()).view_as(params[i]));
    }
    GradientSyncOptions o;
    o.bucket_mb = 1e-5;  // ~10 bytes: one bucket per tensor, so several all-reduces overlap backward
    auto sync = c.sync_gradients(params, o);
    for (int step = 0; step < 3; ++step) {
      for (auto& p : params) p.mutable_grad() = torch::Tensor();
      const float x0 = static_cast<float>(c.rank() + 1 + step);
      sync->before_forward();
      auto y = b(torch::tanh(a(torch::full({2, 4}, x0)))).sum();
      sync->backward([&] { y.backward(); });
      // The expected sum: both ranks' gradients, computed here without communication.
      std::vector<torch::Tensor> expected(params.size());
      for (int r = 0; r < 2; ++r) {
        std::vector<torch::Tensor> copies;
        for (auto& p : params) copies.push_back(p.detach().clone().requires_grad_(true));
        auto h = torch::tanh(torch::nn::functional::linear(torch::full({2, 4}, static_cast<float>(r + 1 + step)),
                                                           copies[0], copies[1]));
        torch::nn::functional::linear(h, copies[2], copies[3]).sum().backward();
        for (size_t i = 0; i < params.size(); ++i)
          expected[i] = expected[i].defined() ? expected[i] + copies[i].grad() : copies[i].grad();
      }
      const auto at = "step " + std::to_string(step) + ": ";
      for (size_t i = 0; i < params.size(); ++i)
        f.expect(torch::allclose(params[i].grad(), expected[i], 1e-5, 1e-6),
                 at + "gradient " + std::to_string(i) + " is " + text(params[i].grad()) + ", expected " +
                     text(expected[i]));
      const auto s = sync->last_step();
      f.expect(s.buckets >= 2, at + std::to_string(s.buckets) + " bucket(s)");
      double bytes = 0;
      for (auto& p : params) bytes += static_cast<double>(p.numel() * 4);
      f.expect(s.bytes == bytes, at + std::to_string(s.bytes) + " bytes, expected " + std::to_string(bytes));
      f.expect(s.comm_s >= 0 && s.exposed_s >= 0,
               at + "times " + std::to_string(s.comm_s) + " s, " + std::to_string(s.exposed_s) + " s exposed");
    }
  });
}

TEST_CASE("process group: a rank that never comes is an error naming the rendezvous, in bounded time",
          "[dist][gloo][failure]") {
  const auto file = fresh_store("alone");
  ConnectOptions o;
  o.timeout = std::chrono::seconds(2);
  const auto t0 = std::chrono::steady_clock::now();
  CHECK_THROWS_WITH(connect(rank_of(0, 2, file), o), Catch::Contains(file) && Catch::Contains("rank 0 of 2"));
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(30));
}

TEST_CASE("process group: the backend for a GPU or a CPU rank, and the pairs that cannot work", "[dist]") {
  CHECK(hmb::dist::choose_backend("auto", true) == "nccl");
  CHECK(hmb::dist::choose_backend("auto", false) == "gloo");
  CHECK(hmb::dist::choose_backend("nccl", true) == "nccl");
  CHECK(hmb::dist::choose_backend("gloo", false) == "gloo");
  CHECK_THROWS_WITH(hmb::dist::choose_backend("nccl", false), Catch::Contains("nccl needs GPUs"));
  // Gloo's group holds CPU tensors only: on a GPU rank it would fail at the first all-reduce.
  CHECK_THROWS_WITH(hmb::dist::choose_backend("gloo", true),
                    Catch::Contains("gloo carries CPU tensors only") && Catch::Contains("--gpus cpu"));
}

// ---- meeting the others: bounded by the timeout, and cut short by a stop signal ------------

namespace {
// A TCP port of the loopback that nobody else is given: with `listening`, a program that holds
// it and never answers (the kernel completes the connections it never accepts); without, a port
// nobody listens on once close() is called.
struct LoopbackPort {
  int fd = -1;
  int port = 0;
  explicit LoopbackPort(bool listening) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port = ntohs(a.sin_port);
    if (listening) REQUIRE(::listen(fd, 16) == 0);
  }
  ~LoopbackPort() { close(); }
  void close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

// What this process writes to stderr (fd 2) while it lives: c10d's logger writes there.
class StderrCapture {
 public:
  StderrCapture() : path_(fs::temp_directory_path() / ("hmb-stderr-" + std::to_string(::getpid()))) {
    std::fflush(stderr);
    saved_ = ::dup(2);
    const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, 2);
    ::close(fd);
  }
  ~StderrCapture() {
    restore();
    fs::remove(path_);
  }
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;
  std::string text() {
    restore();
    std::ifstream in(path_);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::cerr.flush();
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
  }
  fs::path path_;
  int saved_ = -1;
};

LaunchInfo tcp_rank(int r, int world, int port) {
  LaunchInfo l = rank_of(r, world, "");
  l.master_addr = "127.0.0.1";
  l.master_port = port;
  return l;
}

// The message of what `f` throws ("" when it returns).
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// A given-up meeting leaves its helper thread to end by itself: it must, before the test's
// process exits.
constexpr std::chrono::seconds kHelpersEnd{60};
}  // namespace

TEST_CASE("process group: a peer that stops during the gradient all-reduce is an error saying so, and later "
          "collectives are not attempted",
          "[dist][gloo][failure]") {
  const auto file = fresh_store("peer-gone");
  ConnectOptions o;
  o.timeout = std::chrono::seconds(5);
  std::string error, later, other;
  std::mutex mu;
  std::condition_variable cv;
  bool rank1_gone = false;
  std::thread rank1([&] {
    other = error_of([&] { connect(rank_of(1, 2, file), o); });  // meets rank 0, then stops
    std::lock_guard<std::mutex> lock(mu);
    rank1_gone = true;
    cv.notify_all();
  });
  const auto t0 = std::chrono::steady_clock::now();
  try {
    auto comm = connect(rank_of(0, 2, file), o);
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return rank1_gone; });
    }
    auto w = torch::ones({8}, torch::requires_grad());
    auto sync = comm->sync_gradients({w}, {});
    sync->before_forward();
    auto loss = (w * 3).sum();
    error = error_of([&] { sync->backward([&] { loss.backward(); }); });
    later = error_of([&] { comm->any(true); });
  } catch (const std::exception& e) {
    error = std::string("connect: ") + e.what();
  }
  rank1.join();
  INFO(other);
  CHECK(other.empty());
  INFO(error);
  CHECK_THAT(error, Catch::StartsWith("gradient all-reduce across 2 ranks failed on rank 0 (gloo, timeout 5 s): ") &&
                        Catch::Contains("Another rank has stopped or hangs") && !Catch::Contains("\n"));
  INFO(later);
  CHECK_THAT(later, Catch::StartsWith("all-reduce across 2 ranks: not attempted, an earlier collective failed"));
  CHECK(seconds_since(t0) < 30);
}

TEST_CASE("process group: a backward pass that fails by itself keeps its own error", "[dist][gloo][failure]") {
  on_ranks(2, "own-error", [](Communicator& c, Failures& f) {
    auto w = torch::ones({4}, torch::requires_grad());
    auto sync = c.sync_gradients({w}, {});
    sync->before_forward();
    const auto error = error_of([&] { sync->backward([] { throw std::runtime_error("out of memory in backward"); }); });
    f.expect(error == "out of memory in backward", "error: " + error);
  });
}

TEST_CASE("process group: a rendezvous file in a folder that does not exist fails at once, naming the folder",
          "[dist][failure]") {
  const auto dir = fs::temp_directory_path() / ("hmb-pg-nofolder-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const auto folder = dir / "missing";
  ConnectOptions o;
  o.timeout = std::chrono::seconds(30);
  const auto t0 = std::chrono::steady_clock::now();
  const auto error = error_of([&] { connect(rank_of(0, 2, (folder / "store").string()), o); });
  INFO(error);
  CHECK_THAT(error, Catch::Contains("its folder " + folder.string() + " does not exist") &&
                        Catch::Contains("HMB_RENDEZVOUS_FILE"));
  // c10d would wait for the file for its own 300 s.
  CHECK(seconds_since(t0) < 10);
  CHECK_FALSE(fs::exists(dir));
}

TEST_CASE("process group: a MASTER_ADDR that names no host is named when the timeout ends", "[dist][failure]") {
  ConnectOptions o;
  o.timeout = std::chrono::seconds(2);
  for (const int rank : {0, 1}) {
    LaunchInfo l = rank_of(rank, 2, "");
    l.master_addr = "no such host";  // not a host name at all: the resolver answers without asking a server
    l.master_port = 29400;
    const auto t0 = std::chrono::steady_clock::now();
    const auto error = error_of([&] { connect(l, o); });
    INFO(error);
    CHECK_THAT(error, Catch::Contains("MASTER_ADDR='no such host' is no host") &&
                          Catch::Contains("rank " + std::to_string(rank) + " of 2") && Catch::Contains("retried for 2 s"));
    CHECK(seconds_since(t0) < 20);
  }
  CHECK(wait_for_abandoned_meetings(kHelpersEnd));
}

TEST_CASE("process group: a rank whose store never answers fails within a bound, saying what to check",
          "[dist][failure]") {
  ConnectOptions o;
  o.timeout = std::chrono::seconds(2);
  std::string error;
  const auto t0 = std::chrono::steady_clock::now();
  SECTION("nothing listens on MASTER_PORT") {
    LoopbackPort port(false);
    port.close();
    StderrCapture console;
    error = error_of([&] { connect(tcp_rank(1, 2, port.port), o); });
    INFO(error);
    CHECK_THAT(error, Catch::Contains("127.0.0.1:" + std::to_string(port.port)) &&
                          Catch::Contains("rank 1 of 2") && Catch::Contains("Check that rank 0 runs"));
    // c10d's own retries and their C++ backtraces stay off the console: the error says it all.
    const auto said = console.text();
    INFO(said);
    CHECK_THAT(said, !Catch::Contains("[c10d]") && !Catch::Contains("Exception raised from"));
  }
  SECTION("TORCH_CPP_LOG_LEVEL set: c10d's own messages are left on") {
    LoopbackPort port(false);
    port.close();
    // c10 reads the variable when the program starts: its level is set here as it would be.
    const int level = FLAGS_caffe2_log_level;
    FLAGS_caffe2_log_level = 1;
    ::setenv("TORCH_CPP_LOG_LEVEL", "WARNING", 1);
    std::string said;
    {
      StderrCapture console;
      error = error_of([&] { connect(tcp_rank(1, 2, port.port), o); });
      said = console.text();
    }
    ::unsetenv("TORCH_CPP_LOG_LEVEL");
    FLAGS_caffe2_log_level = level;
    INFO(said);
    CHECK_THAT(said, Catch::Contains("[c10d]"));
    CHECK_THAT(error, Catch::Contains("Check that rank 0 runs"));
  }
  SECTION("another program holds MASTER_PORT and never answers") {
    LoopbackPort port(true);
    // Without a bound the client would wait as long as the port is held: it is let go after a
    // minute, so that such a wait fails the time check below instead of hanging the test.
    std::mutex mu;
    std::condition_variable cv;
    bool finished = false;
    std::thread release([&] {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait_for(lock, std::chrono::seconds(60), [&] { return finished; });
      port.close();
    });
    error = error_of([&] { connect(tcp_rank(1, 2, port.port), o); });
    {
      std::lock_guard<std::mutex> lock(mu);
      finished = true;
    }
    cv.notify_all();
    release.join();
    INFO(error);
    CHECK_THAT(error, Catch::Contains("no store answered at 127.0.0.1:" + std::to_string(port.port)) &&
                          Catch::Contains("rank 1 of 2") && Catch::Contains("timeout 2 s"));
  }
  SECTION("torchrun's agent store does not answer") {
    LoopbackPort port(false);
    port.close();
    LaunchInfo l = tcp_rank(0, 2, port.port);
    l.launcher = "torchrun";
    l.agent_store = true;
    error = error_of([&] { connect(l, o); });
    INFO(error);
    CHECK_THAT(error, Catch::Contains("torchrun's agent store at 127.0.0.1:" + std::to_string(port.port) +
                                      " did not answer") &&
                          Catch::Contains("TORCHELASTIC_USE_AGENT_STORE=True") &&
                          Catch::Contains("unset TORCHELASTIC_USE_AGENT_STORE"));
  }
  INFO(error);
  CHECK(seconds_since(t0) < 30);
  CHECK_THAT(error, !Catch::Contains(".."));
  CHECK(wait_for_abandoned_meetings(kHelpersEnd));
}

TEST_CASE("process group: the ranks that did not come are named, and a port another program holds",
          "[dist][failure]") {
  ConnectOptions o;
  o.timeout = std::chrono::seconds(2);
  SECTION("rank 2 of 3 never comes: ranks 0 and 1 both name it") {
    const auto file = fresh_store("missing");
    std::vector<std::string> errors(2);
    std::vector<std::thread> ranks;
    for (int r = 0; r < 2; ++r)
      ranks.emplace_back([&, r] { errors[static_cast<size_t>(r)] = error_of([&] { connect(rank_of(r, 3, file), o); }); });
    for (auto& t : ranks) t.join();
    for (const auto& error : errors) {
      INFO(error);
      CHECK_THAT(error, Catch::Contains("rank 2 did not come within 2 s") && Catch::Contains(file) &&
                            Catch::Contains("a world size of 3") && !Catch::Contains("rank 1 did not"));
    }
  }
  SECTION("two processes given the same rank: the second to come is told, naming the first") {
    const auto file = fresh_store("twice");
    std::vector<std::string> errors(2);
    std::vector<std::thread> ranks;
    for (int i = 0; i < 2; ++i)
      ranks.emplace_back([&, i] { errors[static_cast<size_t>(i)] = error_of([&] { connect(rank_of(0, 2, file), o); }); });
    for (auto& t : ranks) t.join();
    const std::string pid = "pid " + std::to_string(::getpid());
    int told = 0, waited = 0;
    for (const auto& error : errors) {
      INFO(error);
      if (error.find("rank 0 is already claimed, by host ") != std::string::npos) {
        ++told;
        CHECK_THAT(error, Catch::Contains(pid) && Catch::Contains("Two processes were given the same rank") &&
                              Catch::Contains("RANK WORLD_SIZE") && Catch::Contains("give each job a fresh file"));
      } else {
        ++waited;
        CHECK_THAT(error, Catch::Contains("rank 1 did not come within 2 s"));
      }
    }
    CHECK(told == 1);
    CHECK(waited == 1);
  }
  SECTION("a rendezvous file an earlier job left: its claims are found at once") {
    const auto file = fresh_store("stale");
    o.timeout = std::chrono::seconds(1);
    const auto first = error_of([&] { connect(rank_of(1, 2, file), o); });
    INFO(first);
    CHECK_THAT(first, Catch::Contains("rank 0 did not come within 1 s"));
    o.timeout = std::chrono::seconds(20);
    const auto t0 = std::chrono::steady_clock::now();
    const auto error = error_of([&] { connect(rank_of(1, 2, file), o); });
    INFO(error);
    CHECK_THAT(error, Catch::Contains("rank 1 is already claimed") &&
                          Catch::Contains("HMB_RENDEZVOUS_FILE holds the meeting of an earlier job"));
    CHECK(seconds_since(t0) < 10);
  }
  SECTION("rank 0 cannot serve on a port another program holds") {
    LoopbackPort port(true);
    const auto t0 = std::chrono::steady_clock::now();
    const auto error = error_of([&] { connect(tcp_rank(0, 2, port.port), o); });
    INFO(error);
    CHECK_THAT(error, Catch::Contains("MASTER_PORT " + std::to_string(port.port) + " is already taken") &&
                          Catch::Contains("another rank that also claims rank 0") && !Catch::Contains(".."));
    CHECK(seconds_since(t0) < 30);
  }
  CHECK(wait_for_abandoned_meetings(kHelpersEnd));
}

TEST_CASE("process group: a stop signal while a rank waits for the others ends the wait as interrupted",
          "[dist][failure]") {
  const auto file = fresh_store("stop");
  ConnectOptions o;
  o.timeout = std::chrono::seconds(5);
  // Cleared however the test ends: a stop left behind would stop the tests that follow.
  struct ClearStop {
    ~ClearStop() { hmb::request_stop(0); }
  } clear;
  std::thread stopper([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    hmb::request_stop(SIGTERM);
  });
  const auto t0 = std::chrono::steady_clock::now();
  std::string error;
  bool interrupted = false;
  try {
    connect(rank_of(0, 2, file), o);
  } catch (const hmb::Interrupted& e) {
    interrupted = true;
    error = e.what();
  } catch (const std::exception& e) {
    error = e.what();
  }
  const double waited = seconds_since(t0);
  stopper.join();
  INFO(error << " after " << waited << " s");
  CHECK(interrupted);
  CHECK_THAT(error, Catch::Contains("interrupted by signal " + std::to_string(SIGTERM)) &&
                        Catch::Contains("meeting the other ranks"));
  hmb::request_stop(0);
  CHECK(wait_for_abandoned_meetings(kHelpersEnd));
}

TEST_CASE("process group: one rank through a named backend meets no one and says so", "[dist][gloo]") {
  LaunchInfo alone;  // no launcher, no meeting point: the store lives in this process
  ConnectOptions o;
  o.backend = "gloo";
  o.timeout = std::chrono::seconds(10);
  auto comm = connect(alone, o);
  CHECK(comm->world() == 1);
  CHECK(comm->describe() == "gloo, 1 rank (its store in this process)");
  auto t = torch::full({2}, 3.0f);
  comm->all_reduce(t, ReduceOp::sum);
  CHECK(torch::equal(t, torch::full({2}, 3.0f)));
}
