#include "report/stats.hpp"

#include <algorithm>
#include <numeric>

namespace hmb::report {

Stats summarize(std::vector<double> values) {
  Stats s;
  if (values.empty()) return s;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  s.count = static_cast<long>(n);
  s.min = values.front();
  s.max = values.back();
  s.avg = std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(n);
  s.median = n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
  return s;
}

nlohmann::json to_json(const Stats& s) {
  return {{"avg", s.avg}, {"median", s.median}, {"min", s.min}, {"max", s.max}, {"count", s.count}};
}

}  // namespace hmb::report
