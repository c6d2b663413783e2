#include "model/test_fault.hpp"

#include <torch/torch.h>

#include <sstream>

#include "util/error.hpp"

namespace hmb::model {

std::string apply_test_fault(MLPF& net, const std::string& spec) {
  const auto colon = spec.find(':');
  require(colon != std::string::npos, std::string(kTestFaultVariable) + ": '" + spec +
                                          "' is not KIND:VALUE[@PARAMETER] (scale:1.01, add:1e-3)");
  const std::string kind = spec.substr(0, colon);
  std::string rest = spec.substr(colon + 1), name;
  if (const auto at = rest.find('@'); at != std::string::npos) {
    name = rest.substr(at + 1);
    rest = rest.substr(0, at);
  }
  double value = 0;
  try {
    size_t used = 0;
    value = std::stod(rest, &used);
    require(used == rest.size(), "trailing characters");
  } catch (const std::exception&) {
    throw Error(std::string(kTestFaultVariable) + ": '" + rest + "' is not a number");
  }
  require(kind == "scale" || kind == "add",
          std::string(kTestFaultVariable) + ": unknown kind '" + kind + "' (scale or add)");

  torch::Tensor target;
  for (const auto& item : net->named_parameters()) {
    const bool match = name.empty() ? item.value().dim() >= 2 : item.key() == name;
    if (match) {
      target = item.value();
      name = item.key();
      break;
    }
  }
  require(target.defined(), std::string(kTestFaultVariable) + ": no parameter named '" + name + "'");
  torch::NoGradGuard no_grad;
  std::ostringstream what;
  if (kind == "scale") {
    target.mul_(value);
    what << "parameter " << name << " scaled by " << value;
  } else {
    target.view(-1).narrow(0, 0, 1).add_(value);
    what << "parameter " << name << "[0] changed by " << value;
  }
  return what.str();
}

}  // namespace hmb::model
