// `hep-mlbench compare A_summary.json B_summary.json`: exit 0 when both reports come from the
// same workload and their validation metrics and reference steps agree within the tolerances of
// the measured table (docs/tolerances.md), 1 when they do not, 2 when they cannot be compared (a
// file that cannot be read, a bad tolerance), as diff and cmp tell the two apart. `--tolerance
// NAME=VALUE` replaces one figure's tolerance.
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <vector>

#include <spdlog/spdlog.h>

#include "app/commands.hpp"
#include "report/compare.hpp"
#include "util/atomic_file.hpp"
#include "util/error.hpp"
#include "util/input_file.hpp"
#include "util/json_text.hpp"

namespace hmb::app {

namespace {
nlohmann::json read_json(const std::string& path) {
  std::error_code ec;
  require(!std::filesystem::is_directory(path, ec),
          "compare: '" + path + "' is a folder: give its hep-mlbench_summary.json");
  require_input_file(path, "compare:", "", /*pipe_ok=*/true);
  std::ifstream in(path);
  require(in.good(), "compare: cannot open '" + path + "': " + std::strerror(errno));
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error("compare: '" + path + "' is not valid JSON: " + e.what());
  } catch (const std::exception& e) {
    throw Error("compare: '" + path + "' cannot be read: " + e.what());
  }
}
}  // namespace

Command add_compare_command(CLI::App& app) {
  struct Args {
    std::string a, b, table;
    bool json = false;
    std::vector<std::string> tolerances;  // --tolerance NAME=VALUE, in the order given
  };
  auto args = std::make_shared<Args>();
  const auto measured = report::Tolerances::measured();
  auto* sub = app.add_subcommand(
      "compare", "Check that two reports are the same workload and agree within the measured tolerances");
  // Not CLI11-required: its "a is required" would not say what compare takes.
  sub->add_option("a", args->a, "first hep-mlbench_summary.json");
  sub->add_option("b", args->b, "second hep-mlbench_summary.json");
  sub->add_option("--tolerances", args->table,
                  "tolerance table (JSON, as scripts/measure_tolerance.sh writes it) instead of the built-in " +
                      measured.table);
  sub->add_flag("--json", args->json, "print the comparison as JSON");
  auto deflt = [](const char* name, const report::MetricTolerance& t) {
    std::ostringstream os;
    os << "\n  " << name << " (" << (t.relative ? "relative" : "absolute") << ", table: " << t.limit << ")";
    return os.str();
  };
  sub->add_option("--tolerance", args->tolerances,
                  "NAME=VALUE[,NAME=VALUE...]: replace the table's tolerance of these figures (repeatable):" +
                      deflt("validation_accuracy", measured.accuracy) +
                      deflt("validation_accuracy_particles", measured.accuracy_particles) +
                      deflt("validation_loss", measured.loss) + deflt("reference_loss", measured.reference_loss) +
                      deflt("reference_grad_norm", measured.reference_grad_norm))
      ->take_all()
      ->allow_extra_args(false);
  return {sub, [args] {
           try {
            require(!args->a.empty() && !args->b.empty(),
                    "compare: give two reports: hep-mlbench compare A/hep-mlbench_summary.json "
                    "B/hep-mlbench_summary.json [--tolerance NAME=VALUE]");
            auto tol = report::Tolerances::measured();
            if (!args->table.empty()) {
              const auto table = read_json(args->table);  // names the file itself
              try {
                tol = report::Tolerances::from_table(table);
              } catch (const Error& e) {
                throw Error(std::string(e.what()) + " (in --tolerances " + args->table + ")");
              }
            }
            for (const auto& spec : args->tolerances) tol.override_with(spec);
            if (!args->tolerances.empty()) tol.table += " with tolerances set on the command line";
            const auto a = read_json(args->a), b = read_json(args->b);
            report::CompareResult r;
            try {
              r = report::compare_summaries(a, b, tol);
            } catch (const Error& e) {
              throw Error(std::string(e.what()) + " (A: " + args->a + ", B: " + args->b + ")");
            } catch (const nlohmann::json::exception& e) {  // a field of an unexpected type, missed above
              throw Error("compare: a report has a field of an unexpected type (an edited or damaged summary?): " +
                          std::string(e.what()) + " (A: " + args->a + ", B: " + args->b + ")");
            }
            write_stdout(args->json ? json_text(report::comparison_json(r), 2) + "\n" : report::format_comparison(r));
            return r.ok() ? 0 : 1;
           } catch (const Error& e) {
            spdlog::error("{}", e.what());
            return 2;  // not "the reports differ": they could not be compared
           }
          }};
}

}  // namespace hmb::app
