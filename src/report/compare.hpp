#pragma once
// `hep-mlbench compare A B`: do two reports come from the same workload, and do their
// validation metrics agree within the stated tolerances? docs/report.md explains the defaults.
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace hmb::report {

struct Tolerances {
  double accuracy = 0.003;          // absolute, on validation accuracy (fraction)
  double accuracy_particles = 0.01; // absolute, on accuracy over elements with a true particle
  double loss_relative = 0.05;      // relative, on validation loss
};

struct CompareRow {
  std::string what;
  std::string a, b;
  std::string limit;   // "equal" or the tolerance
  bool ok = true;
};

struct CompareResult {
  std::vector<CompareRow> rows;
  bool same_workload = true;
  bool metrics_agree = true;
  bool ok() const { return same_workload && metrics_agree; }
};

CompareResult compare_summaries(const nlohmann::json& a, const nlohmann::json& b, const Tolerances& tol);

// The table printed by the subcommand.
std::string format_comparison(const CompareResult& r);

}  // namespace hmb::report
