#include "model/model_config.hpp"

#include <yaml-cpp/yaml.h>

#include "data/event_format.hpp"
#include "model/presets_yaml.hpp"
#include "util/error.hpp"

namespace hmb::model {

namespace {
YAML::Node presets_node() {
  static const YAML::Node node = YAML::Load(kPresetsYaml);
  return node;
}

int get_int(const YAML::Node& n, const std::string& preset_name, const char* key) {
  require(n[key].IsDefined(), "model preset '" + preset_name + "': missing key '" + key + "'");
  return n[key].as<int>();
}
}  // namespace

std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  for (const auto& kv : presets_node()) names.push_back(kv.first.as<std::string>());
  return names;
}

std::int64_t max_elements_per_event(const ModelConfig& cfg) {
  const std::int64_t max_bins = 2 * (cfg.max_num_bins / 2) + 1;
  return cfg.max_num_bins >= 2 ? max_bins * cfg.bin_size : 0;
}

void check_events_fit(const data::EventTable& table, const ModelConfig& cfg, const std::string& file) {
  const auto limit = max_elements_per_event(cfg);
  for (std::int64_t i = 0; i < table.n_events(); ++i) {
    const auto n = table.event_size(i);
    require(n <= limit, "event file '" + file + "': event " + std::to_string(i) + " has " + std::to_string(n) +
                            " elements, more than the " + std::to_string(limit) + " the " + cfg.name +
                            " model can bin (max_num_bins " + std::to_string(cfg.max_num_bins) + " x bin_size " +
                            std::to_string(cfg.bin_size) +
                            "): split such events when making the file, or use a preset with larger bins");
  }
}

std::string resolve_preset_name(const std::string& name, bool on_gpu) {
  if (name != "auto") return name;
  return on_gpu ? "delphes" : "small";
}

ModelConfig preset(const std::string& name) {
  const YAML::Node all = presets_node();
  if (!all[name].IsDefined()) {
    std::string known;
    for (const auto& n : preset_names()) known += (known.empty() ? "" : ", ") + n;
    throw Error("unknown model preset '" + name + "' (known: " + known + ")");
  }
  const YAML::Node n = all[name];
  ModelConfig c;
  c.name = name;
  c.input_dim = get_int(n, name, "input_dim");
  c.num_classes = get_int(n, name, "num_classes");
  c.width = get_int(n, name, "width");
  c.num_convs = get_int(n, name, "num_convs");
  c.bin_size = get_int(n, name, "bin_size");
  c.max_num_bins = get_int(n, name, "max_num_bins");
  c.distance_dim = get_int(n, name, "distance_dim");
  c.num_node_messages = get_int(n, name, "num_node_messages");
  c.ffn_dist_hidden_dim = get_int(n, name, "ffn_dist_hidden_dim");
  c.dropout = n["dropout"].IsDefined() ? n["dropout"].as<double>() : 0.0;
  require(c.width > 0 && c.bin_size > 0 && c.distance_dim > 0 && c.num_convs > 0 && c.max_num_bins >= 2,
          "model preset '" + name + "': sizes must be positive");
  return c;
}

}  // namespace hmb::model
