// `hep-mlbench train`: one training run. Writes into --results: the resolved configuration
// (config.yaml), the log, per-step figures (steps.csv), the final weights and the HEPscore
// report hep-mlbench_summary.json. Exit 0 only when the run succeeded.
#include <spdlog/spdlog.h>

#include <csignal>
#include <fstream>
#include <iostream>
#include <sstream>

#include "app/commands.hpp"
#include "config/run_config.hpp"
#include "report/summary.hpp"
#include "train/trainer.hpp"
#include "util/atomic_file.hpp"
#include "util/error.hpp"
#include "util/log.hpp"
#include "util/process.hpp"

namespace hmb::app {

namespace {
std::string steps_csv(const train::RunResult& r) {
  std::ostringstream os;
  os << "epoch,step,events,step_s,data_wait_s,loss,timed\n";
  for (const auto& s : r.steps)
    os << s.epoch << "," << s.step << "," << s.events << "," << s.step_s << "," << s.data_wait_s << "," << s.loss
       << "," << (s.timed ? 1 : 0) << "\n";
  return os.str();
}

void print_summary_block(const train::RunResult& r) {
  const auto last = r.epochs.empty() ? train::ValidationRecord{} : r.epochs.back().validation;
  spdlog::info("---------------------------------------------------------------- summary");
  spdlog::info("status               {}{}", r.status, r.error.empty() ? "" : ": " + r.error);
  spdlog::info("throughput           {:.3f} events/s ({} events in {:.2f} s, {} timed steps after {} warm-up)",
               r.events_per_s, r.timed_events, r.timed_s, r.timed_steps, r.warmup_steps);
  spdlog::info("validation accuracy  {:.4f} (on particles {:.4f}), loss {:.4f}", last.accuracy, last.accuracy_particles, last.loss);
  spdlog::info("data wait            {:.2f}% of the timed window; padding {:.1f}% of elements", 100 * r.data_wait_fraction,
               100 * r.padding_fraction);
  spdlog::info("model                {} parameters, {:.3g} FLOP per event trained, {:.3g} FLOP/s", r.parameters,
               r.flop_per_event_train, r.flop_per_event_train * r.events_per_s);
  spdlog::info("device               {} ({} threads); peak host memory {:.0f} MiB", r.device_summary, r.threads, r.peak_rss_mb);
  spdlog::info("weights checksum     {}", r.final_weights_checksum);
  spdlog::info("deterministic        {}", r.deterministic ? "yes" : "no");
}
}  // namespace

Command add_train_command(CLI::App& app) {
  auto table = std::make_shared<config::OptionTable<config::RunConfig>>(config::run_options());
  auto yaml_path = std::make_shared<std::string>();
  auto json_only = std::make_shared<bool>(false);
  auto* sub = app.add_subcommand("train", "Train MLPF on an event file and measure throughput and accuracy");
  sub->add_option("--config", *yaml_path, "YAML file of options (flags given on the command line win)");
  sub->add_flag("--json", *json_only, "print only the summary JSON on stdout");
  table->attach(*sub, config::RunConfig{});
  return {sub, [table, yaml_path, json_only] {
            config::RunConfig cfg;
            report::RunInfo info;
            info.containment = "none";
            std::optional<YAML::Node> yaml;
            try {
              if (!yaml_path->empty()) yaml = YAML::LoadFile(*yaml_path);
            } catch (const YAML::Exception& e) {
              throw Error("configuration file '" + *yaml_path + "': " + e.what());
            }
            table->apply(cfg, yaml);
            info.threads_per_copy = cfg.threads;
            info.events_per_thread = cfg.max_train_events;
            // Nothing can be reported without a writable results folder: that error goes to stderr.
            ensure_writable_dir(cfg.results);
            add_log_file(cfg.results + "/hep-mlbench.log");
            if (*json_only) spdlog::set_level(spdlog::level::warn);
            install_stop_handlers();
            spdlog::info("hep-mlbench train, resolved configuration:");
            for (const auto& [k, v] : table->echo(cfg)) spdlog::info("  {:<18} {}", k, v);
            write_file_atomic(cfg.results + "/config.yaml", table->to_yaml(cfg));

            nlohmann::json summary;
            train::RunResult result;
            try {
              result = train::run_training(cfg);
              summary = report::make_summary(result, info);
              write_file_atomic(cfg.results + "/steps.csv", steps_csv(result));
            } catch (const Error& e) {
              summary = report::make_error_summary(e.what(), info);
              result.status = "failed";
              result.error = e.what();
              spdlog::error("{}", e.what());
            }
            const auto path = report::write_summary(summary, cfg.results);
            if (result.status != "failed" || !result.steps.empty()) print_summary_block(result);
            if (*json_only) std::cout << summary.dump(2) << std::endl;
            spdlog::info("report: {}", path);
            if (result.status == "ok") return 0;
            if (result.status == "interrupted") {
              spdlog::warn("run interrupted: {}", result.error);
              return 128 + stop_requested();
            }
            if (!result.steps.empty()) spdlog::error("run failed: {}", result.error);
            return 1;
          }};
}

}  // namespace hmb::app
