#pragma once
// `hep-mlbench compare A B`: do two reports come from the same workload, and do their
// validation metrics and reference steps agree within the tolerances of the measured table?
// The table (src/report/tolerances.json, embedded in the binary; docs/tolerances.md) comes from
// scripts/measure_tolerance.sh: an ensemble of legitimate numerical perturbations of one
// workload (thread counts, kernels that sum in another order, seeds as an upper bound).
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace hmb::report {

struct MetricTolerance {
  double limit = 0;       // the tolerance
  bool relative = false;  // relative to the larger magnitude, else absolute
  std::string spread;     // what it came from: the measured spread, in words
};

struct Tolerances {
  std::string table;  // the table's version ("tol-1"), and whether options overrode it
  MetricTolerance accuracy;             // validation_accuracy (fraction), absolute
  MetricTolerance accuracy_particles;   // validation_accuracy_particles, absolute
  MetricTolerance loss;                 // validation_loss, relative
  MetricTolerance reference_loss;       // reference_step.losses, relative (largest over the steps)
  MetricTolerance reference_grad_norm;  // reference_step.grad_norms, relative (largest over the steps)

  // The table measured by scripts/measure_tolerance.sh (the format of src/report/tolerances.json).
  static Tolerances from_table(const nlohmann::json& table);
  // The table this binary was built with: compare's defaults.
  static Tolerances measured();

  // `compare --tolerance NAME=VALUE[,NAME=VALUE...]`: replaces the tolerance of the named
  // figures (the table's names: validation_accuracy, validation_accuracy_particles,
  // validation_loss, reference_loss, reference_grad_norm; the kind, absolute or relative, stays
  // the table's). Throws Error naming the option and what to write for an unknown name, a value
  // that is not a number >= 0, or an item without '='.
  void override_with(const std::string& spec);
};

// The embedded table, as JSON.
const nlohmann::json& measured_table();

struct CompareRow {
  std::string what;
  std::string a, b;
  std::string limit;   // "equal" or the tolerance
  bool ok = true;
  std::string spread;  // metrics: the measured spread the tolerance came from
  bool checked = true; // false: shown for the reader (where the runs ran), never a verdict
};

struct CompareResult {
  std::vector<CompareRow> rows;
  std::string table;  // the tolerance table checked against
  bool same_workload = true;
  bool metrics_agree = true;
  bool ok() const { return same_workload && metrics_agree; }
};

// Also lists, unchecked, what the two runs ran on (CPU model, device, threads, LibTorch's CPU
// kernel build, denormal mode): the legitimate causes of their differences.
CompareResult compare_summaries(const nlohmann::json& a, const nlohmann::json& b, const Tolerances& tol);

// The table printed by the subcommand.
std::string format_comparison(const CompareResult& r);
// The same as JSON (`compare --json`).
nlohmann::json comparison_json(const CompareResult& r);

}  // namespace hmb::report
