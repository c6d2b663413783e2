// `hep-mlbench train`: one training run. Writes into --results: the resolved configuration
// (config.yaml), the log, per-step figures (steps.csv), the final weights and the HEPscore
// report hep-mlbench_summary.json. Exit 0 only when the run succeeded.
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "app/commands.hpp"
#include "app/launcher.hpp"
#include "app/pipeline.hpp"
#include "app/results_folder.hpp"
#include "app/workload.hpp"
#include "config/run_config.hpp"
#include "dist/launch.hpp"
#include "model/weights_io.hpp"
#include "report/page.hpp"
#include "report/stats.hpp"
#include "report/summary.hpp"
#include "train/device.hpp"
#include "train/failure.hpp"
#include "train/gpu_devices.hpp"
#include "util/atomic_file.hpp"
#include "util/error.hpp"
#include "util/input_file.hpp"
#include "util/json_text.hpp"
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
  if (const auto absent = report::validation_absent(r); absent.empty()) {
    spdlog::info("validation accuracy  {:.4f} (on particles {:.4f}), loss {:.4f}", last.accuracy,
                 last.accuracy_particles, last.loss);
  } else {
    spdlog::info("validation accuracy  - ({})", absent);
  }
  spdlog::info("data wait            {:.2f}% of the timed window; padding {:.1f}% of elements", 100 * r.data_wait_fraction,
               100 * r.padding_fraction);
  // The report's model FLOP/s: per rank, as MFU divides it by one device's peak.
  const auto& model_rate = r.utilisation.model_flop_per_s;
  spdlog::info("model                {} parameters, {:.3g} FLOP per event trained, {}{}", r.parameters,
               r.flop_per_event_train,
               model_rate.value ? fmt::format("{:.3g} FLOP/s", *model_rate.value) : "- FLOP/s (" + model_rate.reason + ")",
               r.world_size > 1 ? " per rank" : "");
  spdlog::info("device               {} ({} threads, {} CPU kernels, denormals {}); peak host memory {:.0f} MiB",
               r.device_summary, r.threads, r.cpu_kernels.empty() ? "-" : r.cpu_kernels,
               r.denormals.empty() ? "-" : r.denormals, r.peak_rss_mb);
  const auto& u = r.utilisation;
  auto pct = [](const metrics::Figure& f) { return f.value ? fmt::format("{:.1f}%", 100 * *f.value) : "- (" + f.reason + ")"; };
  spdlog::info("hardware use         MFU {}, CPU utilisation {}, GPU busy {}", pct(u.mfu), pct(u.cpu_utilisation),
               pct(u.gpu_busy_fraction));
  if (u.gpu_achieved_flop_per_s.value)
    spdlog::info("GPU counters         {:.3g} FLOP/s achieved ({} of peak), cost model / counted FLOP {}",
                 *u.gpu_achieved_flop_per_s.value, pct(u.gpu_achieved_fraction_of_peak),
                 u.model_to_measured_flop.value ? fmt::format("{:.3f}", *u.model_to_measured_flop.value) : "-");
  if (u.gpu_energy.value)
    spdlog::info("GPU energy           {:.0f} J ({}), {:.3g} events/J", *u.gpu_energy.value, u.gpu_energy.source,
                 u.events_per_joule.value.value_or(0.0));
  spdlog::info("weights checksum     {}", r.final_weights_checksum);
  spdlog::info("deterministic        {}", r.deterministic ? "yes" : "no");
  if (r.dist.world > 1) {
    const auto& d = r.dist;
    spdlog::info("data-parallel        {} ranks ({}, {}), global batch {}, lr {:.3g} (scaling {})", d.world, d.backend,
                 d.launcher, d.global_batch, d.lr, d.lr_scaling);
    spdlog::info("communication        {:.1f} ms/step all-reduce, {:.1f} ms/step exposed ({:.1f}% of the step), "
                 "{:.2f} MB/step; step-time spread {:.1f}%",
                 1e3 * d.comm_s_per_step, 1e3 * d.exposed_comm_s_per_step, 100 * d.exposed_comm_fraction,
                 d.comm_bytes_per_step / 1e6, 100 * d.step_time_spread);
    for (const auto& rr : d.ranks)
      spdlog::info("  rank {:<3}           {:.3f} events/s, median step {:.1f} ms", rr.rank, rr.events_per_s,
                   1e3 * rr.step_s_median);
    if (d.scaling_efficiency)
      spdlog::info("scaling efficiency   {:.1f}% of {} x {:.3f} events/s", 100 * *d.scaling_efficiency, d.world,
                   *d.baseline_events_per_s);
  }
}

