#include "util/build_info.hpp"

#include "util/build_info_values.hpp"
#include "util/git_commit.hpp"

namespace hmb {

std::string version() { return HMB_VERSION; }
std::string git_commit() { return HMB_GIT_COMMIT; }
std::string build_type() { return HMB_BUILD_TYPE; }

}  // namespace hmb
