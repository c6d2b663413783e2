#include "model/weights_io.hpp"

#include <caffe2/serialize/in_memory_adapter.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/serialize.h>

#include <fstream>
#include <iterator>
#include <optional>
#include <set>

#include "util/atomic_file.hpp"
#include "util/error.hpp"
#include "util/input_file.hpp"

namespace hmb::model {

std::vector<std::pair<std::string, torch::Tensor>> state_dict(const torch::nn::Module& m) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : m.named_parameters(/*recurse=*/true)) out.emplace_back(p.key(), p.value());
  for (const auto& b : m.named_buffers(/*recurse=*/true)) out.emplace_back(b.key(), b.value());
  return out;
}


namespace {
// Pickle opcodes (protocols 2 to 5) that torch.save writes, with the length of their argument.
// Returns false for an opcode this walker does not know.
bool opcode_argument(const std::string& p, size_t at, size_t& length) {
  auto u32 = [&](size_t i) {
    std::uint32_t v = 0;
    for (int b = 3; b >= 0; --b) v = (v << 8) | static_cast<unsigned char>(p[i + static_cast<size_t>(b)]);
    return static_cast<size_t>(v);
  };
  auto u64 = [&](size_t i) {
    std::uint64_t v = 0;
    for (int b = 7; b >= 0; --b) v = (v << 8) | static_cast<unsigned char>(p[i + static_cast<size_t>(b)]);
    return static_cast<size_t>(v);
  };
  const auto op = static_cast<unsigned char>(p[at]);
  const size_t rest = p.size() - at - 1;
  auto need = [&](size_t n) { return n <= rest; };
  switch (op) {
    case ')': case '}': case ']': case '(': case 't': case 'R': case 'b': case 's': case 'u': case 'a': case 'e':
    case '.': case 'N': case 0x88: case 0x89: case '0': case '1': case 'd': case 'l': case 'Q': case 0x85: case 0x86:
    case 0x87: case 0x94: case 0x93:
      length = 0; return true;
    case 0x80: case 'q': case 'h': case 'K': length = 1; return need(1);
    case 'M': length = 2; return need(2);
    case 'r': case 'j': case 'J': length = 4; return need(4);
    case 'G': case 0x95: length = 8; return need(8);
    case 0x8a: case 'U': case 'C': case 0x8c:
      if (!need(1)) return false;
      length = 1 + static_cast<unsigned char>(p[at + 1]);
      return need(length);
    case 0x8b: case 'X': case 'T': case 'B':
      if (!need(4)) return false;
      length = 4 + u32(at + 1);
      return need(length);
    case 0x8d: case 0x8e:
      if (!need(8)) return false;
      length = 8 + u64(at + 1);
      return need(length);
    case 'c': {  // GLOBAL: "module\nname\n"
      const auto first = p.find('\n', at + 1);
      const auto second = first == std::string::npos ? first : p.find('\n', first + 1);
      if (second == std::string::npos) return false;
      length = second - at;
      return true;
    }
    default: return false;
  }
}
}  // namespace

