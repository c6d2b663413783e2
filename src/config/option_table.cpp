#include "config/option_table.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "util/input_file.hpp"

namespace hmb::config {

YAML::Node load_config_file(const std::string& path) {
  require_input_file(path, "configuration file", " (check the path given with --config)", /*pipe_ok=*/true);
  try {
    return YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw Error("configuration file '" + path + "': cannot be read (check the path and its permissions)");
  } catch (const YAML::Exception& e) {
    throw Error("configuration file '" + path + "': not valid YAML: " + e.what());
  } catch (const std::exception& e) {  // a read error of the stream (the file went away, an I/O error)
    throw Error("configuration file '" + path + "': cannot be read: " + e.what());
  }
}

namespace {
[[noreturn]] void bad(const std::string& option, const std::string& text, const std::string& what) {
  throw Error("option --" + option + ": '" + text + "' is not " + what);
}
}  // namespace

template <>
std::string parse_value<std::string>(const std::string&, const std::string& text) {
  return text;
}

template <>
bool parse_value<bool>(const std::string& option, const std::string& text) {
  std::string t = text;  // any case: a YAML or Python writer may give True / FALSE
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char ch) { return std::tolower(ch); });
  if (t == "true" || t == "1" || t == "yes" || t == "on") return true;
  if (t == "false" || t == "0" || t == "no" || t == "off") return false;
  bad(option, text, "a boolean (true|false)");
}

template <>
std::int64_t parse_value<std::int64_t>(const std::string& option, const std::string& text) {
  if (text.empty()) bad(option, text, "an integer");
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || end != text.c_str() + text.size()) bad(option, text, "an integer");
  return v;
}

template <>
int parse_value<int>(const std::string& option, const std::string& text) {
  auto v = parse_value<std::int64_t>(option, text);
  if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max())
    bad(option, text, "an integer from " + std::to_string(std::numeric_limits<int>::min()) + " to " +
                          std::to_string(std::numeric_limits<int>::max()));
  return static_cast<int>(v);
}

template <>
std::uint64_t parse_value<std::uint64_t>(const std::string& option, const std::string& text) {
  if (text.empty() || text[0] == '-') bad(option, text, "a non-negative integer");
  errno = 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  if (errno != 0 || end != text.c_str() + text.size()) bad(option, text, "a non-negative integer");
  return v;
}

template <>
double parse_value<double>(const std::string& option, const std::string& text) {
  if (text.empty()) bad(option, text, "a number");
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (errno != 0 || end != text.c_str() + text.size() || !std::isfinite(v))
    bad(option, text, "a finite number");
  return v;
}

template <>
std::string format_value<std::string>(const std::string& v) { return v; }
template <>
std::string format_value<bool>(const bool& v) { return v ? "true" : "false"; }
template <>
std::string format_value<int>(const int& v) { return std::to_string(v); }
template <>
std::string format_value<std::int64_t>(const std::int64_t& v) { return std::to_string(v); }
template <>
std::string format_value<std::uint64_t>(const std::uint64_t& v) { return std::to_string(v); }
template <>
std::string format_value<double>(const double& v) {
  // shortest round-trip form, as nlohmann's dump writes it
  return nlohmann::json(v).dump();
}

template <>
nlohmann::json json_value<std::string>(const std::string& v) { return v; }
template <>
nlohmann::json json_value<bool>(const bool& v) { return v; }
template <>
nlohmann::json json_value<int>(const int& v) { return v; }
template <>
nlohmann::json json_value<std::int64_t>(const std::int64_t& v) { return v; }
template <>
nlohmann::json json_value<std::uint64_t>(const std::uint64_t& v) { return v; }
template <>
nlohmann::json json_value<double>(const double& v) { return v; }

}  // namespace hmb::config
