// `hep-mlbench compare A_summary.json B_summary.json`: exit 0 when both reports come from the
// same workload and their validation metrics and reference steps agree within the tolerances of
// the measured table (docs/tolerances.md), 1 when they do not, 2 when they cannot be compared (a
// file that cannot be read, a bad tolerance), as diff and cmp tell the two apart.
#include <fstream>
#include <iostream>
#include <optional>

#include <spdlog/spdlog.h>

#include "app/commands.hpp"
#include "report/compare.hpp"
#include "util/error.hpp"

namespace hmb::app {

namespace {
nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  require(in.good(), "compare: cannot open '" + path + "'");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error("compare: '" + path + "' is not valid JSON: " + e.what());
  }
}
}  // namespace

Command add_compare_command(CLI::App& app) {
  struct Args {
    std::string a, b, table;
    bool json = false;
    std::optional<double> accuracy, accuracy_particles, loss, reference_loss, reference_grad_norm;
  };
  auto args = std::make_shared<Args>();
  const auto measured = report::Tolerances::measured();
  auto* sub = app.add_subcommand(
      "compare", "Check that two reports are the same workload and agree within the measured tolerances");
  sub->add_option("a", args->a, "first hep-mlbench_summary.json")->required();
  sub->add_option("b", args->b, "second hep-mlbench_summary.json")->required();
  sub->add_option("--tolerances", args->table,
                  "tolerance table (JSON, as scripts/measure_tolerance.sh writes it) instead of the built-in " +
                      measured.table);
  sub->add_flag("--json", args->json, "print the comparison as JSON");
  auto deflt = [](const report::MetricTolerance& t) { return " (table: " + std::to_string(t.limit) + ")"; };
  sub->add_option("--tolerance-accuracy", args->accuracy,
                  "absolute tolerance on validation accuracy" + deflt(measured.accuracy));
  sub->add_option("--tolerance-accuracy-particles", args->accuracy_particles,
                  "absolute tolerance on accuracy over elements with a true particle" +
                      deflt(measured.accuracy_particles));
  sub->add_option("--tolerance-loss", args->loss, "relative tolerance on validation loss" + deflt(measured.loss));
  sub->add_option("--tolerance-reference-loss", args->reference_loss,
                  "relative tolerance on the reference step's losses" + deflt(measured.reference_loss));
  sub->add_option("--tolerance-reference-grad-norm", args->reference_grad_norm,
                  "relative tolerance on the reference step's gradient norms" + deflt(measured.reference_grad_norm));
  return {sub, [args] {
           try {
            auto tol = args->table.empty() ? report::Tolerances::measured()
                                           : report::Tolerances::from_table(read_json(args->table));
            bool overridden = false;
            auto set = [&overridden](report::MetricTolerance& t, const std::optional<double>& v, const char* name) {
              if (!v) return;
              require(*v >= 0, std::string("compare: option --tolerance-") + name + ": a tolerance must be >= 0, not " +
                                   std::to_string(*v));
              t.limit = *v;
              t.spread = "set on the command line";
              overridden = true;
            };
            set(tol.accuracy, args->accuracy, "accuracy");
            set(tol.accuracy_particles, args->accuracy_particles, "accuracy-particles");
            set(tol.loss, args->loss, "loss");
            set(tol.reference_loss, args->reference_loss, "reference-loss");
            set(tol.reference_grad_norm, args->reference_grad_norm, "reference-grad-norm");
            if (overridden) tol.table += " with tolerances set on the command line";
            auto r = report::compare_summaries(read_json(args->a), read_json(args->b), tol);
            if (args->json) {
              std::cout << report::comparison_json(r).dump(2) << "\n";
            } else {
              std::cout << report::format_comparison(r);
            }
            return r.ok() ? 0 : 1;
           } catch (const Error& e) {
            spdlog::error("{}", e.what());
            return 2;  // not "the reports differ": they could not be compared
           }
          }};
}

}  // namespace hmb::app