namespace {
struct Op {
  size_t at, size;      // position and length (opcode + argument)
  unsigned char code;
};

// The opcodes of `pickle`, or nothing when one is not known to opcode_argument().
std::optional<std::vector<Op>> opcodes(const std::string& pickle) {
  std::vector<Op> ops;
  for (size_t i = 0; i < pickle.size();) {
    size_t length = 0;
    if (!opcode_argument(pickle, i, length)) return std::nullopt;
    ops.push_back({i, 1 + length, static_cast<unsigned char>(pickle[i])});
    i += 1 + length;
  }
  return ops;
}

// For every BUILD, the first opcode of the state it applies: the stack simulated with, for
// each entry, the opcode where its value began. Nothing for opcodes it does not model.
std::optional<std::vector<size_t>> build_state_starts(const std::vector<Op>& ops, std::vector<size_t>& builds) {
  struct Entry { size_t start; bool mark; };
  std::vector<Entry> stack;
  std::vector<size_t> starts;
  auto pop_to_mark = [&]() -> std::optional<size_t> {
    while (!stack.empty() && !stack.back().mark) stack.pop_back();
    if (stack.empty()) return std::nullopt;
    const size_t start = stack.back().start;
    stack.pop_back();
    return start;
  };
  auto pop = [&](size_t n) -> std::optional<size_t> {
    if (stack.size() < n) return std::nullopt;
    const size_t start = stack[stack.size() - n].start;
    stack.resize(stack.size() - n);
    return start;
  };
  for (size_t k = 0; k < ops.size(); ++k) {
    switch (ops[k].code) {
      case 0x80: case 0x95: case 'q': case 'r': case 0x94: case '.': break;
      case '(': stack.push_back({k, true}); break;
      case 't': case 'd': case 'l': {
        auto s = pop_to_mark();
        if (!s) return std::nullopt;
        stack.push_back({*s, false});
        break;
      }
      case 0x85: case 0x86: case 0x87: {
        auto s = pop(static_cast<size_t>(ops[k].code - 0x84));
        if (!s) return std::nullopt;
        stack.push_back({*s, false});
        break;
      }
      case 'R': case 0x93: {
        auto s = pop(2);
        if (!s) return std::nullopt;
        stack.push_back({*s, false});
        break;
      }
      case 'Q': {
        auto s = pop(1);
        if (!s) return std::nullopt;
        stack.push_back({*s, false});
        break;
      }
      case 's': if (!pop(2)) return std::nullopt; break;
      case 'a': case '0': if (!pop(1)) return std::nullopt; break;
      case 'u': case 'e': case '1': if (!pop_to_mark()) return std::nullopt; break;
      case 'b': {
        if (stack.size() < 2) return std::nullopt;
        builds.push_back(k);
        starts.push_back(stack.back().start);
        stack.pop_back();
        break;
      }
      default: stack.push_back({k, false}); break;  // everything else pushes one value
    }
  }
  return starts;
}

std::int64_t memo_index(const std::string& p, const Op& op) {
  std::int64_t v = 0;
  for (size_t b = op.size - 1; b >= 1; --b) v = (v << 8) | static_cast<unsigned char>(p[op.at + b]);
  return v;
}
}  // namespace

std::optional<std::string> ordered_dict_as_dict(const std::string& pickle) {
  // torch.save(model.state_dict()) pickles a collections.OrderedDict (protocol 2):
  //   GLOBAL collections.OrderedDict [BINPUT c] EMPTY_TUPLE REDUCE [BINPUT] MARK items SETITEMS
  //   <state: {'_metadata': ...}> BUILD STOP
  // and every nested OrderedDict as BINGET c EMPTY_TUPLE REDUCE. LibTorch's unpickler makes
  // None of that GLOBAL (and knows no POP), so the rewrite only drops and replaces: the GLOBAL
  // and the memo of the class go, "class () REDUCE" becomes EMPTY_DICT, and each BUILD goes
  // with the state it applies (the dict's attributes, not its items).
  static const std::string kGlobal = "ccollections\nOrderedDict\n";
  auto ops = opcodes(pickle);
  if (!ops) return std::nullopt;
  std::vector<size_t> builds;
  auto starts = build_state_starts(*ops, builds);
  if (!starts) return std::nullopt;
  std::vector<bool> drop(ops->size(), false);
  for (size_t n = 0; n < builds.size(); ++n)
    for (size_t k = (*starts)[n]; k <= builds[n]; ++k) drop[k] = true;
  std::string out;
  out.reserve(pickle.size());
  std::set<std::int64_t> class_memos;
  bool class_on_top = false, changed = false;
  for (size_t k = 0; k < ops->size(); ++k) {
    if (drop[k]) continue;
    const Op& op = (*ops)[k];
    if (op.code == 'c' && pickle.compare(op.at, kGlobal.size(), kGlobal) == 0) {
      class_on_top = changed = true;  // the class itself is not kept
    } else if ((op.code == 'q' || op.code == 'r') && class_on_top) {
      class_memos.insert(memo_index(pickle, op));
    } else if ((op.code == 'h' || op.code == 'j') && class_memos.count(memo_index(pickle, op)) != 0) {
      class_on_top = true;
    } else if (op.code == ')' && class_on_top && k + 1 < ops->size() && (*ops)[k + 1].code == 'R') {
      out += '}';  // OrderedDict() is an empty dict
      class_on_top = false;
      ++k;
    } else if (class_on_top) {
      return std::nullopt;  // an OrderedDict built some other way (or memoised by MEMOIZE)
    } else {
      out.append(pickle, op.at, op.size);
    }
  }
  if (!changed) return std::nullopt;
  return out;
}

