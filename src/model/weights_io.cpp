#include "model/weights_io.hpp"

#include <torch/serialize.h>

#include <fstream>
#include <iterator>
#include <set>

#include "util/atomic_file.hpp"
#include "util/error.hpp"

namespace hmb::model {

std::vector<std::pair<std::string, torch::Tensor>> state_dict(const torch::nn::Module& m) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : m.named_parameters(/*recurse=*/true)) out.emplace_back(p.key(), p.value());
  for (const auto& b : m.named_buffers(/*recurse=*/true)) out.emplace_back(b.key(), b.value());
  return out;
}

void save_state_dict(const torch::nn::Module& m, const std::string& path) {
  c10::Dict<std::string, torch::Tensor> dict;
  for (const auto& [name, t] : state_dict(m)) dict.insert(name, t.detach().to(torch::kCPU).contiguous());
  const std::vector<char> bytes = torch::pickle_save(dict);
  write_file_atomic(path, std::string(bytes.begin(), bytes.end()));
}

void load_state_dict(torch::nn::Module& m, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  require(in.good(), "weights file '" + path + "' cannot be opened (check the path given with --init-weights)");
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  c10::IValue value;
  try {
    value = torch::pickle_load(bytes);
  } catch (const std::exception& e) {
    throw Error("weights file '" + path + "' is not a torch.save state_dict: " + std::string(e.what()).substr(0, 300));
  }
  require(value.isGenericDict(), "weights file '" + path + "': expected a dict of tensors (a state_dict)");
  std::map<std::string, torch::Tensor> file;
  for (const auto& kv : value.toGenericDict()) {
    require(kv.key().isString() && kv.value().isTensor(),
            "weights file '" + path + "': every entry must be name -> tensor");
    file[kv.key().toStringRef()] = kv.value().toTensor();
  }
  torch::NoGradGuard no_grad;
  std::set<std::string> used;
  for (auto& [name, t] : state_dict(m)) {
    auto it = file.find(name);
    require(it != file.end(), "weights file '" + path + "': missing key '" + name + "'");
    require(it->second.sizes() == t.sizes(), "weights file '" + path + "': key '" + name + "' has shape " +
                                                 c10::str(it->second.sizes()) + ", the model expects " +
                                                 c10::str(t.sizes()) + " (another preset?)");
    t.copy_(it->second.to(t.dtype()));
    used.insert(name);
  }
  for (const auto& [name, t] : file) {
    require(used.count(name) != 0, "weights file '" + path + "': unexpected key '" + name + "' (another model?)");
  }
}

}  // namespace hmb::model
