#pragma once
// The shape of an MLPF gnn_lsh model. Presets live in src/model/presets.yaml (embedded in
// the binary), never in code.
#include <cstdint>
#include <string>
#include <vector>

namespace hmb::data {
struct EventTable;
}

namespace hmb::model {

struct ModelConfig {
  std::string name;
  int input_dim = 12;
  int num_classes = 6;
  int width = 512;             // embedding_dim = width
  int num_convs = 3;           // CombinedGraphLayers per stack
  int bin_size = 640;
  int max_num_bins = 200;      // codebook: distance_dim x max_num_bins/2
  int distance_dim = 128;
  int num_node_messages = 2;   // GHConvDense per graph layer
  int ffn_dist_hidden_dim = 128;
  double dropout = 0.0;
};

// The largest event (in elements) the model can bin. An event of N elements fills
// ceil(N / bin_size) bins and the LSH codebook draws floor(bins / 2) of its max_num_bins / 2
// rotations, so bins may not exceed 2 * floor(max_num_bins / 2) + 1.
std::int64_t max_elements_per_event(const ModelConfig& cfg);
// Refuses, before training, a sample holding an event larger than that: an Error naming the
// file, the event, its size, the limit and what to do.
void check_events_fit(const data::EventTable& table, const ModelConfig& cfg, const std::string& file);

// The named preset; Error listing the known names otherwise.
ModelConfig preset(const std::string& name);
std::vector<std::string> preset_names();

// The preset a run uses for the name it was given: "auto" is the reference model (delphes)
// when training on GPUs and the CPU benchmark's model (small) on the CPU; any other name is
// itself.
std::string resolve_preset_name(const std::string& name, bool on_gpu);

}  // namespace hmb::model
