#include "data/generator.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <thread>

#include "util/build_info.hpp"
#include "data/rng.hpp"

namespace hmb::data {

namespace {
constexpr double kPi = 3.141592653589793;
constexpr double kTrackerEta = 2.5;      // tracks only inside
constexpr double kCaloEta = 5.0;         // towers out to here
constexpr double kTrackMinPt = 0.5;      // GeV
// Tower grid: 0.1 x 5 degrees inside the tracker, 0.25 x 10 degrees beyond (forward
// calorimeters are coarser), read out above 1 GeV centrally and 5 GeV forward.
constexpr int kCentralEtaCells = 50, kCentralPhiCells = 72;
constexpr int kForwardEtaCells = 10, kForwardPhiCells = 36;   // per side
constexpr int kCells = kCentralEtaCells * kCentralPhiCells + 2 * kForwardEtaCells * kForwardPhiCells;
constexpr double kTowerMinE = 1.0, kForwardTowerMinE = 5.0;

struct Cell {
  int index;
  double eta, phi;  // centre
  bool forward;
};

Cell cell_of(double eta, double phi) {
  auto bin = [](double v, double lo, double hi, int n) {
    return std::clamp(static_cast<int>((v - lo) / (hi - lo) * n), 0, n - 1);
  };
  auto centre = [](int i, double lo, double hi, int n) { return lo + (i + 0.5) * (hi - lo) / n; };
  if (std::fabs(eta) < kTrackerEta) {
    const int ie = bin(eta, -kTrackerEta, kTrackerEta, kCentralEtaCells);
    const int ip = bin(phi, -kPi, kPi, kCentralPhiCells);
    return {ie * kCentralPhiCells + ip, centre(ie, -kTrackerEta, kTrackerEta, kCentralEtaCells),
            centre(ip, -kPi, kPi, kCentralPhiCells), false};
  }
  const int side = eta > 0 ? 1 : 0;
  const double lo = side ? kTrackerEta : -kCaloEta, hi = side ? kCaloEta : -kTrackerEta;
  const int ie = bin(eta, lo, hi, kForwardEtaCells);
  const int ip = bin(phi, -kPi, kPi, kForwardPhiCells);
  return {kCentralEtaCells * kCentralPhiCells + (side * kForwardEtaCells + ie) * kForwardPhiCells + ip,
          centre(ie, lo, hi, kForwardEtaCells), centre(ip, -kPi, kPi, kForwardPhiCells), true};
}
constexpr double kBendK = 0.3 * 3.8 * 1.29 / 2.0;  // 0.3 B[T] R[m] / 2: phi bend x pT [GeV]

enum Cls { kNone = 0, kChHad = 1, kNeuHad = 2, kPhoton = 3, kElectron = 4, kMuon = 5 };

struct Particle {
  int cls;       // generator class (charged hadron, neutral hadron, photon, electron, muon)
  int charge;
  double pt, eta, phi;
  double energy() const { return pt * std::cosh(eta); }
};

double wrap_phi(double phi) {
  while (phi > kPi) phi -= 2 * kPi;
  while (phi <= -kPi) phi += 2 * kPi;
  return phi;
}

// Soft particles of one pile-up interaction.
void add_pileup(Rng& r, std::vector<Particle>& out) {
  const int n_charged = r.poisson(50.0);
  const int n_photon = r.poisson(9.0);
  const int n_neutral = r.poisson(4.0);
  auto add = [&](int cls, int n, double mean_pt) {
    for (int i = 0; i < n; ++i) {
      int q = (cls == kChHad) ? (r.chance(0.5) ? 1 : -1) : 0;
      out.push_back({cls, q, 0.1 + r.exponential(mean_pt), r.uniform(-kCaloEta, kCaloEta), r.uniform(-kPi, kPi)});
    }
  };
  add(kChHad, n_charged, 0.7);
  add(kPhoton, n_photon, 0.35);
  add(kNeuHad, n_neutral, 0.8);
}

// A jet: constituents sharing its pT around its axis.
void add_jet(Rng& r, std::vector<Particle>& out, double pt, double eta, double phi) {
  const int n = 4 + r.poisson(std::max(2.0, 3.0 * std::log(pt)));
  std::vector<double> share(static_cast<size_t>(n));
  double sum = 0;
  for (auto& s : share) sum += (s = r.exponential(1.0));
  for (int i = 0; i < n; ++i) {
    const double u = r.uniform();
    const int cls = u < 0.62 ? kChHad : (u < 0.87 ? kPhoton : kNeuHad);
    const int q = cls == kChHad ? (r.chance(0.5) ? 1 : -1) : 0;
    const double spread = 0.15 / std::sqrt(1.0 + share[static_cast<size_t>(i)] / sum * 10.0);
    out.push_back({cls, q, std::max(0.2, pt * share[static_cast<size_t>(i)] / sum), eta + r.normal(0, spread),
                   wrap_phi(phi + r.normal(0, spread))});
  }
}

void add_hard_process(Rng& r, std::vector<Particle>& out, bool ttbar) {
  const int n_jets = ttbar ? 4 + r.poisson(2.0) : 2 + r.poisson(1.0);
  for (int j = 0; j < n_jets; ++j) {
    const double pt = (ttbar ? 30.0 : 40.0) + r.exponential(ttbar ? 60.0 : 80.0);
    add_jet(r, out, pt, r.normal(0, 1.6), r.uniform(-kPi, kPi));
  }
  const int n_leptons = ttbar ? r.poisson(1.2) : (r.chance(0.05) ? 1 : 0);
  for (int l = 0; l < n_leptons; ++l) {
    const int cls = r.chance(0.5) ? kElectron : kMuon;
    out.push_back({cls, r.chance(0.5) ? 1 : -1, 20.0 + r.exponential(30.0), r.normal(0, 1.2), r.uniform(-kPi, kPi)});
  }
}

struct Tower {
  double e_em = 0, e_had = 0;
  bool hit = false;
  Cell cell{};
  // Target: the summed four-vector of the track-less particles that hit it.
  double px = 0, py = 0, pz = 0, e = 0;
  double class_energy[6] = {0, 0, 0, 0, 0, 0};
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
  std::vector<Particle> particles;
  const int n_pu = r.poisson(cfg.pileup);
  particles.reserve(static_cast<size_t>(n_pu) * 32 + 256);
  add_hard_process(r, particles, r.chance(cfg.ttbar_fraction));
  for (int i = 0; i < n_pu; ++i) add_pileup(r, particles);

