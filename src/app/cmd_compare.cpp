// `hep-mlbench compare A_summary.json B_summary.json`: exit 0 when both reports come from the
// same workload and their validation metrics agree within tolerance, 1 otherwise.
#include <fstream>
#include <iostream>

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
    std::string a, b;
    report::Tolerances tol;
  };
  auto args = std::make_shared<Args>();
  auto* sub = app.add_subcommand("compare", "Check that two reports are the same workload and agree within tolerance");
  sub->add_option("a", args->a, "first hep-mlbench_summary.json")->required();
  sub->add_option("b", args->b, "second hep-mlbench_summary.json")->required();
  sub->add_option("--tolerance-accuracy", args->tol.accuracy, "absolute tolerance on validation accuracy")->capture_default_str();
  sub->add_option("--tolerance-accuracy-particles", args->tol.accuracy_particles,
                  "absolute tolerance on accuracy over elements with a true particle")->capture_default_str();
  sub->add_option("--tolerance-loss", args->tol.loss_relative, "relative tolerance on validation loss")->capture_default_str();
  return {sub, [args] {
            auto r = report::compare_summaries(read_json(args->a), read_json(args->b), args->tol);
            std::cout << report::format_comparison(r);
            return r.ok() ? 0 : 1;
          }};
}

}  // namespace hmb::app
