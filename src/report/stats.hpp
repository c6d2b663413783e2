#pragma once
// The {avg, median, min, max, count} block HEPscore reads in wl-stats.
#include <nlohmann/json.hpp>

#include <vector>

namespace hmb::report {

struct Stats {
  double avg = 0, median = 0, min = 0, max = 0;
  long count = 0;
};

// Statistics of `values` (count 0 and zeros when empty). The median of an even count is the
// mean of the two middle values.
Stats summarize(std::vector<double> values);

nlohmann::json to_json(const Stats& s);

}  // namespace hmb::report
