#pragma once
// One definition per option: its name (the YAML key and the --flag), the field of a plain
// config struct it fills, its help text and its allowed values. From that single table come
// the command-line flags (CLI11), the YAML reader (yaml-cpp), the echo printed at start-up and
// the JSON stored with the results. Defaults are the struct's member initialisers.
//
// Precedence: struct defaults < YAML file (--config) < command-line flags.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "util/error.hpp"

namespace hmb::config {

// Parses `text` as a T, or throws Error naming the option. Defined for the types options use.
template <class T>
T parse_value(const std::string& option, const std::string& text);
template <class T>
std::string format_value(const T& value);
template <class T>
nlohmann::json json_value(const T& value);

// Reads a YAML file of options, or throws Error naming the file and what is wrong with it.
YAML::Node load_config_file(const std::string& path);

template <class Cfg>
class OptionTable {
 public:
  struct Option {
    std::string name;     // "batch-size": YAML key and --batch-size
    std::string help;     // one line; allowed values and default are appended for --help
    std::string allowed;  // e.g. "fp32|tf32|bf16|fp16" (documentation and check), or ""
    bool is_switch = false;  // a boolean: `--name` alone means true (HEPscore passes `key: true` so)
    std::function<void(Cfg&, const std::string&)> set;
    std::function<std::string(const Cfg&)> get;
    std::function<nlohmann::json(const Cfg&)> get_json;
  };

  // Adds an option bound to `field`. `check` (optional) validates the parsed value and returns
  // an empty string when fine, else what is wrong ("must be at least 1").
  template <class T>
  OptionTable& add(std::string name, T Cfg::*field, std::string help, std::string allowed = {},
                   std::function<std::string(const T&)> check = {}) {
    Option o;
    o.name = name;
    o.help = std::move(help);
    o.allowed = allowed;
    o.is_switch = std::is_same_v<T, bool>;
    o.set = [name, field, allowed, check](Cfg& c, const std::string& text) {
      T v = parse_value<T>(name, text);
      if (!allowed.empty() && !is_allowed(allowed, text)) {
        throw Error("option --" + name + ": '" + text + "' is not one of " + allowed);
      }
      if (check) {
        std::string why = check(v);
        if (!why.empty()) throw Error("option --" + name + ": '" + text + "' " + why);
      }
      c.*field = std::move(v);
    };
    o.get = [field](const Cfg& c) { return format_value(c.*field); };
    o.get_json = [field](const Cfg& c) { return json_value(c.*field); };
    options_.push_back(std::move(o));
    return *this;
  }

  const std::vector<Option>& options() const { return options_; }

  // Registers every option on `app` as `--name value` (single tokens as well: `--name=value`);
  // a boolean also as a bare `--name`, meaning true. Values are only collected here; apply()
  // turns them into the config.
  void attach(CLI::App& app, const Cfg& defaults) {
    // CLI11 takes the word after an option as its value, whatever it is: `--epochs --results x`
    // would read '--results' as the epochs and leave x unexpected. A value that is an option of
    // this command (or of the program) is refused as a missing value, naming the option.
    CLI::App* command = &app;
    const CLI::Validator not_an_option(
        [command](std::string& v) -> std::string {
          if (v.size() < 2 || v[0] != '-') return "";
          const std::string name = v.substr(0, v.find('='));
          for (const CLI::App* a = command; a != nullptr; a = a->get_parent())
            if (a->get_option_no_throw(name) != nullptr)
              return "needs a value: what follows it, '" + v + "', is an option";
          return "";
        },
        "", "not-an-option");
    for (const auto& o : options_) {
      std::string h = o.help;
      if (!o.allowed.empty()) h += " {" + o.allowed + "}";
      if (o.is_switch) h += " (--" + o.name + " alone: true)";
      std::string d = o.get(defaults);
      h += " [default: " + (d.empty() ? std::string("none") : d) + "]";
      auto* opt = app.add_option_function<std::string>(
                         "--" + o.name,
                         [this, n = o.name, sw = o.is_switch](const std::string& v) {
                           given_[n] = sw && v.empty() ? std::string("true") : v;  // CLI11 gives "" for a bare switch
                         },
                         h)
                      ->type_name("")
                      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)  // repeated: the last wins
                      ->check(not_an_option);
      if (o.is_switch) opt->expected(0, 1);
    }
    app.add_option("--config", config_path_, "YAML file of options, one `name: value` per line (flags given on the command line win)")
        ->type_name("FILE");
  }