// The end of one rank of a multi-rank job. A rank whose run failed ends its process at once,
// logs flushed, without running destructors that could wait on a peer that is gone (a process
// group's teardown); `code` < 0: the exit status from the result.
int finish_rank(const train::RunResult& r, const dist::LaunchInfo& launch, int code = -1) {
  if (code < 0) code = r.status == "ok" ? 0 : r.status == "interrupted" ? 128 + stop_requested() : 1;
  if (launch.rank != 0 && r.status != "ok") spdlog::error("rank {} {}: {}", launch.rank, r.status, r.error);
  if (code != 0) {
    dist::tell_launcher(r.error.empty() ? "rank " + std::to_string(launch.rank) + " " + r.status : r.error);
    spdlog::default_logger()->flush();
    std::fflush(nullptr);
    std::_Exit(code);
  }
  return code;
}

// How many ranks hep-mlbench's own launcher should start for this command line (1: none):
// --nproc N CPU ranks, or one rank per GPU when --gpus picks several.
LocalLaunch local_launch_for(const config::RunConfig& cfg) {
  LocalLaunch l;
  l.results = cfg.results;
  l.threads_per_rank = cfg.threads;
  const bool cpu_asked = cfg.gpus == "cpu" || cfg.gpus == "0";
  const int visible = cpu_asked && cfg.nproc > 1 ? 0 : static_cast<int>(torch::cuda::device_count());
  if (cfg.nproc > 1) {
    require(cpu_asked || visible == 0,
            "option --nproc: starts CPU ranks, but this node has " + std::to_string(visible) +
                " GPU(s): use --gpus N for GPU ranks, or add --gpus cpu to train on CPU ranks");
    train::choose_device(cfg.gpus, visible);  // a bad --gpus fails here, not in each rank after they start
    l.ranks = cfg.nproc;
    return l;
  }
  const auto choice = train::choose_device(cfg.gpus, visible);
  if (choice.num_gpus > 1) {
    l.ranks = choice.num_gpus;
    l.gpus = true;
  }
  return l;
}

// The files a run reads that may lie in its results folder: the event file, the initial weights,
// the --config file (every rank of a job started here reads it again), and the trace's path.
std::vector<std::string> run_inputs(const config::RunConfig& cfg, const std::string& config_file) {
  return {cfg.init_weights, cfg.data, cfg.trace, config_file};
}

// Refuses a --trace path that is one of the run's inputs or a file it writes into `results`.
void check_trace_path(const config::RunConfig& cfg, const std::string& results, const std::string& config_file) {
  const auto problem = trace_path_problem(
      cfg.trace, results, {{"--data", cfg.data}, {"--init-weights", cfg.init_weights}, {"--config", config_file}});
  if (!problem.empty()) throw Error(problem);
}

// Where a run's report goes when its command line or options could not be read: --results as
// given (read from what CLI11 collected, since reading may have stopped before the value was
// used), else the `results` key of the --config file, else the default.
std::string results_dir_hint(const CLI::App& sub) {
  // A value that starts with '-' is an option CLI11 took as the folder (`--results --epochs 3`).
  if (auto given = last_collected(sub, "--results"); !given.empty() && given[0] != '-') return given;
  if (auto given = raw_value_of({"--results"}); !given.empty() && given[0] != '-')
    return given;  // taken as another option's value
  if (auto file = last_collected(sub, "--config"); !file.empty() && input_file_problem(file).empty()) {
    try {
      const auto y = YAML::LoadFile(file);
      if (y.IsMap() && y["results"] && y["results"].IsScalar()) return y["results"].as<std::string>();
    } catch (const std::exception&) {
      // the file's own error is the one reported
    }
  }
  return config::RunConfig{}.results;
}

