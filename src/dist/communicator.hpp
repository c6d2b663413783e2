#pragma once
// What the trainer knows of the other ranks of a run: who it is, how many they are, and
// reductions over all of them. Every decision that ends or skips a step (a non-finite loss, an
// fp16 overflow, a stop signal) is taken on a value reduced here, so all ranks take the same
// decision at the same step and none is left waiting in the next collective.
//
// This stage is the only one that will know how ranks talk to each other; the single-process
// implementation is below.
#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

namespace hmb::dist {

enum class ReduceOp { sum, max };

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world() const = 0;
  // In place on every rank: the element-wise sum (or max) of `t` over all ranks.
  virtual void all_reduce(torch::Tensor& t, ReduceOp op) = 0;
  // In place: each gradient summed over all ranks (the caller's loss normalisation decides what
  // the sum means).
  virtual void all_reduce_gradients(std::vector<torch::Tensor>& grads) = 0;
  // True on every rank when `flag` is true on at least one.
  virtual bool any(bool flag) = 0;
  // "single process", "gloo, 4 ranks", ... for the log and the report.
  virtual std::string describe() const = 0;
};

// One rank, no one else: reductions are the identity.
class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int world() const override { return 1; }
  void all_reduce(torch::Tensor& /*t*/, ReduceOp /*op*/) override {}
  void all_reduce_gradients(std::vector<torch::Tensor>& /*grads*/) override {}
  bool any(bool flag) override { return flag; }
  std::string describe() const override { return "single process"; }
};

}  // namespace hmb::dist
