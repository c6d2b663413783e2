#include "metrics/gpu_activity.hpp"

#include <cxxabi.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <limits>

namespace hmb::metrics {

namespace {
constexpr size_t kFoldEvery = 1 << 16;  // pending spans folded into the unions past this
constexpr size_t kMaxNameLength = 160;
constexpr std::int64_t kFuture = std::numeric_limits<std::int64_t>::max();
}  // namespace

const char* to_string(ActivityKind k) {
  switch (k) {
    case ActivityKind::compute: return "compute";
    case ActivityKind::communication: return "communication";
    case ActivityKind::copy: return "copy";
  }
  return "?";
}

ActivityKind classify_kernel(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return lower.find("nccl") != std::string::npos ? ActivityKind::communication : ActivityKind::compute;
}

std::string readable_kernel_name(const std::string& name) {
  std::string out = name;
  int status = 0;
  char* demangled = abi::__cxa_demangle(name.c_str(), nullptr, nullptr, &status);
  if (status == 0 && demangled != nullptr) out = demangled;
  std::free(demangled);
  if (out.size() > kMaxNameLength) out = out.substr(0, kMaxNameLength - 3) + "...";
  return out;
}

void ActivityAccumulator::open(std::int64_t t_ns) {
  if (is_open_) return;
  is_open_ = true;
  open_since_ = t_ns;
}

void ActivityAccumulator::close(std::int64_t t_ns) {
  if (!is_open_) return;
  is_open_ = false;
  window_.push_back({open_since_, std::max(open_since_, t_ns)});
}

std::int64_t ActivityAccumulator::inside(const Span& s) const {
  std::int64_t n = is_open_ ? overlap(s, {open_since_, kFuture}) : 0;
  for (auto it = window_.rbegin(); it != window_.rend(); ++it) n += overlap(s, *it);
  return n;
}

void ActivityAccumulator::add(const ActivityRecord& r) {
  const Span s{r.begin_ns, r.end_ns};
  const std::int64_t ns = inside(s);
  if (ns <= 0) return;
  auto& total = by_name_[r.name];
  total.kind = r.kind;
  total.ns += ns;
  total.count += 1;
  auto& pending = pending_[static_cast<int>(r.kind)];
  pending.push_back(s);
  if (pending.size() >= kFoldEvery) fold();
}

void ActivityAccumulator::fold() {
  for (int k = 0; k < 3; ++k) {
    union_[k].add(std::move(pending_[k]));
    pending_[k].clear();
  }
}

ActivitySummary ActivityAccumulator::summary(size_t top_n) const {
  std::vector<Span> window = window_;
  if (is_open_) window.push_back({open_since_, kFuture});
  auto within = [&](std::initializer_list<int> kinds) {
    SpanUnion u;
    for (int k : kinds) {
      u.add(union_[k].spans());
      u.add(pending_[k]);
    }
    return static_cast<double>(u.length_within(window)) / 1e9;
  };
  const int compute = static_cast<int>(ActivityKind::compute);
  const int comm = static_cast<int>(ActivityKind::communication);
  const int copy = static_cast<int>(ActivityKind::copy);
  ActivitySummary s;
  for (const auto& w : window_) s.window_s += static_cast<double>(w.length()) / 1e9;
  s.busy_s = within({compute, comm});
  s.compute_s = within({compute});
  s.communication_s = within({comm});
  s.copy_s = within({copy});
  std::vector<std::pair<const std::string*, const NameTotal*>> names;
  for (const auto& [name, total] : by_name_) {
    names.emplace_back(&name, &total);
    (total.kind == ActivityKind::copy ? s.copies : s.kernels) += total.count;
  }
  std::sort(names.begin(), names.end(), [](const auto& a, const auto& b) {
    return a.second->ns != b.second->ns ? a.second->ns > b.second->ns : *a.first < *b.first;
  });
  for (size_t i = 0; i < names.size() && i < top_n; ++i)
    s.top.push_back({readable_kernel_name(*names[i].first), to_string(names[i].second->kind),
                     static_cast<double>(names[i].second->ns) / 1e9, names[i].second->count});
  return s;
}

}  // namespace hmb::metrics
