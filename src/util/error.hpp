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

// A stop signal (SIGINT, SIGTERM, SIGHUP) ended the work before it was done: the run is reported as
// interrupted, not failed, and exits with 128 + the signal.
class Interrupted : public Error {
 public:
  using Error::Error;
};

// Throws Error(what) when cond is false. For checks on input, not for programming errors.
inline void require(bool cond, const std::string& what) {
  if (!cond) throw Error(what);
}

}  // namespace hmb