// A run whose command line or options could not be read: the failure report goes where the
// report would have gone (rank 0 only: the ranks of a launched job share one results folder).
// An earlier run's files there are set aside first: a typo must not cost the results of a run
// that did happen (they go to previous/).
// `inputs`: the files the run would have read, when known (none of them is moved). When the
// earlier files cannot be set aside, nothing is written: stderr says why.
int fail_before_run(const std::string& results_dir, const std::string& why,
                    const std::vector<std::string>& inputs = {}) {
  dist::tell_launcher(why);
  if (!dist::reports_for_job()) {
    spdlog::error("{}", why);
    return 1;
  }
  // The folder's lock, held while the report is written (a rank of hep-mlbench's own launcher
  // leaves it to the launcher, which holds it for the job).
  const bool own_rank = dist::started_by_own_launcher();
  FolderLock folder_lock;
  try {
    folder_lock = prepare_failure_report(results_dir, inputs, "--results", !own_rank);
  } catch (const Error& e) {
    if (e.what() != why) spdlog::error("{}", why);
    spdlog::error("{}; no report is written there", e.what());
    return 1;
  }
  report::RunInfo info;
  info.containment = detect_containment();
  return write_failure_report(results_dir, why, info, "--results");
}
}  // namespace

Command add_train_command(CLI::App& app) {
  auto table = std::make_shared<config::OptionTable<config::RunConfig>>(config::run_options());
  auto json_only = std::make_shared<bool>(false);
  auto* sub = app.add_subcommand("train", "Train MLPF on an event file and measure throughput and accuracy");
  sub->add_flag("--json", *json_only, "print only the summary JSON on stdout");
  table->attach_except(*sub, config::RunConfig{}, {"batch-sizes"});  // that one is sweep's
  Command cmd{sub, [sub, table, json_only] {
            // First of all: a stop signal from now on is noted and acted on at the first safe point
            // (the default action would end the process without a report).
            install_stop_handlers();
            config::RunConfig cfg;
            report::RunInfo info;
            info.containment = detect_containment();  // the same as the workload's merged report
            try {
              table->apply(cfg);
              // A key of the sweep in a YAML file given to train would be ignored: refused instead.
              require(cfg.batch_sizes.empty(), "option batch-sizes (from --config): it is hep-mlbench sweep's; train "
                                               "takes one --batch-size");
              train::apply_gpu_devices(cfg.gpu_devices);  // before anything starts CUDA
            } catch (const Error& e) {
              return fail_before_run(results_dir_hint(*sub), e.what());
            }
            const auto inputs = run_inputs(cfg, table->config_path());  // never moved aside
            info.threads_per_copy = cfg.threads;
            info.events_per_thread = cfg.max_train_events;
            // Nothing can be written without a writable results folder: the failed run's summary
            // then goes to stdout (exit 3), as for any report that cannot be written.
            try {
              ensure_writable_dir(cfg.results);
              check_trace_path(cfg, cfg.results, table->config_path());
            } catch (const Error& e) {
              return fail_before_run(cfg.results, e.what(), inputs);
            }
            // Several ranks: started by a launcher (torchrun, srun, mpirun, or hep-mlbench's own),
            // or to be started here.
            dist::LaunchInfo launch;
            try {
              launch = dist::detect_launch();
            } catch (const Error& e) {
              return fail_before_run(cfg.results, e.what(), inputs);
            }
            // One run at a time in a results folder: taken by the process that writes the report
            // (one process, the local launcher, or rank 0 under another launcher).
            FolderLock folder_lock;
            if (!launch.multi_rank() || (launch.launcher != "hep-mlbench" && launch.rank == 0)) {
              try {
                folder_lock = FolderLock(cfg.results, "--results");
              } catch (const Error& e) {
                spdlog::error("{}", e.what());
                dist::tell_launcher(e.what());
                return 1;
              }
            }
            if (launch.multi_rank() && cfg.nproc > 1 && launch.launcher != "hep-mlbench")
              return fail_before_run(cfg.results,
                                     "option --nproc " + std::to_string(cfg.nproc) + ": this process is " +
                                         launch.describe() + ", which starts the ranks: leave --nproc out",
                                     inputs);
            if (!launch.multi_rank()) {
              LocalLaunch local;
              try {
                local = local_launch_for(cfg);  // checks --gpus and --nproc against this node
              } catch (const Error& e) {
                return fail_before_run(cfg.results, e.what(), inputs);
              }
              if (local.ranks > 1) {
                try {  // before any rank can fail and amend a report
                  add_log_file(cfg.results + "/launcher.log");
                  set_aside_previous_outputs(cfg.results, inputs);
                } catch (const Error& e) {
                  return fail_before_run(cfg.results, e.what(), inputs);
                }
                try {
                  return launch_local(local);
                } catch (const Error& e) {
                  return fail_before_run(cfg.results, e.what(), inputs);  // no rank started
                }
              }
            }
            const bool rank0 = launch.rank == 0;
            try {
              add_log_file(cfg.results + (rank0 ? "/hep-mlbench.log" : "/rank_" + std::to_string(launch.rank) + ".log"));
            } catch (const Error& e) {
              return fail_before_run(cfg.results, e.what(), inputs);
            }
            if (*json_only || !rank0) spdlog::set_level(spdlog::level::warn);
            spdlog::info("hep-mlbench train, resolved configuration:");
            for (const auto& [k, v] : table->echo(cfg)) spdlog::info("  {:<18} {}", k, v);
            if (rank0) {
              try {
                set_aside_previous_outputs(cfg.results, inputs);
              } catch (const Error& e) {
                return fail_before_run(cfg.results, e.what(), inputs);
              }
              try {
                write_file_atomic(cfg.results + "/" + kConfig, table->to_yaml(cfg));
                write_unfinished_report(cfg.results, info);
              } catch (const Error& e) {
                // No room for even these: the failure report says so where it can. The folder is
                // this run's already (locked, the earlier files set aside): only its own start goes.
                dist::tell_launcher(e.what());
                std::error_code ignored;
                std::filesystem::remove(cfg.results + "/" + kConfig, ignored);
                return write_failure_report(cfg.results, e.what(), info, "--results");
              }
            }

            // The pipeline: read data -> model and loaders -> trainer -> report -> weights.
            nlohmann::json summary;
            train::RunResult result;
            try {
              auto outcome = run_training(cfg, launch);
              result = std::move(outcome.result);
              if (!rank0) return finish_rank(result, launch);
              // The weights first: a write that fails turns the run into a failed one before the
              // page and the figures that would call it "ok" are written.
              if (outcome.model && result.status == "ok")
                model::save_state_dict(**outcome.model, cfg.results + "/" + kFinalWeights);
              summary = report::make_summary(result, info);
              write_file_atomic(cfg.results + "/" + kStepsCsv, steps_csv(result));
              write_file_atomic(cfg.results + "/" + kPage, report::make_page(result));
            } catch (const std::exception& e) {
              // A problem found before training (a bad file or option: hmb::Error), or one the
              // pipeline could not turn into a result: the report says so all the same.
              const std::string why = dynamic_cast<const Error*>(&e) ? e.what() : train::short_message(e);
              if (!rank0) {
                result.status = dynamic_cast<const Interrupted*>(&e) ? "interrupted" : "failed";
                result.error = why;
                result.failed_alone = true;
                return finish_rank(result, launch);
              }
              summary = report::make_error_summary(why, info, result.steps.empty() ? nullptr : &result);
              add_machine(summary);
              // Final weights are kept only beside the report of a run that succeeded: a write
              // that failed after they were saved (no room for the page, say) takes them away.
              if (const std::string weights = cfg.results + "/" + kFinalWeights; !read_by_run(weights, inputs)) {
                std::error_code ignored;
                std::filesystem::remove(weights, ignored);
              }
              result.status = dynamic_cast<const Interrupted*>(&e) ? "interrupted" : "failed";
              result.error = why;
              if (result.status == "failed") spdlog::error("{}", why);
            }
            std::string path;
            try {
              path = replace_unfinished_report(summary, cfg.results);
            } catch (const Error& e) {  // the measurement is not lost: the summary goes to stdout instead
              report_on_stdout(e.what(), summary);
              if (launch.multi_rank()) return finish_rank(result, launch, 3);
              return 3;
            }
            if (!result.steps.empty()) print_summary_block(result);
            bool stdout_lost = false;  // --json asked for the summary there
            if (*json_only) {
              try {
                write_stdout(json_text(summary, 2) + "\n");
              } catch (const Error& e) {
                spdlog::error("{}; the report is {}", e.what(), path);
                stdout_lost = true;
              }
            }
            spdlog::info("report: {}", path);
            int code = 1;
            if (result.status == "ok") {
              code = 0;
            } else if (result.status == "interrupted") {
              spdlog::warn("run interrupted: {}", result.error);
              code = 128 + stop_requested();
            } else if (!result.steps.empty()) {
              spdlog::error("run failed: {}", result.error);
            }
            if (code == 0 && stdout_lost) code = 3;
            if (launch.multi_rank()) return finish_rank(result, launch, code);
            if (code != 0) dist::tell_launcher(result.error);
            return code;
          }};
  cmd.on_parse_error = [sub](const std::string& why) { fail_before_run(results_dir_hint(*sub), "command line: " + why); };
  return cmd;
}

