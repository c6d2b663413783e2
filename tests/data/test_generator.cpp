#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "data/generator.hpp"

using namespace hmb::data;

namespace {
std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
GeneratorConfig config(std::uint64_t seed, int threads, std::int64_t events = 6) {
  GeneratorConfig c;
  c.events = events;
  c.seed = seed;
  c.threads = threads;
  return c;
}
}  // namespace

TEST_CASE("generator: same seed -> byte-identical files whatever the thread count; another seed differs",
          "[data][generator]") {
  const auto dir = std::filesystem::temp_directory_path() / ("hmb-gen-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto write = [&](const GeneratorConfig& c, const std::string& name) {
    const auto path = (dir / name).string();
    write_event_file(path, generate_events(c), generator_source_json(c));
    return file_bytes(path);
  };
  const auto one = write(config(11, 1), "a.h5");
  const auto two = write(config(11, 2), "b.h5");
  const auto four = write(config(11, 4), "c.h5");
  const auto other = write(config(12, 2), "d.h5");
  CHECK(one.size() > 100000);
  CHECK(one == two);
  CHECK(one == four);
  CHECK(one != other);
  std::filesystem::remove_all(dir);
}

TEST_CASE("generator: element counts and class content close to the Delphes PU200 figures", "[data][generator]") {
  auto t = generate_events(config(20240601, 2, 4));
  auto s = table_stats(t);
  const double n = static_cast<double>(s.events);
  INFO("elements/event " << s.elements / n << ", charged hadrons " << s.class_counts[1] / n
                         << ", neutral hadrons " << s.class_counts[2] / n);
  // Doc: ~5,000-6,500 elements, ~1,700-3,500 charged hadrons, ~750-1,050 neutral hadrons per
  // event. Generous bands: the generator is a model, not Delphes.
  CHECK(s.elements / n > 4000);
  CHECK(s.elements / n < 7500);
  CHECK(s.class_counts[1] / n > 1500);
  CHECK(s.class_counts[1] / n < 3800);
  CHECK(s.class_counts[2] / n > 500);
  CHECK(s.class_counts[2] / n < 1300);
  CHECK(s.class_counts[3] / n > 100);   // photons
  CHECK(s.class_counts[0] / n > 500);   // towers and tracks without a target
  CHECK(s.tracks > 0);
  CHECK(s.towers > 0);
  CHECK(t.split.front() == 0);
  CHECK(t.split.back() == 1);
}

TEST_CASE("generator: tracks carry their particle's class; tower classes are not one input column", "[data][generator]") {
  auto t = generate_events(config(5, 1, 2));
  std::int64_t track_rows = 0, track_class_ok = 0, tower_with_target = 0;
  for (std::int64_t row = 0; row < t.n_elements(); ++row) {
    const float* x = &t.X[static_cast<size_t>(row * kXColumns)];
    const float* y = &t.ygen[static_cast<size_t>(row * kYColumns)];
    if (x[0] == 2.0f) {
      ++track_rows;
      track_class_ok += (y[0] == 1 || y[0] == 4 || y[0] == 5);
      CHECK(std::fabs(x[3] * x[3] + x[4] * x[4] - 1.0f) < 1e-4f);
    } else {
      CHECK(x[0] == 1.0f);
      CHECK(x[5] == Approx(x[6] + x[7]).epsilon(1e-4));
      tower_with_target += y[0] != 0;
    }
  }
  CHECK(track_rows > 0);
  CHECK(track_class_ok == track_rows);
  CHECK(tower_with_target > 0);
}
