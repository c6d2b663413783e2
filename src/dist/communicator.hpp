#pragma once
// What the trainer knows of the other ranks of a run: who it is, how many they are, and
// reductions over all of them. Every decision that ends or skips a step (a non-finite loss, an
// fp16 overflow, a stop signal) is taken on a value reduced here, so all ranks take the same
// decision at the same step and none is left waiting in the next collective.
//
// This stage is the only one that knows how ranks talk to each other: the single-process
// implementation is below, the multi-rank one (LibTorch's c10d process groups, Gloo on CPUs and
// NCCL on GPUs, with its bucketing gradient reducer) in process_group.cpp.
#include <torch/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace hmb::dist {

enum class ReduceOp { sum, max };

// The gradient all-reduce of one training step, as the host saw it (docs/report.md).
struct StepComm {
  double bytes = 0;      // gradient bytes all-reduced by this rank
  double comm_s = 0;     // union of the buckets' all-reduce intervals (launch to completion)
  double exposed_s = 0;  // backward's wait after its last gradient was computed: communication
                         // not hidden behind the backward pass
  int buckets = 0;
};

struct GradientSyncOptions {
  double bucket_mb = 25;        // gradient bucket size (MiB); the first bucket is at most 1 MiB
};

// Sums the model's gradients over all ranks, overlapped with the backward pass where the
// implementation can. The trainer calls before_forward() before every step's forward pass, and
// runs the backward pass through backward(); when that returns, every gradient is its sum over
// ranks.
class GradientSync {
 public:
  virtual ~GradientSync() = default;
  virtual void before_forward() {}
  // Runs `run_backward` (the autograd backward pass), during which the gradients' all-reduce
  // runs. A failure of that all-reduce (a peer that died, a timeout) is thrown as an hmb::Error
  // that says so, like any other collective's; any other failure is rethrown as it is.
  virtual void backward(const std::function<void()>& run_backward) { run_backward(); }
  // The communication of the step just done (zeros for one rank).
  virtual StepComm last_step() const { return {}; }
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world() const = 0;
  // In place on every rank: the element-wise sum (or max) of `t` over all ranks.
  virtual void all_reduce(torch::Tensor& t, ReduceOp op) = 0;
  // In place on every rank: `t` as it is on rank `root`.
  virtual void broadcast(torch::Tensor& t, int root) = 0;
  // Watches the gradients of `params` (the model's, in registration order) from now on.
  virtual std::unique_ptr<GradientSync> sync_gradients(const std::vector<torch::Tensor>& params,
                                                       const GradientSyncOptions& opts) = 0;
  // True on every rank when `flag` is true on at least one.
  virtual bool any(bool flag) = 0;
  // "single process", "gloo, 4 ranks", ... for the log and the report.
  virtual std::string describe() const = 0;
  // "gloo", "nccl" or "none".
  virtual std::string backend() const = 0;
};

// The stop signal of the job: the largest signal number any rank received (0: none), agreed by
// one all-reduce, and adopted by the ranks that received none (hmb::adopt_stop), so that every
// rank reports the same signal and exits with 128 + it.
int agree_on_stop(Communicator& comm);

// One rank, no one else: reductions are the identity.
class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int world() const override { return 1; }
  void all_reduce(torch::Tensor& /*t*/, ReduceOp /*op*/) override {}
  void broadcast(torch::Tensor& /*t*/, int /*root*/) override {}
  std::unique_ptr<GradientSync> sync_gradients(const std::vector<torch::Tensor>& /*params*/,
                                               const GradientSyncOptions& /*opts*/) override {
    return std::make_unique<GradientSync>();
  }
  bool any(bool flag) override { return flag; }
  std::string describe() const override { return "single process"; }
  std::string backend() const override { return "none"; }
};

}  // namespace hmb::dist