Command add_sweep_command(CLI::App& app) {
  auto table = std::make_shared<config::OptionTable<config::RunConfig>>(config::run_options());
  auto* sub = app.add_subcommand("sweep", "The training measurement over a list of batch sizes (--batch-sizes 1,2,4,8), one row each");
  table->attach(*sub, config::RunConfig{});
  Command cmd{sub, [sub, table] {
            install_stop_handlers();  // first: as train
            config::RunConfig base;
            std::vector<int> sizes;
            try {
              table->apply(base);
              train::apply_gpu_devices(base.gpu_devices);  // before anything starts CUDA
              require(!base.batch_sizes.empty(), "sweep: --batch-sizes is required, e.g. --batch-sizes 1,2,4,8");
              std::stringstream list(base.batch_sizes + (base.batch_sizes.back() == ',' ? "," : ""));  // "2," has an empty last item
              for (std::string item; std::getline(list, item, ',');) {
                // spaces around an item are the list's layout ("2, 4"), not part of it
                item.erase(0, item.find_first_not_of(" \t"));
                item.erase(item.find_last_not_of(" \t") + 1);
                require(!item.empty(), "option --batch-sizes: '" + base.batch_sizes +
                                           "' has an empty item: give sizes separated by commas, e.g. 1,2,4,8");
                sizes.push_back(config::parse_value<int>("batch-sizes", item));
                require(sizes.back() >= 1, "option --batch-sizes: '" + item + "' must be at least 1");
                for (size_t k = 0; k + 1 < sizes.size(); ++k)
                  require(sizes[k] != sizes.back(), "option --batch-sizes: " + item + " is listed twice");
              }
              // One process on one device: what would start several ranks is refused rather than ignored.
              require(base.nproc <= 1, "sweep: runs one process: --nproc " + std::to_string(base.nproc) +
                                           " is for train (sweep one rank, or run train per batch size)");
              if (table->was_given("gpus")) {
                const int visible = base.gpus == "cpu" || base.gpus == "0" ? 0 : static_cast<int>(torch::cuda::device_count());
                require(train::choose_device(base.gpus, visible).num_gpus <= 1,
                        "sweep: runs on one device: --gpus " + base.gpus + " picks several (give --gpus 1, or run train "
                        "per batch size)");
              }
            } catch (const Error& e) {
              return fail_before_run(results_dir_hint(*sub), e.what());
            }
            FolderLock folder_lock;
            try {
              ensure_writable_dir(base.results);
              check_trace_path(base, base.results, table->config_path());
              // Each batch size's run writes in bs<N>/: the trace is none of those folders nor
              // a file any of them writes.
              for (int b : sizes) check_trace_path(base, base.results + "/bs" + std::to_string(b), table->config_path());
              folder_lock = FolderLock(base.results, "--results");
              add_log_file(base.results + "/hep-mlbench.log");
              if (table->was_given("batch-size"))  // a configuration shared with train may well have one
                spdlog::warn("sweep: --batch-size {} is not used: each run takes its batch size from --batch-sizes",
                             base.batch_size);
              // An earlier sweep's rows, or a failed start's report, would outlive this sweep.
              set_aside_previous_outputs(base.results, run_inputs(base, table->config_path()));
            } catch (const Error& e) {
              return fail_before_run(base.results, e.what(), run_inputs(base, table->config_path()));
            }
            nlohmann::json rows = nlohmann::json::array();
            std::ostringstream csv;
            csv << "batch_size,events_per_s,step_ms_median,data_wait_fraction,padding_fraction,peak_rss_mb,status\n";
            bool all_ok = true;
            bool own_peaks = true;
            for (int b : sizes) {
              // Each batch size's peak memory its own (the process's peak starts again here).
              if (own_peaks && !reset_peak_rss()) {
                own_peaks = false;
                spdlog::warn("sweep: the kernel does not let the peak memory start again (/proc/self/clear_refs); "
                             "each batch size's peak_rss_mb is the sweep's peak so far");
              }
              config::RunConfig cfg = base;
              cfg.batch_size = b;
              cfg.results = base.results + "/bs" + std::to_string(b);
              train::RunResult r;
              nlohmann::json summary;
              bool folder_ours = false;  // an earlier run's report there that could not be set aside stays
              try {
                // As train: an earlier sweep's files set aside, and a report until this one's is written.
                ensure_writable_dir(cfg.results);
                set_aside_previous_outputs(cfg.results, run_inputs(cfg, table->config_path()));
                folder_ours = true;
                write_unfinished_report(cfg.results, {});
                r = run_training(cfg).result;
                summary = report::make_summary(r, {});
              } catch (const std::exception& e) {
                // As train: a problem before or outside training still leaves a report saying why.
                const std::string why = dynamic_cast<const Error*>(&e) ? e.what() : train::short_message(e);
                summary = report::make_error_summary(why, {}, r.steps.empty() ? nullptr : &r);
                add_machine(summary);
                r.status = dynamic_cast<const Interrupted*>(&e) ? "interrupted" : "failed";
                r.error = why;
              }
              if (folder_ours) {
                try {
                  replace_unfinished_report(summary, cfg.results);
                } catch (const Error& e) {
                  if (r.status == "ok") r.status = "failed";
                  r.error = r.error.empty() ? e.what() : r.error + "; and " + e.what();
                }
              }
              if (r.status == "interrupted")
                spdlog::warn("sweep: batch size {} interrupted: {}", b, r.error);
              else if (r.status != "ok")
                spdlog::error("sweep: batch size {} failed: {}", b, r.error);
              std::vector<double> step_ms;
              for (const auto& st : r.steps)
                if (st.timed) step_ms.push_back(st.step_s * 1e3);
              const double median = report::summarize(step_ms).median;
              rows.push_back({{"batch_size", b}, {"events_per_s", r.events_per_s}, {"step_ms_median", median},
                              {"data_wait_fraction", r.data_wait_fraction}, {"padding_fraction", r.padding_fraction},
                              {"peak_rss_mb", r.peak_rss_mb}, {"status", r.status}, {"error", r.error}});
              csv << b << "," << r.events_per_s << "," << median << "," << r.data_wait_fraction << ","
                  << r.padding_fraction << "," << r.peak_rss_mb << "," << r.status << "\n";
              all_ok &= r.status == "ok";
              if (r.status == "interrupted") {
                std::string not_run;
                for (size_t k = rows.size(); k < sizes.size(); ++k)
                  not_run += (not_run.empty() ? "" : ",") + std::to_string(sizes[k]);
                if (!not_run.empty()) spdlog::warn("sweep: stopped; batch sizes not run: {}", not_run);
                break;
              }
            }
            try {
              write_file_atomic(base.results + "/" + kSweepCsv, csv.str());
              write_file_atomic(base.results + "/" + kSweepJson, json_text(rows, 2) + "\n");
            } catch (const Error& e) {
              report_on_stdout(e.what(), rows, "the rows");
              return 3;
            }
            std::printf("# batch_size  events/s    ms/step(median)  data-wait  padding  peak RSS MiB  status\n");
            for (const auto& row : rows)
              std::printf("  %10d  %9.3f  %15.1f  %8.2f%%  %6.1f%%  %12.0f  %s\n", row["batch_size"].get<int>(),
                          row["events_per_s"].get<double>(), row["step_ms_median"].get<double>(),
                          100 * row["data_wait_fraction"].get<double>(), 100 * row["padding_fraction"].get<double>(),
                          row["peak_rss_mb"].get<double>(), row["status"].get<std::string>().c_str());
            if (stop_requested() != 0) return 128 + stop_requested();
            return all_ok ? 0 : 1;
          }};
  cmd.on_parse_error = [sub](const std::string& why) { fail_before_run(results_dir_hint(*sub), "command line: " + why); };
  return cmd;
}

}  // namespace hmb::app
