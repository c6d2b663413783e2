#pragma once
// The timeline of a few timed steps (`hep-mlbench train --trace FILE`), as Chrome-trace JSON
// that Perfetto and chrome://tracing read: the host's step phases (data wait, forward,
// backward, all-reduce, optimiser) and, where CUPTI runs, the GPU's kernels and copies on
// their streams.
//
// The trainer marks phases through StepPhases, a small interface that does nothing unless a
// trace is asked for; TraceRecorder keeps the phases of the first timed steps (across the
// window's pauses).
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "metrics/window.hpp"

namespace hmb::metrics {

enum class Phase { data_wait, forward, backward, all_reduce, optimiser };
const char* to_string(Phase p);

// What the trainer tells about the inside of a step. enter() ends the phase before it;
// leave() ends the last phase of the step. A step begins with Phase::data_wait.
class StepPhases {
 public:
  virtual ~StepPhases() = default;
  virtual void enter(Phase p) = 0;
  virtual void leave() = 0;
};

// One bar of the timeline: seconds on the host's monotonic clock.
struct TraceSpan {
  std::string name;
  std::string category;   // "step", "phase", "kernel", "memcpy", "memset", "nccl"
  std::string track;      // "host", "GPU stream 7"
  double begin_s = 0, end_s = 0;
};

// The phases of the first `max_steps` steps inside the timed window.
class TraceRecorder final : public WindowObserver, public StepPhases {
 public:
  TraceRecorder(Clock& clock, std::int64_t max_steps) : clock_(clock), max_steps_(max_steps) {}
  void begin(double t) override;
  void pause(double t) override;
  // After a pause (validation between epochs), recording goes on until `max_steps` steps are
  // recorded: a warm-up that ends at an epoch's end must not leave the trace empty.
  void resume(double t) override { begin(t); }
  void end(double t) override { pause(t); }
  std::int64_t steps() const { return steps_; }  // steps recorded
  void enter(Phase p) override;
  void leave() override;

  const std::vector<TraceSpan>& spans() const { return spans_; }
  // Host time covered by the recorded steps (from == to when none was recorded).
  double from() const { return from_; }
  double to() const { return to_; }

 private:
  void close_phase(double t);
  Clock& clock_;
  std::int64_t max_steps_;
  bool recording_ = false;
  std::int64_t steps_ = 0;
  bool in_phase_ = false;
  Phase phase_ = Phase::data_wait;
  double phase_since_ = 0, step_since_ = 0;
  double from_ = 0, to_ = 0;
  std::vector<TraceSpan> spans_;
};

// Chrome-trace JSON ("traceEvents", complete events in microseconds from the earliest span),
// one thread row per track.
nlohmann::json chrome_trace(const std::vector<TraceSpan>& spans);

}  // namespace hmb::metrics
