#include "metrics/trace.hpp"

#include <algorithm>
#include <map>

namespace hmb::metrics {

const char* to_string(Phase p) {
  switch (p) {
    case Phase::data_wait: return "data wait";
    case Phase::forward: return "forward";
    case Phase::backward: return "backward";
    case Phase::all_reduce: return "all-reduce";
    case Phase::optimiser: return "optimiser";
  }
  return "?";
}

void TraceRecorder::begin(double /*t*/) {
  if (steps_ < max_steps_) recording_ = true;
}

void TraceRecorder::pause(double /*t*/) {
  if (!recording_) return;
  // A step cut by the window's edge is not part of the trace.
  recording_ = false;
  in_phase_ = false;
}

void TraceRecorder::close_phase(double t) {
  if (!in_phase_) return;
  spans_.push_back({to_string(phase_), "phase", "host", phase_since_, t});
  in_phase_ = false;
}

void TraceRecorder::enter(Phase p) {
  if (!recording_) return;
  const double t = clock_.now();
  if (p == Phase::data_wait && in_phase_) leave();  // a step that did not say it ended
  if (!recording_) return;
  if (!in_phase_ && p != Phase::data_wait) return;  // a recorded step begins with its data wait
  if (!in_phase_) {
    step_since_ = t;
    if (steps_ == 0) from_ = t;
  }
  close_phase(t);
  phase_ = p;
  phase_since_ = t;
  in_phase_ = true;
}

void TraceRecorder::leave() {
  if (!recording_ || !in_phase_) return;
  const double t = clock_.now();
  close_phase(t);
  ++steps_;
  spans_.push_back({"step " + std::to_string(steps_), "step", "host steps", step_since_, t});
  to_ = t;
  if (steps_ >= max_steps_) recording_ = false;
}

nlohmann::json chrome_trace(const std::vector<TraceSpan>& spans) {
  using nlohmann::json;
  json events = json::array();
  if (spans.empty()) return {{"traceEvents", events}, {"displayTimeUnit", "ms"}};
  double t0 = spans.front().begin_s;
  for (const auto& s : spans) t0 = std::min(t0, s.begin_s);
  // Host rows first, then GPU rows in the order of their names.
  std::map<std::string, int> tids;
  for (const auto& s : spans)
    if (!tids.count(s.track)) tids[s.track] = 0;
  int next = 1;
  for (const char* host : {"host steps", "host"})
    if (tids.count(host)) tids[host] = next++;
  for (auto& [track, tid] : tids)
    if (tid == 0) tid = next++;
  events.push_back({{"name", "process_name"}, {"ph", "M"}, {"pid", 1}, {"tid", 0}, {"args", {{"name", "hep-mlbench"}}}});
  for (const auto& [track, tid] : tids) {
    events.push_back({{"name", "thread_name"}, {"ph", "M"}, {"pid", 1}, {"tid", tid}, {"args", {{"name", track}}}});
    events.push_back({{"name", "thread_sort_index"}, {"ph", "M"}, {"pid", 1}, {"tid", tid}, {"args", {{"sort_index", tid}}}});
  }
  for (const auto& s : spans) {
    events.push_back({{"name", s.name},
                      {"cat", s.category},
                      {"ph", "X"},
                      {"pid", 1},
                      {"tid", tids[s.track]},
                      {"ts", (s.begin_s - t0) * 1e6},
                      {"dur", std::max(0.0, s.end_s - s.begin_s) * 1e6}});
  }
  return {{"traceEvents", events}, {"displayTimeUnit", "ms"}};
}

}  // namespace hmb::metrics
