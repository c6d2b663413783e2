#pragma once
// hep-mlbench's one exception type. Every failure the user can fix is thrown as an Error whose
// message names the thing (file, option, object), the problem, and what to do about it.
#include <stdexcept>
#include <string>

namespace hmb {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws Error(what) when cond is false. For checks on input, not for programming errors.
inline void require(bool cond, const std::string& what) {
  if (!cond) throw Error(what);
}

}  // namespace hmb
