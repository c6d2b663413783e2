#include "model/cost_model.hpp"

namespace hmb::model {

Cost cost_per_element(const ModelConfig& c) {
  const double w = c.width, in = c.input_dim, nc = c.num_classes, b = c.bin_size, d = c.distance_dim;
  const double h = c.ffn_dist_hidden_dim;
  auto ffn = [](double i, double o, double width) { return 2.0 * (i * width + width * o); };
  // Embeddings: two ffn(in, w, w).
  const double embedding = 2.0 * ffn(in, w, w);
  // One graph layer: ffn_dist, the kernel's a.b over the bin, and per message three (w x w)
  // products (theta, W_h, W_t) plus adj @ (bin x w).
  const double dist = 2.0 * (w * h + h * h + h * d);
  const double kernel = 2.0 * b * d;
  const double message = 2.0 * (3.0 * w * w + b * w);
  const double graph_layer = dist + kernel + c.num_node_messages * message;
  const double graph = 2.0 * c.num_convs * graph_layer;
  // Heads: class ffn(in + w, nc, w) and five ffn(in + w + nc, 2, w).
  const double heads = ffn(in + w, nc, w) + 5.0 * ffn(in + w + nc, 2, w);
  Cost cost;
  cost.forward_per_element = embedding + graph + heads;
  cost.train_per_element = 3.0 * cost.forward_per_element;  // backward = 2 x forward
  return cost;
}

}  // namespace hmb::model
