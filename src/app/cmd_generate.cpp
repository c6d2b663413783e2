// `hep-mlbench generate`: writes N synthetic Delphes-like PU200 events in the event format v1
// and prints what it made (element counts, class fractions) and the content checksum.
// `hep-mlbench info`: an event file's summary and verified checksum (--stats: per-event
// statistics), or a model preset's shapes and cost.
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <new>
#include <stdexcept>

#include "app/commands.hpp"
#include "config/option_table.hpp"
#include "config/run_config.hpp"
#include "data/generator.hpp"
#include "util/atomic_file.hpp"
#include "util/process.hpp"

namespace hmb::app {

namespace {
std::function<std::string(const double&)> in_range(double lo, double hi) {
  return [lo, hi](const double& v) {
    return v >= lo && v <= hi ? std::string() : fmt::format("must be between {} and {}", lo, hi);
  };
}
std::function<std::string(const double&)> at_least(double lo) {
  return [lo](const double& v) { return v >= lo ? std::string() : fmt::format("must be at least {}", lo); };
}

config::OptionTable<data::GeneratorConfig> generator_options() {
  using data::GeneratorConfig;
  config::OptionTable<GeneratorConfig> t;
  t.add("events", &GeneratorConfig::events, "events to generate", "",
        std::function<std::string(const std::int64_t&)>([](const std::int64_t& v) {
          return v >= 2 ? std::string() : std::string("must be at least 2 (one training, one validation)");
        }))
      .add("generator-version", &GeneratorConfig::version,
           "generator version: 2 (default), or 1 to reproduce files made before it (docs/generator.md)", "1|2")
      .add("seed", &GeneratorConfig::seed, "generator seed (the bundled sample uses the default)")
      .add("threads", &GeneratorConfig::threads,
           "generator threads (0: every core this process may run on; at most 4 per core); the output does not depend on it",
           "", config::thread_count(0))
      .add("pileup", &GeneratorConfig::pileup, "mean number of pile-up interactions", "", in_range(0.0, 1000.0))
      .add("pileup-spread", &GeneratorConfig::pileup_spread,
           "relative spread of a crossing's mean pile-up (version 2; 0: Poisson about --pileup only)", "", in_range(0.0, 1.0))
      .add("multiplicity-k", &GeneratorConfig::multiplicity_k,
           "negative-binomial k of one interaction's multiplicity (version 2; smaller: wider)", "", at_least(0.05))
      .add("ttbar-fraction", &GeneratorConfig::ttbar_fraction, "fraction of ttbar-like events (the rest QCD-like)", "",
           in_range(0.0, 1.0))
      .add("validation-fraction", &GeneratorConfig::validation_fraction, "last fraction of events kept for validation", "",
           std::function<std::string(const double&)>([](const double& v) {
             return v > 0 && v < 1 ? std::string() : std::string("must be between 0 and 1 (both excluded)");
           }))
      .add("output", &GeneratorConfig::output, "the HDF5 file to write");
  return t;
}

// The sample's statistics, each line headed by `who` (the command printing them).
void print_stats(const data::EventTable& t, const char* who) {
  const auto s = data::table_stats(t);
  const double n = static_cast<double>(std::max<std::int64_t>(1, s.events));
  spdlog::info("{}: {} events, {} elements ({:.0f} per event, {} to {}), {:.0f} tracks and {:.0f} towers per event", who,
               s.events, s.elements, s.elements / n, s.min_elements, s.max_elements, s.tracks / n, s.towers / n);
  const char* names[6] = {"none", "charged hadron", "neutral hadron", "photon", "electron", "muon"};
  for (int c = 0; c < 6; ++c) {
    spdlog::info("{}:   class {} {:<15} {:9.1f} per event  {:6.2f}%", who, c, names[c], s.class_counts[c] / n,
                 100.0 * static_cast<double>(s.class_counts[c]) / static_cast<double>(std::max<std::int64_t>(1, s.elements)));
  }
}
// Per-event statistics: mean and 5th, 50th, 95th percentiles of each count (docs/generator.md
// gives the Delphes sample's for comparison).
void print_event_stats(const data::EventTable& t) {
  const auto c = data::event_counts(t);
  std::printf("\nper-event statistics (%lld events; percentiles interpolated as numpy's)\n"
              "%-16s %10s %10s %10s %10s %10s\n", static_cast<long long>(t.n_events()), "", "mean", "p5", "p50", "p95",
              "p95-p5");
  auto row = [](const char* name, const std::vector<double>& v) {
    const auto d = data::distribution(v);
    std::printf("%-16s %10.2f %10.2f %10.2f %10.2f %10.2f\n", name, d.mean, d.p5, d.p50, d.p95, d.width());
  };
  row("elements", c.elements);
  row("tracks", c.tracks);
  row("towers", c.towers);
  const char* names[data::kNumClasses] = {"no target", "charged hadron", "neutral hadron", "photon", "electron", "muon"};
  for (int k = 0; k < data::kNumClasses; ++k) row(names[k], c.cls[k]);
}
}  // namespace

Command add_generate_command(CLI::App& app) {
  auto table = std::make_shared<config::OptionTable<data::GeneratorConfig>>(generator_options());
  auto* sub = app.add_subcommand("generate", "Write synthetic Delphes-like PU200 events (deterministic from the seed)");
  table->attach(*sub, data::GeneratorConfig{});
  return {sub, [table] {
            data::GeneratorConfig cfg;
            table->apply(cfg);
            require(!cfg.output.empty(), "generate: --output FILE.h5 is required");
            output_target(cfg.output, "--output");  // before the events are made: a bad path fails at once
            std::error_code ec;
            require(table->config_path().empty() || !std::filesystem::equivalent(cfg.output, table->config_path(), ec),
                    "option --output: '" + cfg.output + "' is the --config file itself: give another output path");
            // Both splits must hold an event, or the file is refused by every reader.
            const auto n_train = data::training_event_count(cfg);
            require(n_train > 0 && n_train < cfg.events,
                    "options --events " + std::to_string(cfg.events) + " and --validation-fraction " +
                        config::format_value(cfg.validation_fraction) + " leave " +
                        (n_train > 0 ? "no validation events" : "no training events") +
                        ": give more events, or a validation fraction nearer 0.5");
            if (std::filesystem::exists(cfg.output)) spdlog::info("generate: {} exists; it will be replaced", cfg.output);
            // A stop while generating writes nothing; while writing, the file is finished (it is
            // complete and checked) and the command still exits as stopped, so that a script's
            // next step does not run.
            install_stop_handlers();
            const auto t0 = std::chrono::steady_clock::now();
            // More events than memory holds: said as such (it was a bare std::bad_alloc).
            auto too_many = [&cfg] {
              return Error("generate: " + std::to_string(cfg.events) + " events at pile-up " +
                           config::format_value(cfg.pileup) + " do not fit in this machine's memory: generate fewer "
                           "(the default sample's 2,000 events take about 0.8 GB)");
            };
            data::EventTable events;
            try {
              events = data::generate_events(cfg);
            } catch (const std::bad_alloc&) {
              throw too_many();
            } catch (const std::length_error&) {
              throw too_many();
            }
            const double gen_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            data::write_event_file(cfg.output, events, data::generator_source_json(cfg));
            const double all_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            print_stats(events, "generate");
            spdlog::info("generate: {:.1f} s generating ({:.1f} events/s), {:.1f} s in all", gen_s,
                         static_cast<double>(cfg.events) / gen_s, all_s);
            spdlog::info("generate: wrote {} checksum {}", cfg.output, data::content_checksum(events));
            if (stop_requested() != 0) {
              spdlog::error("generate: stopped by signal {} while writing; {} was finished first and is complete",
                            stop_requested(), cfg.output);
              return 128 + stop_requested();
            }
            return 0;
          }};
}

Command add_info_command(CLI::App& app) {
  auto file = std::make_shared<std::string>();
  auto preset = std::make_shared<std::string>();
  auto stats = std::make_shared<bool>(false);
  auto* sub = app.add_subcommand("info", "Summary and checksum of an event file, or the shapes and cost of a model preset");
  sub->add_option("file", *file, "event file (HDF5)");
  sub->add_option("--preset", *preset, "model preset (auto, tiny, small, delphes): print its shapes, parameter count and FLOPs");
  sub->add_flag("--stats", *stats,
                "with an event file: per-event statistics (mean and 5th/50th/95th percentiles of elements, tracks, "
                "towers and each target class)");
  return {sub, [file, preset, stats] {
            require(!file->empty() || !preset->empty(), "info: give an event file or --preset NAME");
            require(!*stats || !file->empty(), "info: --stats needs an event file (hep-mlbench info --stats FILE.h5)");
            if (!preset->empty()) info_preset(*preset);
            if (file->empty()) return 0;
            data::EventFileInfo info;
            auto t = data::read_event_file(*file, &info, true);
            std::printf("file             %s\nformat           %s v%d\nevents           %lld (train %lld, validation %lld)\n"
                        "elements         %lld\nsource           %s\nchecksum sha256  %s (verified)\n",
                        file->c_str(), data::kFormatName, info.format_version, static_cast<long long>(info.n_events),
                        static_cast<long long>(info.n_train), static_cast<long long>(info.n_validation),
                        static_cast<long long>(info.n_elements), info.source_json.c_str(), info.checksum.c_str());
            print_stats(t, "info");
            if (*stats) print_event_stats(t);
            return 0;
          }};
}

}  // namespace hmb::app
