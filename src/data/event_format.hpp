#pragma once
// hep-mlbench's HDF5 event format, version 1 (docs/data-format.md):
//   /X        (n_elements, 12) float32   detector elements of all events, event after event
//   /ygen     (n_elements, 7)  float32   target per element
//   /offsets  (n_events + 1)   int64     event i is rows [offsets[i], offsets[i+1])
//   /split    (n_events)       int8      0 training, 1 validation
// Root attributes: format, format_version, n_events, n_train, n_validation, n_elements,
// source (JSON provenance), checksum_sha256, checksum_definition.
#include <cstdint>
#include <string>
#include <vector>

namespace hmb::data {

inline constexpr const char* kFormatName = "hep-mlbench-events";
inline constexpr int kFormatVersion = 1;
inline constexpr int kXColumns = 12;
inline constexpr int kYColumns = 7;

// Columns of /X. Every element starts with its type; the next five columns are the kinematics
// the momentum heads scale (pT or ET, eta, sin phi, cos phi, E or p).
namespace xcol {
inline constexpr int type = 0;      // ElementType: 1 tower, 2 track (0 only in padding)
inline constexpr int pt = 1;        // track pT / tower ET (GeV)
inline constexpr int eta = 2;
inline constexpr int sin_phi = 3;
inline constexpr int cos_phi = 4;
inline constexpr int energy = 5;    // track p / tower E (GeV)
inline constexpr int first_kinematic = pt;  // the momentum heads read columns pt .. energy
// towers
inline constexpr int e_em = 6, e_had = 7;
// tracks
inline constexpr int eta_outer = 6, sin_phi_outer = 7, cos_phi_outer = 8, charge = 9;
inline constexpr int is_gen_muon = 10, is_gen_electron = 11;
}  // namespace xcol

// Columns of /ygen: the target of each element.
namespace ycol {
inline constexpr int cls = 0;       // ParticleClass
inline constexpr int charge = 1;
inline constexpr int pt = 2;        // the five momentum targets: pt, eta, sin phi, cos phi, E
inline constexpr int eta = 3;
inline constexpr int sin_phi = 4;
inline constexpr int cos_phi = 5;
inline constexpr int energy = 6;
inline constexpr int num_momentum = 5;
}  // namespace ycol

// Values of xcol::type.
enum class ElementType : int { padding = 0, tower = 1, track = 2 };
// Values of ycol::cls; kNumClasses classes in all.
enum class ParticleClass : int { none = 0, charged_hadron = 1, neutral_hadron = 2, photon = 3, electron = 4, muon = 5 };
inline constexpr int kNumClasses = 6;
inline constexpr const char* kChecksumDefinition =
    "SHA-256 over the little-endian bytes of /offsets, /X, /ygen, /split, in that order";

// Events in memory, in the file's layout.
struct EventTable {
  std::vector<float> X;                 // (n_elements * 12)
  std::vector<float> ygen;              // (n_elements * 7)
  std::vector<std::int64_t> offsets{0}; // (n_events + 1)
  std::vector<std::int8_t> split;       // (n_events): 0 train, 1 validation

  std::int64_t n_events() const { return static_cast<std::int64_t>(offsets.size()) - 1; }
  std::int64_t n_elements() const { return offsets.back(); }
  std::int64_t event_size(std::int64_t i) const { return offsets[i + 1] - offsets[i]; }
  // Appends one event of n elements (x: n*12 values, y: n*7 values).
  void append(const float* x, const float* y, std::int64_t n, std::int8_t split_flag);
};

// The content checksum (kChecksumDefinition) of a table.
std::string content_checksum(const EventTable& t);

// Writes `t` to `path` (write to path.tmp, then rename). `source_json` is the provenance.
void write_event_file(const std::string& path, const EventTable& t, const std::string& source_json);

struct EventFileInfo {
  std::string path;
  int format_version = 0;
  std::int64_t n_events = 0, n_train = 0, n_validation = 0, n_elements = 0;
  std::string source_json;
  std::string checksum;   // as recorded in the file (verified when the reader was asked to)
  bool checksum_verified = false;
};

// Reads and validates the whole file into memory. Every problem is an Error naming the file,
// the object and what is wrong. verify_checksum recomputes the content checksum.
EventTable read_event_file(const std::string& path, EventFileInfo* info = nullptr, bool verify_checksum = true);

// Reads only the attributes and the small datasets (offsets, split) and validates them;
// events are then read one by one with EventReader.
EventFileInfo inspect_event_file(const std::string& path);

}  // namespace hmb::data
