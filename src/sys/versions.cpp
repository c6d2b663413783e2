#include "sys/versions.hpp"

#include <CLI/Version.hpp>
#include <H5public.h>
#include <openssl/crypto.h>
#include <openssl/opensslv.h>
#include <spdlog/version.h>
#if __has_include(<torch/headeronly/version.h>)
#include <torch/headeronly/version.h>
#else
#include <torch/version.h>
#endif

#include <sstream>

#include "util/build_info.hpp"
#include "util/build_info_values.hpp"

namespace hmb::sys {

namespace {
std::string compiler() {
#if defined(__clang__)
  return std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  return "g++ " + std::to_string(__GNUC__) + "." + std::to_string(__GNUC_MINOR__) + "." +
         std::to_string(__GNUC_PATCHLEVEL__);
#else
  return "unknown";
#endif
}

std::string hdf5_runtime() {
  unsigned maj = 0, min = 0, rel = 0;
  if (H5get_libversion(&maj, &min, &rel) < 0) return "unavailable";
  return std::to_string(maj) + "." + std::to_string(min) + "." + std::to_string(rel);
}
}  // namespace

std::vector<gpu::LibraryVersion> library_versions() {
  std::vector<gpu::LibraryVersion> v;
  // LibTorch is one shared-library set from the torch wheel: built == run time.
  v.push_back({"LibTorch", TORCH_VERSION, TORCH_VERSION});
  for (auto& cuda : gpu::cuda_library_versions()) v.push_back(std::move(cuda));
  v.push_back({"HDF5",
               std::to_string(H5_VERS_MAJOR) + "." + std::to_string(H5_VERS_MINOR) + "." +
                   std::to_string(H5_VERS_RELEASE),
               hdf5_runtime()});
  v.push_back({"spdlog",
               std::to_string(SPDLOG_VER_MAJOR) + "." + std::to_string(SPDLOG_VER_MINOR) + "." +
                   std::to_string(SPDLOG_VER_PATCH),
               "-"});
  v.push_back({"yaml-cpp", HMB_YAMLCPP_VERSION, "-"});
  v.push_back({"nlohmann_json",
               std::to_string(NLOHMANN_JSON_VERSION_MAJOR) + "." +
                   std::to_string(NLOHMANN_JSON_VERSION_MINOR) + "." +
                   std::to_string(NLOHMANN_JSON_VERSION_PATCH),
               "header-only"});
  v.push_back({"CLI11", CLI11_VERSION, "header-only"});
  v.push_back({"OpenSSL", OPENSSL_VERSION_STR, OpenSSL_version(OPENSSL_VERSION_STRING)});
  v.push_back({"compiler", compiler(), "-"});
  return v;
}

std::string version_text() {
  std::ostringstream os;
  os << "hep-mlbench " << version() << " (git " << git_commit() << ", " << HMB_BUILD_TYPE
     << " build, CUDA path " << (gpu::built_with_cuda() ? "on" : "off") << ")\n";
  os << "  library          built against            found at run time\n";
  for (const auto& l : library_versions()) {
    std::string name = l.name, built = l.built;
    name.resize(std::max<size_t>(name.size(), 16), ' ');
    built.resize(std::max<size_t>(built.size(), 24), ' ');
    os << "  " << name << " " << built << " " << l.runtime << "\n";
  }
  return os.str();
}

nlohmann::json version_json() {
  nlohmann::json libs = nlohmann::json::object();
  for (const auto& l : library_versions()) libs[l.name] = {{"built", l.built}, {"runtime", l.runtime}};
  return {{"hep-mlbench", version()},
          {"git", git_commit()},
          {"build_type", HMB_BUILD_TYPE},
          {"cuda_path", gpu::built_with_cuda()},
          {"libraries", libs}};
}

}  // namespace hmb::sys