  // defaults < YAML (`yaml`, else the --config file if one was given) < flags given on the
  // command line.
  void apply(Cfg& cfg, const std::optional<YAML::Node>& yaml = std::nullopt) const {
    if (yaml) {
      apply_yaml(cfg, *yaml);
    } else if (!config_path_.empty()) {
      apply_yaml(cfg, load_config_file(config_path_), "configuration file '" + config_path_ + "'");
    }
    for (const auto& [name, text] : given_) find(name).set(cfg, text);
  }

  void apply_yaml(Cfg& cfg, const YAML::Node& node, const std::string& what = "configuration file") const {
    if (!node.IsDefined() || node.IsNull()) return;
    require(node.IsMap(), what + ": the top level must be a mapping of option: value");
    std::map<std::string, int> seen;
    for (const auto& kv : node) {
      const auto key = kv.first.as<std::string>();
      const Option* o = try_find(key);
      require(o != nullptr, what + ": unknown option '" + key +
                                "' (see hep-mlbench <subcommand> --help for the valid keys)");
      // yaml-cpp keeps both entries of a key given twice; which one meant is not for us to guess.
      require(++seen[key] == 1, what + ": option '" + key + "' is given twice: keep one");
      require(!kv.second.IsNull(), what + ": option '" + key + "' has no value (write '" + key +
                                       ": VALUE', or leave the line out for the default)");
      require(kv.second.IsScalar(), what + ": option '" + key + "' must be a single value");
      try {
        o->set(cfg, kv.second.as<std::string>());
      } catch (const Error& e) {
        throw Error(what + ": " + e.what());
      }
    }
  }

  // The --config file given on the command line, or "".
  const std::string& config_path() const { return config_path_; }

  // For start-up echo: name = value, in table order.
  std::vector<std::pair<std::string, std::string>> echo(const Cfg& cfg) const {
    std::vector<std::pair<std::string, std::string>> rows;
    for (const auto& o : options_) rows.emplace_back(o.name, o.get(cfg));
    return rows;
  }

  nlohmann::json to_json(const Cfg& cfg) const {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& o : options_) j[o.name] = o.get_json(cfg);
    return j;
  }

  // The same as a YAML document that apply_yaml reads back.
  std::string to_yaml(const Cfg& cfg) const {
    YAML::Emitter out;
    out << YAML::BeginMap;
    for (const auto& o : options_) out << YAML::Key << o.name << YAML::Value << o.get(cfg);
    out << YAML::EndMap;
    return std::string(out.c_str()) + "\n";
  }

  bool was_given(const std::string& name) const { return given_.count(name) != 0; }

  // The options given on the command line as single tokens again ("--name", "value", ...,
  // --config FILE first when one was given), to hand them on to another process.
  std::vector<std::string> given_args() const {
    std::vector<std::string> out;
    if (!config_path_.empty()) out.insert(out.end(), {"--config", config_path_});
    for (const auto& [name, text] : given_) {
      out.push_back("--" + name);
      out.push_back(text);
    }
    return out;
  }

  // attach() for every option except those named in `skip`.
  void attach_except(CLI::App& app, const Cfg& defaults, const std::vector<std::string>& skip) {
    std::vector<Option> kept, all = options_;
    for (const auto& o : options_)
      if (std::find(skip.begin(), skip.end(), o.name) == skip.end()) kept.push_back(o);
    options_ = kept;
    attach(app, defaults);
    options_ = all;
  }

 private:
  static bool is_allowed(const std::string& allowed, const std::string& v) {
    size_t start = 0;
    while (start <= allowed.size()) {
      size_t bar = allowed.find('|', start);
      if (bar == std::string::npos) bar = allowed.size();
      if (allowed.compare(start, bar - start, v) == 0 && v.size() == bar - start) return true;
      start = bar + 1;
    }
    return false;
  }
  const Option* try_find(const std::string& name) const {
    for (const auto& o : options_)
      if (o.name == name) return &o;
    return nullptr;
  }
  const Option& find(const std::string& name) const {
    const Option* o = try_find(name);
    require(o != nullptr, "unknown option --" + name);
    return *o;
  }

  std::vector<Option> options_;
  std::map<std::string, std::string> given_;
  std::string config_path_;
};

}  // namespace hmb::config