namespace {
// The same zip archive with data.pkl replaced by `pickle`.
std::vector<char> with_pickle(const std::vector<char>& archive, const std::string& pickle) {
  caffe2::serialize::PyTorchStreamReader reader(
      std::make_shared<caffe2::serialize::MemoryReadAdapter>(archive.data(), archive.size()));
  std::vector<char> out;
  caffe2::serialize::PyTorchStreamWriter writer([&out](const void* data, size_t n) {
    out.insert(out.end(), static_cast<const char*>(data), static_cast<const char*>(data) + n);
    return n;
  });
  for (const auto& name : reader.getAllRecords()) {
    if (name == "version" || name == ".data/version" || name == ".data/serialization_id") continue;  // the writer's own
    if (name == "data.pkl") {
      writer.writeRecord(name, pickle.data(), pickle.size());
      continue;
    }
    auto [ptr, size] = reader.getRecord(name);
    writer.writeRecord(name, ptr.get(), size);
  }
  writer.writeEndOfFile();
  return out;
}

std::string data_pickle(const std::vector<char>& archive) {
  caffe2::serialize::PyTorchStreamReader reader(
      std::make_shared<caffe2::serialize::MemoryReadAdapter>(archive.data(), archive.size()));
  auto [ptr, size] = reader.getRecord("data.pkl");
  return std::string(static_cast<const char*>(ptr.get()), size);
}
}  // namespace

std::optional<std::string> untagged_dict(const std::string& pickle) {
  // LibTorch's pickler wraps a typed dict as torch.jit._pickle.restore_type_tag(dict, "Dict[str, Tensor]"):
  //   PROTO, GLOBAL restore_type_tag, [BINPUT], <dict>, <type string>, [BINPUT], TUPLE2, REDUCE,
  //   [BINPUT], STOP.
  // Python's default torch.load (weights_only) refuses that global; without the GLOBAL, the
  // type string, the TUPLE2 and the REDUCE (and their memos) the same bytes are a plain dict.
  static const std::string kTag = "ctorch.jit._pickle\nrestore_type_tag\n";
  auto found = opcodes(pickle);
  if (!found) return std::nullopt;
  const auto& ops = *found;
  auto op = [&](size_t k) { return ops[k].code; };
  auto is_put = [&](size_t k) { return op(k) == 'q' || op(k) == 'r'; };
  if (ops.size() < 8 || op(0) != 0x80 || pickle.compare(ops[1].at, kTag.size(), kTag) != 0) return std::nullopt;
  const size_t first = is_put(2) ? 3 : 2;
  const size_t stop = ops.size() - 1;
  if (op(stop) != '.') return std::nullopt;
  const size_t reduce = is_put(stop - 1) ? stop - 2 : stop - 1;
  if (op(reduce) != 'R' || op(reduce - 1) != 0x86) return std::nullopt;
  const size_t type_string = is_put(reduce - 2) ? reduce - 3 : reduce - 2;
  if (op(type_string) != 'X' && op(type_string) != 0x8c) return std::nullopt;
  std::string out = pickle.substr(0, ops[1].at);
  out += pickle.substr(ops[first].at, ops[type_string].at - ops[first].at);
  out += '.';
  return out;
}

void save_state_dict(const torch::nn::Module& m, const std::string& path) {
  c10::Dict<std::string, torch::Tensor> dict;
  for (const auto& [name, t] : state_dict(m)) dict.insert(name, t.detach().to(torch::kCPU).contiguous());
  std::vector<char> bytes = torch::pickle_save(dict);
  // A plain dict of tensors, so that Python reads it with torch.load's defaults (weights_only).
  if (auto plain = untagged_dict(data_pickle(bytes))) bytes = with_pickle(bytes, *plain);
  write_file_atomic(path, std::string(bytes.begin(), bytes.end()));
}

void load_state_dict(torch::nn::Module& m, const std::string& path) {
  require_input_file(path, "weights file", " (check the path given with --init-weights)");
  std::ifstream in(path, std::ios::binary);
  require(in.good(), "weights file '" + path + "' cannot be opened (check the path given with --init-weights)");
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  c10::IValue value;
  std::string first_error;
  try {
    value = torch::pickle_load(bytes);
  } catch (const std::exception& e) {
    first_error = e.what();
  }
  if (!value.isGenericDict()) {
    // torch.save(model.state_dict()) writes an OrderedDict: read it as the dict it is.
    try {
      if (auto rewritten = ordered_dict_as_dict(data_pickle(bytes))) {
        value = torch::pickle_load(with_pickle(bytes, *rewritten));
        first_error.clear();
      }
    } catch (const std::exception& e) {
      if (first_error.empty()) first_error = e.what();
    }
  }
  if (!first_error.empty())
    throw Error("weights file '" + path + "' is not a torch.save state_dict: " + first_error.substr(0, 300));
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