  GeneratedEvent ev;
  std::vector<float> track_x, track_y;
  std::vector<Tower> grid(static_cast<size_t>(kCells));
  for (const auto& p : particles) {
    const bool charged = p.charge != 0;
    const double eff = (p.cls == kElectron || p.cls == kMuon) ? 0.97 : 0.9;
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
                                    float(std::cos(phi_out)), float(p.charge), p.cls == kMuon ? 1.0f : 0.0f,
                                    p.cls == kElectron ? 1.0f : 0.0f};
      const float tgt[kYColumns] = {float(p.cls), float(p.charge), float(p.pt), float(p.eta),
                                    float(std::sin(p.phi)), float(std::cos(p.phi)), float(p.energy())};
      track_x.insert(track_x.end(), row, row + kXColumns);
      track_y.insert(track_y.end(), tgt, tgt + kYColumns);
    }
    if (std::fabs(p.eta) >= kCaloEta) continue;
    // Calorimeter deposit in the cell the particle reaches (charged ones bent in phi).
    const double bend = charged ? p.charge * std::asin(std::min(1.0, kBendK / p.pt)) : 0.0;
    const double phi_calo = wrap_phi(p.phi + bend);
    const Cell cell = cell_of(p.eta, phi_calo);
    Tower& t = grid[static_cast<size_t>(cell.index)];
    t.hit = true;
    t.cell = cell;
    const double e = p.energy();
    if (p.cls == kPhoton || p.cls == kElectron) {
      t.e_em += e;
    } else if (p.cls == kMuon) {
      t.e_had += std::min(e, 2.0);  // a minimum-ionising muon leaves little
    } else {
      const double f_em = r.uniform(0.05, 0.45);
      t.e_em += f_em * e;
      t.e_had += (1 - f_em) * e;
    }
    if (!has_track && p.cls != kMuon) {
      // Target class of a track-less particle: charged hadrons beyond the tracker count as
      // neutral hadrons; electrons without a track as photons.
      int cls = p.cls;
      if (cls == kChHad) cls = kNeuHad;
      if (cls == kElectron) cls = kPhoton;
      t.px += p.pt * std::cos(p.phi);
      t.py += p.pt * std::sin(p.phi);
      t.pz += p.pt * std::sinh(p.eta);
      t.e += e;
      t.class_energy[cls] += e;
    }
  }

  {
    for (const Tower& t : grid) {
      if (!t.hit) continue;
      const double e_em = smear(r, t.e_em, 0.05, 0.01);
      const double e_had = smear(r, t.e_had, 1.0, 0.05);
      const double e = e_em + e_had;
      if (e < (t.cell.forward ? kForwardTowerMinE : kTowerMinE)) continue;
      const double eta = t.cell.eta;
      const double phi = t.cell.phi;
      const double et = e / std::cosh(eta);
      const float row[kXColumns] = {float(ElementType::tower), float(et), float(eta), float(std::sin(phi)), float(std::cos(phi)), float(e),
                                    float(e_em), float(e_had), 0, 0, 0, 0};
      float tgt[kYColumns] = {0, 0, 0, 0, 0, 0, 0};
      int cls = 0;  // the class with the largest energy share among track-less particles
      for (int c = 1; c < 6; ++c)
        if (t.class_energy[c] > t.class_energy[cls]) cls = c;
      if (t.e > 0 && cls != 0 && !(cls == kNeuHad && t.e < 9.0)) {  // soft neutral hadrons dropped
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

EventTable generate_events(const GeneratorConfig& cfg) {
  const auto n = cfg.events;
  std::vector<GeneratedEvent> events(static_cast<size_t>(n));
  unsigned threads = cfg.threads > 0 ? static_cast<unsigned>(cfg.threads) : std::max(1u, std::thread::hardware_concurrency());
  std::atomic<std::int64_t> next{0};
  auto work = [&] {
    for (std::int64_t i = next++; i < n; i = next++) events[static_cast<size_t>(i)] = generate_event(cfg, i);
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();

  EventTable table;
  std::int64_t total = 0;
  for (const auto& e : events) total += e.size();
  table.X.reserve(static_cast<size_t>(total) * kXColumns);
  table.ygen.reserve(static_cast<size_t>(total) * kYColumns);
  const auto n_train = static_cast<std::int64_t>(std::llround(static_cast<double>(n) * (1.0 - cfg.validation_fraction)));
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
                      {"generator_version", 1},
                      {"seed", cfg.seed},
                      {"events", cfg.events},
                      {"pileup", cfg.pileup},
                      {"ttbar_fraction", cfg.ttbar_fraction},
                      {"validation_fraction", cfg.validation_fraction}};
  return j.dump();
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

}  // namespace hmb::data
