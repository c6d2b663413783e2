#include "metrics/intervals.hpp"

#include <algorithm>

namespace hmb::metrics {

std::int64_t overlap(const Span& a, const Span& b) {
  const std::int64_t lo = std::max(a.begin, b.begin), hi = std::min(a.end, b.end);
  return hi > lo ? hi - lo : 0;
}

std::vector<Span> clip(const std::vector<Span>& spans, const Span& window) {
  std::vector<Span> out;
  for (const auto& s : spans) {
    const Span c{std::max(s.begin, window.begin), std::min(s.end, window.end)};
    if (c.length() > 0) out.push_back(c);
  }
  return out;
}

std::vector<Span> merge(std::vector<Span> spans) {
  spans.erase(std::remove_if(spans.begin(), spans.end(), [](const Span& s) { return s.length() == 0; }), spans.end());
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
  std::vector<Span> out;
  for (const auto& s : spans) {
    if (!out.empty() && s.begin <= out.back().end) {
      out.back().end = std::max(out.back().end, s.end);
    } else {
      out.push_back(s);
    }
  }
  return out;
}

void SpanUnion::add(std::vector<Span> spans) {
  if (spans.empty()) return;
  spans.insert(spans.end(), merged_.begin(), merged_.end());
  merged_ = merge(std::move(spans));
}

std::int64_t SpanUnion::length() const {
  std::int64_t n = 0;
  for (const auto& s : merged_) n += s.length();
  return n;
}

std::int64_t SpanUnion::length_within(const std::vector<Span>& window) const {
  const auto w = merge(window);
  // Both lists are sorted and disjoint: one pass over the pair.
  std::int64_t n = 0;
  size_t i = 0, j = 0;
  while (i < merged_.size() && j < w.size()) {
    n += overlap(merged_[i], w[j]);
    if (merged_[i].end < w[j].end) {
      ++i;
    } else {
      ++j;
    }
  }
  return n;
}

}  // namespace hmb::metrics
