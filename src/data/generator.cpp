#include "data/generator.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <thread>

#include "data/rng.hpp"
#include "util/build_info.hpp"
#include "util/json_text.hpp"
#include "util/process.hpp"

namespace hmb::data {

namespace {
constexpr double kPi = 3.141592653589793;
constexpr double kTrackerEta = 2.5;      // tracks only inside
constexpr double kCaloEta = 5.0;         // towers out to here
constexpr double kTrackMinPt = 0.5;      // GeV
// Targets: a tower whose target is a neutral hadron under this energy gets none (the original's rule).
constexpr double kNeutralHadronMinE = 9.0;  // GeV
constexpr double kUnderlyingEvent = 2.0; // the hard interaction's soft activity / a pile-up interaction's
// The calorimeter: regions of equal cells in eta x phi, each with its read-out threshold. A
// region covers |eta| < eta_hi on both sides (lo = -hi) or [lo, hi) on one side; cells are
// numbered region after region, eta-ring after ring, and towers come out in that order.
struct Region {
  double lo, hi;     // eta range binned
  int n_eta, n_phi;  // cells
  double e_min;      // towers read out above this energy (GeV)
  int first;         // index of the region's first cell
};
struct Geometry {
  std::vector<Region> regions;
  int cells = 0;
};
Geometry make_geometry(std::vector<Region> regions) {
  Geometry g;
  for (auto& r : regions) {
    r.first = g.cells;
    g.cells += r.n_eta * r.n_phi;
  }
  g.regions = std::move(regions);
  return g;
}
// Version 1: 0.1 x 5 degrees inside the tracker, 0.25 x 10 degrees beyond (forward calorimeters
// are coarser), read out above 1 GeV centrally and 5 GeV forward.
const Geometry& geometry_v1() {
  static const Geometry g = make_geometry({{-kTrackerEta, kTrackerEta, 50, 72, 1.0, 0},
                                           {-kCaloEta, -kTrackerEta, 10, 36, 5.0, 0},
                                           {kTrackerEta, kCaloEta, 10, 36, 5.0, 0}});
  return g;
}
// Version 2 (docs/generator.md, "Version 2's calorimeter"): 7.5 degrees in phi everywhere; 0.1 in
// eta inside the tracker, read out above 0.5 GeV (at PU200 nearly every cell is hit, so the
// count saturates as in the Delphes sample); 12 rings of 0.21 per side beyond, read out above
// 35 GeV (a forward tower collects tens of GeV of pile-up: the threshold, not the number of
// cells, then sets how many towers, and so neutral hadrons, an event has).
const Geometry& geometry_v2() {
  static const Geometry g = make_geometry({{-kTrackerEta, kTrackerEta, 50, 48, 0.5, 0},
                                           {-kCaloEta, -kTrackerEta, 12, 48, 35.0, 0},
                                           {kTrackerEta, kCaloEta, 12, 48, 35.0, 0}});
  return g;
}

struct Cell {
  int index;
  double eta, phi;  // centre
  double e_min;     // read-out threshold (GeV)
};

bool in_region(const Region& g, double eta) {
  if (g.lo == -g.hi) return std::fabs(eta) < g.hi;                 // central, both sides
  const double a = std::fabs(eta);
  const double alo = std::min(std::fabs(g.lo), std::fabs(g.hi)), ahi = std::max(std::fabs(g.lo), std::fabs(g.hi));
  return (g.lo >= 0) == (eta > 0) && a >= alo && a < ahi;          // one side
}

Cell cell_of(const Geometry& geo, double eta, double phi) {
  auto bin = [](double v, double lo, double hi, int n) {
    return std::clamp(static_cast<int>((v - lo) / (hi - lo) * n), 0, n - 1);
  };
  auto centre = [](int i, double lo, double hi, int n) { return lo + (i + 0.5) * (hi - lo) / n; };
  const Region* reg = &geo.regions.back();
  for (const auto& g : geo.regions) {
    if (in_region(g, eta)) {
      reg = &g;
      break;
    }
  }
  const int ie = bin(eta, reg->lo, reg->hi, reg->n_eta);
  const int ip = bin(phi, -kPi, kPi, reg->n_phi);
  return {reg->first + ie * reg->n_phi + ip, centre(ie, reg->lo, reg->hi, reg->n_eta),
          centre(ip, -kPi, kPi, reg->n_phi), reg->e_min};
}
constexpr double kBendK = 0.3 * 3.8 * 1.29 / 2.0;  // 0.3 B[T] R[m] / 2: phi bend x pT [GeV]

using PC = ParticleClass;

struct Particle {
  PC cls;  // generator class (charged hadron, neutral hadron, photon, electron, muon)
  int charge;
  double pt, eta, phi;
  double energy() const { return pt * std::cosh(eta); }
};

double wrap_phi(double phi) {
  while (phi > kPi) phi -= 2 * kPi;
  while (phi <= -kPi) phi += 2 * kPi;
  return phi;
}

int random_charge(Rng& r) { return r.chance(0.5) ? 1 : -1; }

// Gamma(shape, 1) (Marsaglia and Tsang's squeeze method; shape < 1 through shape + 1), from
// the generator's own normal and uniform numbers so that it is the same on every platform.
double gamma_unit(Rng& r, double shape) {
  if (shape < 1.0) return gamma_unit(r, shape + 1.0) * std::pow(1.0 - r.uniform(), 1.0 / shape);
  const double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    double x, v;
    do {
      x = r.normal();
      v = 1.0 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const double u = 1.0 - r.uniform();  // (0, 1]
    if (u < 1.0 - 0.0331 * x * x * x * x || std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
  }
}
// A positive factor of mean 1 and relative spread `rel` (Gamma-distributed; 1 when rel is 0).
double gamma_factor(Rng& r, double rel) {
  if (rel <= 0) return 1.0;
  const double shape = 1.0 / (rel * rel);
  return gamma_unit(r, shape) / shape;
}

// Soft particles of one interaction whose multiplicity is `activity` times the mean
// (version 1: always 1): Poisson(50) charged hadrons, Poisson(9) photons, Poisson(4) neutral
// hadrons, flat in |eta| < 5.
void add_soft_interaction(Rng& r, std::vector<Particle>& out, double activity) {
  const int n_charged = r.poisson(50.0 * activity);
  const int n_photon = r.poisson(9.0 * activity);
  const int n_neutral = r.poisson(4.0 * activity);
  auto add = [&](PC cls, int n, double mean_pt) {
    for (int i = 0; i < n; ++i) {
      int q = (cls == PC::charged_hadron) ? random_charge(r) : 0;
      out.push_back({cls, q, 0.1 + r.exponential(mean_pt), r.uniform(-kCaloEta, kCaloEta), r.uniform(-kPi, kPi)});
    }
  };
  add(PC::charged_hadron, n_charged, 0.7);
  add(PC::photon, n_photon, 0.35);
  add(PC::neutral_hadron, n_neutral, 0.8);
}

// A jet: constituents sharing its pT around its axis.
void add_jet(Rng& r, std::vector<Particle>& out, double pt, double eta, double phi) {
  const int n = 4 + r.poisson(std::max(2.0, 3.0 * std::log(pt)));
  std::vector<double> share(static_cast<size_t>(n));
  double sum = 0;
  for (auto& s : share) sum += (s = r.exponential(1.0));
  for (int i = 0; i < n; ++i) {
    const double u = r.uniform();
    const PC cls = u < 0.62 ? PC::charged_hadron : (u < 0.87 ? PC::photon : PC::neutral_hadron);
    const int q = cls == PC::charged_hadron ? random_charge(r) : 0;
    const double spread = 0.15 / std::sqrt(1.0 + share[static_cast<size_t>(i)] / sum * 10.0);
    out.push_back({cls, q, std::max(0.2, pt * share[static_cast<size_t>(i)] / sum), eta + r.normal(0, spread),
                   wrap_phi(phi + r.normal(0, spread))});
  }
}
// A jet in a random direction, |eta| spread 1.6. (Version 1 draws the direction as two
// arguments of one call, whose order the compiler picks: GCC's is the reference.)
void add_jet_v1(Rng& r, std::vector<Particle>& out, double pt) {
  add_jet(r, out, pt, r.normal(0, 1.6), r.uniform(-kPi, kPi));
}
void add_jet(Rng& r, std::vector<Particle>& out, double pt) {
  const double eta = r.normal(0, 1.6);
  const double phi = r.uniform(-kPi, kPi);
  add_jet(r, out, pt, eta, phi);
}

// A prompt electron or muon of transverse momentum pt, |eta| spread 1.2.
void add_lepton(Rng& r, std::vector<Particle>& out, PC cls, double pt) {
  out.push_back({cls, random_charge(r), pt, r.normal(0, 1.2), r.uniform(-kPi, kPi)});  // braces: left to right
}

// Version 1's hard process: ttbar-like 4 + Poisson(2) jets and Poisson(1.2) leptons, QCD-like
// 2 + Poisson(1) jets and a lepton in 5% of events.
void add_hard_process_v1(Rng& r, std::vector<Particle>& out, bool ttbar) {
  const int n_jets = ttbar ? 4 + r.poisson(2.0) : 2 + r.poisson(1.0);
  for (int j = 0; j < n_jets; ++j) add_jet_v1(r, out, (ttbar ? 30.0 : 40.0) + r.exponential(ttbar ? 60.0 : 80.0));
  const int n_leptons = ttbar ? r.poisson(1.2) : (r.chance(0.05) ? 1 : 0);
  for (int l = 0; l < n_leptons; ++l) {
    const PC cls = r.chance(0.5) ? PC::electron : PC::muon;
    out.push_back({cls, random_charge(r), 20.0 + r.exponential(30.0), r.normal(0, 1.2), r.uniform(-kPi, kPi)});
  }
}

// W boson branching fractions (PDG 2024: e 10.71%, mu 10.63%, tau 11.38%) and the tau's
// leptonic ones (e 17.82%, mu 17.39%).
constexpr double kWtoE = 0.1071, kWtoMu = 0.1063, kWtoTau = 0.1138;
constexpr double kTauToE = 0.1782, kTauToMu = 0.1739;

// Version 2's ttbar: two b jets, each W decaying by its branching fractions (a prompt electron
// or muon, a tau that gives a softer electron or muon or a narrow jet, or two jets), and
// Poisson(1) jets from initial-state radiation.
void add_ttbar(Rng& r, std::vector<Particle>& out) {
  for (int b = 0; b < 2; ++b) add_jet(r, out, 30.0 + r.exponential(60.0));
  for (int w = 0; w < 2; ++w) {
    const double u = r.uniform();
    if (u < kWtoE) {
      add_lepton(r, out, PC::electron, 15.0 + r.exponential(30.0));
    } else if (u < kWtoE + kWtoMu) {
      add_lepton(r, out, PC::muon, 15.0 + r.exponential(30.0));
    } else if (u < kWtoE + kWtoMu + kWtoTau) {
      const double v = r.uniform();
      if (v < kTauToE) {
        add_lepton(r, out, PC::electron, 5.0 + r.exponential(15.0));
      } else if (v < kTauToE + kTauToMu) {
        add_lepton(r, out, PC::muon, 5.0 + r.exponential(15.0));
      } else {
        add_jet(r, out, 15.0 + r.exponential(25.0));
      }
    } else {
      for (int q = 0; q < 2; ++q) add_jet(r, out, 25.0 + r.exponential(45.0));
    }
  }
  const int n_isr = r.poisson(1.0);
  for (int j = 0; j < n_isr; ++j) add_jet(r, out, 30.0 + r.exponential(50.0));
}

// Version 2's QCD multijet event: 2 + Poisson(1) jets, no prompt leptons.
void add_qcd(Rng& r, std::vector<Particle>& out) {
  const int n_jets = 2 + r.poisson(1.0);
  for (int j = 0; j < n_jets; ++j) add_jet(r, out, 40.0 + r.exponential(80.0));
}

// Every particle of an event before the detector. Version 1 keeps its exact sequence of random
// numbers, so that its events stay reproducible.
std::vector<Particle> make_particles(Rng& r, const GeneratorConfig& cfg) {
  std::vector<Particle> particles;
  if (cfg.version == 1) {
    const int n_pu = r.poisson(cfg.pileup);
    particles.reserve(static_cast<size_t>(n_pu) * 64 + 256);
    add_hard_process_v1(r, particles, r.chance(cfg.ttbar_fraction));
    for (int i = 0; i < n_pu; ++i) add_soft_interaction(r, particles, 1.0);
    return particles;
  }
  // The crossing's mean pile-up varies around cfg.pileup (bunch-to-bunch luminosity, the fill's
  // levelling); the number of interactions is Poisson about it.
  const int n_pu = r.poisson(cfg.pileup * gamma_factor(r, cfg.pileup_spread));
  particles.reserve(static_cast<size_t>(n_pu) * 64 + 512);
  if (r.chance(cfg.ttbar_fraction)) {
    add_ttbar(r, particles);
  } else {
    add_qcd(r, particles);
  }
  // The hard interaction's underlying event: like a soft interaction, kUnderlyingEvent times as
  // busy; then the pile-up, each interaction with its own multiplicity (negative binomial).
  add_soft_interaction(r, particles, kUnderlyingEvent * gamma_factor(r, 1.0 / std::sqrt(cfg.multiplicity_k)));
  for (int i = 0; i < n_pu; ++i) add_soft_interaction(r, particles, gamma_factor(r, 1.0 / std::sqrt(cfg.multiplicity_k)));
  return particles;
}

struct Tower {
  double e_em = 0, e_had = 0;
  bool hit = false;
  Cell cell{};
  // Target: the summed four-vector of the track-less particles that hit it.
  double px = 0, py = 0, pz = 0, e = 0;
  double class_energy[kNumClasses] = {0, 0, 0, 0, 0, 0};
};

// Energy resolution: EM 5%/sqrt(E) + 1%, hadronic 100%/sqrt(E) + 5% (added in quadrature).
double smear(Rng& r, double e, double stochastic, double constant) {
  if (e <= 0) return 0;
  const double rel = std::sqrt(stochastic * stochastic / e + constant * constant);
  return std::max(0.0, e * (1.0 + rel * r.normal()));
}
}  // namespace

GeneratedEvent generate_event(const GeneratorConfig& cfg, std::int64_t index) {
  Rng r(cfg.seed, static_cast<std::uint64_t>(index));
  const std::vector<Particle> particles = make_particles(r, cfg);
  const Geometry& geo = cfg.version == 1 ? geometry_v1() : geometry_v2();

  GeneratedEvent ev;
  std::vector<float> track_x, track_y;
  std::vector<Tower> grid(static_cast<size_t>(geo.cells));
  for (const auto& p : particles) {
    const bool charged = p.charge != 0;
    const bool lepton = p.cls == PC::electron || p.cls == PC::muon;
    const double eff = lepton ? 0.97 : 0.9;
    const bool has_track = charged && std::fabs(p.eta) < kTrackerEta && p.pt > kTrackMinPt && r.chance(eff);
    if (has_track) {
      // Track: measured pT and angles, and the position at the calorimeter bent by the field.
      const double pt = p.pt * (1.0 + (0.01 + 0.0002 * p.pt) * r.normal());
      const double eta = p.eta + 0.002 * r.normal();
      const double phi = wrap_phi(p.phi + 0.002 * r.normal());
      const double bend = std::asin(std::min(1.0, kBendK / std::max(pt, 1e-3)));
      const double phi_out = wrap_phi(phi + p.charge * bend);
      const double eta_out = eta + 0.01 * r.normal();
      const float row[kXColumns] = {float(ElementType::track), float(pt), float(eta), float(std::sin(phi)), float(std::cos(phi)),
                                    float(pt * std::cosh(eta)), float(eta_out), float(std::sin(phi_out)),
                                    float(std::cos(phi_out)), float(p.charge), p.cls == PC::muon ? 1.0f : 0.0f,
                                    p.cls == PC::electron ? 1.0f : 0.0f};
      const float tgt[kYColumns] = {float(static_cast<int>(p.cls)), float(p.charge), float(p.pt), float(p.eta),
                                    float(std::sin(p.phi)), float(std::cos(p.phi)), float(p.energy())};
      track_x.insert(track_x.end(), row, row + kXColumns);
      track_y.insert(track_y.end(), tgt, tgt + kYColumns);
    }
    if (std::fabs(p.eta) >= kCaloEta) continue;
    // Calorimeter deposit in the cell the particle reaches (charged ones bent in phi).
    const double bend = charged ? p.charge * std::asin(std::min(1.0, kBendK / p.pt)) : 0.0;
    const double phi_calo = wrap_phi(p.phi + bend);
    const Cell cell = cell_of(geo, p.eta, phi_calo);
    Tower& t = grid[static_cast<size_t>(cell.index)];
    t.hit = true;
    t.cell = cell;
    const double e = p.energy();
    if (p.cls == PC::photon || p.cls == PC::electron) {
      t.e_em += e;
    } else if (p.cls == PC::muon) {
      t.e_had += std::min(e, 2.0);  // a minimum-ionising muon leaves little
    } else {
      const double f_em = r.uniform(0.05, 0.45);
      t.e_em += f_em * e;
      t.e_had += (1 - f_em) * e;
    }
    if (!has_track && p.cls != PC::muon) {
      // Target class of a track-less particle: charged hadrons without a track count as
      // neutral hadrons; electrons without a track as photons.
      PC cls = p.cls;
      if (cls == PC::charged_hadron) cls = PC::neutral_hadron;
      if (cls == PC::electron) cls = PC::photon;
      t.px += p.pt * std::cos(p.phi);
      t.py += p.pt * std::sin(p.phi);
      t.pz += p.pt * std::sinh(p.eta);
      t.e += e;
      t.class_energy[static_cast<int>(cls)] += e;
    }
  }

  {
    for (const Tower& t : grid) {
      if (!t.hit) continue;
      const double e_em = smear(r, t.e_em, 0.05, 0.01);
      const double e_had = smear(r, t.e_had, 1.0, 0.05);
      const double e = e_em + e_had;
      const double eta = t.cell.eta;
      const double phi = t.cell.phi;
      const double et = e / std::cosh(eta);
      if (e < t.cell.e_min) continue;
      const float row[kXColumns] = {float(ElementType::tower), float(et), float(eta), float(std::sin(phi)), float(std::cos(phi)), float(e),
                                    float(e_em), float(e_had), 0, 0, 0, 0};
      float tgt[kYColumns] = {0, 0, 0, 0, 0, 0, 0};
      int cls = 0;  // the class with the largest energy share among track-less particles
      for (int c = 1; c < kNumClasses; ++c)
        if (t.class_energy[c] > t.class_energy[cls]) cls = c;
      const bool soft_neutral = cls == static_cast<int>(PC::neutral_hadron) && t.e < kNeutralHadronMinE;
      if (t.e > 0 && cls != 0 && !soft_neutral) {
        const double pt = std::hypot(t.px, t.py);
        const double teta = std::asinh(t.pz / std::max(pt, 1e-9));
        tgt[ycol::cls] = float(cls);
        tgt[ycol::pt] = float(pt);
        tgt[ycol::eta] = float(teta);
        tgt[ycol::sin_phi] = float(t.py / std::max(pt, 1e-9));
        tgt[ycol::cos_phi] = float(t.px / std::max(pt, 1e-9));
        tgt[ycol::energy] = float(t.e);
      }
      ev.X.insert(ev.X.end(), row, row + kXColumns);
      ev.ygen.insert(ev.ygen.end(), tgt, tgt + kYColumns);
    }
  }
  ev.X.insert(ev.X.end(), track_x.begin(), track_x.end());
  ev.ygen.insert(ev.ygen.end(), track_y.begin(), track_y.end());
  return ev;
}

std::int64_t training_event_count(const GeneratorConfig& cfg) {
  return static_cast<std::int64_t>(std::llround(static_cast<double>(cfg.events) * (1.0 - cfg.validation_fraction)));
}

EventTable generate_events(const GeneratorConfig& cfg) {
  const auto n = cfg.events;
  std::vector<GeneratedEvent> events(static_cast<size_t>(n));
  unsigned threads = cfg.threads > 0 ? static_cast<unsigned>(cfg.threads) : static_cast<unsigned>(allowed_cpu_count());
  std::atomic<std::int64_t> next{0};
  auto work = [&] {
    for (std::int64_t i = next++; i < n && stop_requested() == 0; i = next++)
      events[static_cast<size_t>(i)] = generate_event(cfg, i);
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  throw_if_stopped("while generating events: nothing was written");

  EventTable table;
  std::int64_t total = 0;
  for (const auto& e : events) total += e.size();
  table.X.reserve(static_cast<size_t>(total) * kXColumns);
  table.ygen.reserve(static_cast<size_t>(total) * kYColumns);
  const auto n_train = training_event_count(cfg);
  for (std::int64_t i = 0; i < n; ++i) {
    auto& e = events[static_cast<size_t>(i)];
    table.append(e.X.data(), e.ygen.data(), e.size(), i < n_train ? 0 : 1);
    e = GeneratedEvent{};  // free as we go
  }
  return table;
}

std::string generator_source_json(const GeneratorConfig& cfg) {
  nlohmann::json j = {{"kind", "generator"},
                      {"generator", "hep-mlbench Delphes-like PU generator"},
                      {"hep-mlbench", hmb::version()},
                      {"generator_version", cfg.version},
                      {"seed", cfg.seed},
                      {"events", cfg.events},
                      {"pileup", cfg.pileup},
                      {"ttbar_fraction", cfg.ttbar_fraction},
                      {"validation_fraction", cfg.validation_fraction}};
  if (cfg.version >= 2) {  // settings version 1 does not read (its source attribute stays as it was)
    j["pileup_spread"] = cfg.pileup_spread;
    j["multiplicity_k"] = cfg.multiplicity_k;
  }
  return json_text(j);
}

TableStats table_stats(const EventTable& t) {
  TableStats s;
  s.events = t.n_events();
  s.elements = t.n_elements();
  s.min_elements = s.events > 0 ? t.event_size(0) : 0;
  for (std::int64_t i = 0; i < s.events; ++i) {
    s.min_elements = std::min(s.min_elements, t.event_size(i));
    s.max_elements = std::max(s.max_elements, t.event_size(i));
  }
  for (std::int64_t row = 0; row < s.elements; ++row) {
    (t.X[static_cast<size_t>(row * kXColumns + xcol::type)] == float(ElementType::track) ? s.tracks : s.towers) += 1;
    const int c = static_cast<int>(t.ygen[static_cast<size_t>(row * kYColumns + ycol::cls)]);
    if (c >= 0 && c < kNumClasses) s.class_counts[c] += 1;
  }
  return s;
}

EventCounts event_counts(const EventTable& t) {
  EventCounts c;
  const auto n = t.n_events();
  for (auto* v : {&c.elements, &c.tracks, &c.towers}) v->assign(static_cast<size_t>(n), 0.0);
  for (auto& v : c.cls) v.assign(static_cast<size_t>(n), 0.0);
  for (std::int64_t i = 0; i < n; ++i) {
    const auto e = static_cast<size_t>(i);
    c.elements[e] = static_cast<double>(t.event_size(i));
    for (std::int64_t row = t.offsets[e]; row < t.offsets[e + 1]; ++row) {
      const bool track = t.X[static_cast<size_t>(row * kXColumns + xcol::type)] == float(ElementType::track);
      (track ? c.tracks : c.towers)[e] += 1;
      const int k = static_cast<int>(t.ygen[static_cast<size_t>(row * kYColumns + ycol::cls)]);
      if (k >= 0 && k < kNumClasses) c.cls[k][e] += 1;
    }
  }
  return c;
}

Distribution distribution(std::vector<double> v) {
  Distribution d;
  if (v.empty()) return d;
  std::sort(v.begin(), v.end());
  double sum = 0;
  for (double x : v) sum += x;
  d.mean = sum / static_cast<double>(v.size());
  auto percentile = [&](double p) {
    const double pos = p * static_cast<double>(v.size() - 1);
    const auto lo = static_cast<size_t>(std::floor(pos));
    const size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
  };
  d.p5 = percentile(0.05);
  d.p50 = percentile(0.50);
  d.p95 = percentile(0.95);
  return d;
}

}  // namespace hmb::data
