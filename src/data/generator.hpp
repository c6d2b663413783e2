#pragma once
// The Delphes-like PU200 event generator (docs/generator.md says what it models and where it
// is simplified). Deterministic: event i depends only on (seed, i) and the settings, so the
// same seed and settings give byte-identical files with any thread count.
#include <cstdint>
#include <string>
#include <vector>

#include "data/event_format.hpp"

namespace hmb::data {

struct GeneratorConfig {
  std::int64_t events = 100;
  std::uint64_t seed = 20240601;
  int threads = 0;                 // 0: all cores
  double pileup = 200;             // mean number of pile-up interactions
  double ttbar_fraction = 0.9;     // the rest are QCD-like multijet events
  double validation_fraction = 0.2;  // the last 20% of events are for validation
  std::string output;
};

// One event: elements (towers then tracks) with their targets.
struct GeneratedEvent {
  std::vector<float> X;     // (n * 12)
  std::vector<float> ygen;  // (n * 7)
  std::int64_t size() const { return static_cast<std::int64_t>(X.size() / kXColumns); }
};

GeneratedEvent generate_event(const GeneratorConfig& cfg, std::int64_t index);

// All events, in parallel, into one table (first (1 - validation_fraction) train).
EventTable generate_events(const GeneratorConfig& cfg);

// The provenance recorded in the file's `source` attribute.
std::string generator_source_json(const GeneratorConfig& cfg);

// Per-class target counts and element counts of a table, for the generator's printout.
struct TableStats {
  std::int64_t events = 0, elements = 0, tracks = 0, towers = 0;
  std::int64_t min_elements = 0, max_elements = 0;
  std::int64_t class_counts[6] = {0, 0, 0, 0, 0, 0};
};
TableStats table_stats(const EventTable& t);

}  // namespace hmb::data
