#pragma once
// JSON text as hep-mlbench writes it (reports, the merged report, compare's --json, traces).
// Its strings come from the command line, the file system and error messages, which may hold
// bytes that are not UTF-8 (a folder named in Latin-1, a damaged attribute quoted in an error).
// nlohmann's dump() throws on those; here each such byte becomes U+FFFD instead, so that writing
// a report can never be what fails a run, and what is written is valid JSON.
#include <nlohmann/json.hpp>

#include <string>

namespace hmb {

// `indent` as nlohmann's dump(): -1 for one line, n for n spaces per level.
inline std::string json_text(const nlohmann::json& j, int indent = -1) {
  return j.dump(indent, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace);
}

}  // namespace hmb
