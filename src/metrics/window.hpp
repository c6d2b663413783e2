#pragma once
// The timed window of a training run, and what observes it.
//
//   warm-up steps │ begin ── timed steps ── pause │ validation │ resume ── timed steps ── end
//
// Each boundary first waits for the device to finish the work queued so far (DeviceSync), then
// reads the clock. Work queued during the warm-up is therefore outside the window, and work
// queued inside it is counted even when the host has run ahead of the device. Observers (the
// throughput meter below; device samplers) see the boundaries and every step. Clock and
// DeviceSync are interfaces so that tests drive the arithmetic with a fake clock and device.
#include <cstdint>
#include <vector>

namespace hmb::metrics {

// Seconds on a monotonic clock.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual double now() = 0;
};

class SteadyClock final : public Clock {
 public:
  double now() override;
};

// Waits until the device has finished every piece of work queued on it.
class DeviceSync {
 public:
  virtual ~DeviceSync() = default;
  virtual void synchronize() = 0;
};

// One training step as the window's observers see it.
struct StepSample {
  int epoch = 0;
  std::int64_t step = 0;      // global index, from 1
  std::int64_t events = 0;    // events this rank trained in the step
  double seconds = 0;         // end of the previous step (or of the last boundary) to the end
                              // of this one, on the device's timeline (see Timeline)
  double data_wait_s = 0;     // host time spent waiting for the loader in this step
  bool timed = false;         // inside the window
};

class WindowObserver {
 public:
  virtual ~WindowObserver() = default;
  // The window is about to open or resume: set-up whose cost must stay out of the timed window
  // (called before the device is synchronised and the clock read for begin or resume).
  virtual void prepare() {}
  virtual void begin(double /*t*/) {}
  // A timed step is about to begin (global index, from 1): called before each step while the
  // window is open, on the training thread, before the step's work is queued.
  virtual void step_begins(std::int64_t /*step*/) {}
  virtual void step(const StepSample& /*s*/) {}
  // A step whose update was skipped (fp16 overflow): its events were not trained.
  virtual void skipped(const StepSample& /*s*/) {}
  virtual void pause(double /*t*/) {}
  virtual void resume(double /*t*/) {}
  virtual void end(double /*t*/) {}
};

class TimedWindow {
 public:
  TimedWindow(Clock& clock, DeviceSync& device, std::int64_t warmup_steps);
  void add_observer(WindowObserver* o) { observers_.push_back(o); }

  // Called before every training step with the number of steps already done: opens the window
  // (prepare, synchronise, then begin) once the warm-up steps are done, then, while open, tells the
  // observers that step `steps_done + 1` begins. True when it opened now.
  bool before_step(std::int64_t steps_done);
  // Samples of finished steps (in order; they may arrive late, but before the next boundary).
  void step(const StepSample& s);
  void skipped(const StepSample& s);
  // Around validation: synchronise, then pause; prepare, synchronise, then resume. No-ops unless
  // open / paused.
  void pause();
  void resume();
  // The end of training: synchronise and close (once; a window never opened stays unopened).
  void end();

  bool is_open() const { return state_ == State::open; }
  bool has_begun() const { return state_ != State::not_begun; }
  std::int64_t warmup_steps() const { return warmup_; }

 private:
  enum class State { not_begun, open, paused, ended };
  Clock& clock_;
  DeviceSync& device_;
  std::int64_t warmup_;
  State state_ = State::not_begun;
  std::vector<WindowObserver*> observers_;
};

// Training throughput: events trained inside the window over the window's open time (the sum of
// its intervals between begin/resume and pause/end). Step times and data waits of timed steps
// are kept for their statistics.
class ThroughputMeter final : public WindowObserver {
 public:
  void begin(double t) override;
  void step(const StepSample& s) override;
  void skipped(const StepSample& s) override;
  void pause(double t) override;
  void resume(double t) override { begin(t); }
  void end(double t) override { pause(t); }

  double seconds() const { return seconds_; }
  std::int64_t steps() const { return steps_; }
  std::int64_t events() const { return events_; }
  std::int64_t skipped_steps() const { return skipped_; }
  double data_wait_seconds() const { return wait_s_; }
  // Events per second over the window; 0 when it is empty.
  double events_per_second() const { return seconds_ > 0 ? static_cast<double>(events_) / seconds_ : 0.0; }
  const std::vector<double>& step_seconds() const { return step_s_; }

 private:
  bool running_ = false;
  double since_ = 0, seconds_ = 0, wait_s_ = 0;
  std::int64_t steps_ = 0, events_ = 0, skipped_ = 0;
  std::vector<double> step_s_;
};

}  // namespace hmb::metrics
