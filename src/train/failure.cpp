#include "train/failure.hpp"

#include <c10/util/Exception.h>

#include <new>

namespace hmb::train {

namespace {
bool contains(const std::string& s, const char* what) { return s.find(what) != std::string::npos; }
}  // namespace

std::string short_message(const std::exception& e) {
  std::string m;
  if (const auto* c = dynamic_cast<const c10::Error*>(&e)) {
    m = c->what_without_backtrace();
  } else {
    m = e.what();
  }
  // LibTorch appends "Exception raised from ... (most recent call first):" and frames.
  for (const char* cut : {"\nException raised from", "Exception raised from "}) {
    const auto at = m.find(cut);
    if (at != std::string::npos) m.resize(at);
  }
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  if (m.size() > 400) m = m.substr(0, 400) + "...";
  return m;
}

bool is_out_of_memory(const std::exception& e) {
  if (dynamic_cast<const c10::OutOfMemoryError*>(&e) != nullptr) return true;
  if (dynamic_cast<const std::bad_alloc*>(&e) != nullptr) return true;
  const std::string m = short_message(e);
  return contains(m, "out of memory") || contains(m, "can't allocate memory") || contains(m, "Cannot allocate memory");
}

std::string explain_failure(const std::exception& e, const FailureContext& ctx) {
  const std::string where = ctx.step > 0 ? " at step " + std::to_string(ctx.step) : "";
  if (is_out_of_memory(e)) {
    return "out of memory in " + ctx.stage + where + " with batch size " + std::to_string(ctx.batch_size) +
           " and the " + ctx.preset + " model on " + ctx.device + ": lower --batch-size" +
           (ctx.batch_size > 1 ? "" : ", use a smaller --preset") + " (" + short_message(e) + ")";
  }
  return ctx.stage + " failed" + where + ": " + short_message(e);
}

}  // namespace hmb::train
