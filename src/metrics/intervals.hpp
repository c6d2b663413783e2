#pragma once
// Interval arithmetic on a nanosecond timeline, for device activity (kernels on several
// streams, copies) seen through the timed window's open intervals.
//
//   busy time = | (union of activity spans) ∩ (union of the window's open spans) |
//
// Spans are half-open [begin, end) in integer nanoseconds: device timestamps are ~1e18 ns, too
// large for a double to keep every nanosecond.
#include <cstdint>
#include <vector>

namespace hmb::metrics {

struct Span {
  std::int64_t begin = 0;
  std::int64_t end = 0;  // end <= begin: empty
  std::int64_t length() const { return end > begin ? end - begin : 0; }
};

// Length of a ∩ b.
std::int64_t overlap(const Span& a, const Span& b);

// The spans cut to `window`; spans wholly outside it (or empty) are dropped.
std::vector<Span> clip(const std::vector<Span>& spans, const Span& window);

// The union of spans as sorted, disjoint, non-empty spans (touching spans are joined).
std::vector<Span> merge(std::vector<Span> spans);

// A growing union of spans, kept merged so that memory follows the number of gaps between
// activity rather than the number of kernels.
class SpanUnion {
 public:
  void add(std::vector<Span> spans);
  void add(const Span& s) { add(std::vector<Span>{s}); }
  const std::vector<Span>& spans() const { return merged_; }
  std::int64_t length() const;
  // | union ∩ window |, where `window` is any set of spans (merged first).
  std::int64_t length_within(const std::vector<Span>& window) const;

 private:
  std::vector<Span> merged_;
};

}  // namespace hmb::metrics
