#pragma once
// The Delphes-like PU200 event generator (docs/generator.md says what it models and where it
// is simplified). Deterministic: event i depends only on (seed, i) and the settings, so the
// same seed and settings give byte-identical files with any thread count.
#include <cstdint>
#include <string>
#include <vector>

#include "data/event_format.hpp"

namespace hmb::data {

// Version 2 is the default; version 1 (the generator before the statistics of
// docs/generator.md were matched) stays reproducible: same seed and version, same bytes.
inline constexpr int kGeneratorVersion = 2;

struct GeneratorConfig {
  int version = kGeneratorVersion;  // 1 or 2 (docs/generator.md)
  std::int64_t events = 100;
  std::uint64_t seed = 20240601;
  int threads = 0;                 // 0: every core this process may run on
  double pileup = 200;             // mean number of pile-up interactions
  double pileup_spread = 0.13;     // relative spread of a crossing's mean pile-up (version 2)
  double multiplicity_k = 1.0;     // negative-binomial k of one interaction's multiplicity (version 2)
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

// How many of the configuration's events go to the training split (the first ones); the rest
// are the validation split.
std::int64_t training_event_count(const GeneratorConfig& cfg);

// The provenance recorded in the file's `source` attribute.
std::string generator_source_json(const GeneratorConfig& cfg);

// Per-class target counts and element counts of a table, for the generator's printout.
struct TableStats {
  std::int64_t events = 0, elements = 0, tracks = 0, towers = 0;
  std::int64_t min_elements = 0, max_elements = 0;
  std::int64_t class_counts[6] = {0, 0, 0, 0, 0, 0};
};
TableStats table_stats(const EventTable& t);

// Per-event counts of any event table (generated or converted), one entry per event: elements,
// tracks, towers, and elements whose target is each class (docs/generator.md compares them
// with the Delphes sample's).
struct EventCounts {
  std::vector<double> elements, tracks, towers;
  std::vector<double> cls[kNumClasses];
};
EventCounts event_counts(const EventTable& t);

// Mean and percentiles of per-event values. A percentile p interpolates linearly between the
// sorted values at ranks floor and ceil of p (n - 1) (numpy's default), so h5py + numpy give
// the same figures.
struct Distribution {
  double mean = 0, p5 = 0, p50 = 0, p95 = 0;
  double width() const { return p95 - p5; }  // the 5th-95th percentile range
};
Distribution distribution(std::vector<double> values);

}  // namespace hmb::data
