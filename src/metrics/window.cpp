#include "metrics/window.hpp"

#include <chrono>

namespace hmb::metrics {

double SteadyClock::now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

TimedWindow::TimedWindow(Clock& clock, DeviceSync& device, std::int64_t warmup_steps)
    : clock_(clock), device_(device), warmup_(warmup_steps) {}

bool TimedWindow::before_step(std::int64_t steps_done) {
  bool opened = false;
  if (state_ == State::not_begun && steps_done >= warmup_) {
    for (auto* o : observers_) o->prepare();
    device_.synchronize();  // the warm-up's queued work ends before the window starts
    const double t = clock_.now();
    state_ = State::open;
    for (auto* o : observers_) o->begin(t);
    opened = true;
  }
  if (state_ == State::open)
    for (auto* o : observers_) o->step_begins(steps_done + 1);
  return opened;
}

void TimedWindow::step(const StepSample& s) {
  for (auto* o : observers_) o->step(s);
}

void TimedWindow::skipped(const StepSample& s) {
  for (auto* o : observers_) o->skipped(s);
}

void TimedWindow::pause() {
  if (state_ != State::open) return;
  device_.synchronize();  // the steps queued inside the window finish inside it
  const double t = clock_.now();
  state_ = State::paused;
  for (auto* o : observers_) o->pause(t);
}

void TimedWindow::resume() {
  if (state_ != State::paused) return;
  for (auto* o : observers_) o->prepare();
  device_.synchronize();  // validation's queued work ends before the window goes on
  const double t = clock_.now();
  state_ = State::open;
  for (auto* o : observers_) o->resume(t);
}

void TimedWindow::end() {
  if (state_ == State::not_begun || state_ == State::ended) return;
  double t = 0;
  if (state_ == State::open) {
    device_.synchronize();
    t = clock_.now();
  }
  const bool was_open = state_ == State::open;
  state_ = State::ended;
  if (was_open)
    for (auto* o : observers_) o->end(t);
}

void ThroughputMeter::begin(double t) {
  running_ = true;
  since_ = t;
}

void ThroughputMeter::pause(double t) {
  if (!running_) return;
  seconds_ += t - since_;
  running_ = false;
}

void ThroughputMeter::step(const StepSample& s) {
  if (!s.timed) return;
  ++steps_;
  events_ += s.events;
  wait_s_ += s.data_wait_s;
  step_s_.push_back(s.seconds);
}

void ThroughputMeter::skipped(const StepSample& s) {
  if (!s.timed) return;
  ++skipped_;
  events_ -= s.events;
}

}  // namespace hmb::metrics
