#pragma once
// Can this machine's NVIDIA driver run the CUDA runtime that hep-mlbench and LibTorch use?
// A pure function of the two version numbers (CUDA's encoding: 1000*major + 10*minor, as
// cudaDriverGetVersion and cudaRuntimeGetVersion report them), so that it is tested without a
// GPU. cuda_info.cpp feeds it the real numbers (check_cuda_driver() in cuda_info.hpp).
//
// The rule is CUDA's own: a runtime of major version M runs on any driver that supports CUDA
// M.0 or newer (minor-version compatibility, since CUDA 11); an older major is refused by the
// runtime with cudaErrorInsufficientDriver, which LibTorch turns into "no GPU" or a stack trace.
#include <string>

namespace hmb::gpu {

struct DriverCheck {
  enum class Verdict {
    no_driver,      // no NVIDIA driver on this machine (driver version 0): CPU only, not an error
    ok,             // the driver supports the runtime's CUDA version or a newer one
    older_minor,    // same major, older minor: runs under minor-version compatibility (warn)
    too_old,        // older major: CUDA cannot start; `message` says what to do
  };
  Verdict verdict = Verdict::no_driver;
  std::string message;  // one line for the log or the error, naming both versions
};

namespace detail {
inline std::string cuda_version_text(int v) {
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}
// The oldest Linux driver branch of each CUDA major version (NVIDIA's CUDA compatibility
// documentation, "minor version compatibility" table: 13.x >= 580, 12.x >= 525, 11.x >= 450).
inline std::string minimum_driver_for(int cuda_major) {
  switch (cuda_major) {
    case 11: return "450";
    case 12: return "525";
    case 13: return "580";
    default: return "the one NVIDIA lists for CUDA " + std::to_string(cuda_major) + ".0";
  }
}
}  // namespace detail

inline DriverCheck check_driver_against_runtime(int driver, int runtime) {
  using detail::cuda_version_text;
  DriverCheck c;
  if (driver <= 0) {
    c.verdict = DriverCheck::Verdict::no_driver;
    c.message = "no NVIDIA driver found (CUDA runtime " + cuda_version_text(runtime) + "): CPU only";
    return c;
  }
  const int drv_major = driver / 1000, rt_major = runtime / 1000;
  if (drv_major < rt_major) {
    c.verdict = DriverCheck::Verdict::too_old;
    c.message = "the NVIDIA driver supports CUDA " + cuda_version_text(driver) +
                ", but this hep-mlbench and its LibTorch use the CUDA " + cuda_version_text(runtime) +
                " runtime, which needs a driver for CUDA " + std::to_string(rt_major) +
                ".0 or newer (Linux driver " + detail::minimum_driver_for(rt_major) +
                " or newer). Update the NVIDIA driver" +
                (drv_major == 12 && rt_major > 12
                     ? std::string(", or use hep-mlbench's CUDA 12 build (LibTorch 2.8 with CUDA 12.8: "
                                   "docker build --build-arg TORCH_VERSION=2.8.0; docs/gpu-check.md)")
                     : std::string()) +
                ", or run on the CPU with --gpus cpu";
    return c;
  }
  if (drv_major == rt_major && driver < runtime) {
    c.verdict = DriverCheck::Verdict::older_minor;
    c.message = "the NVIDIA driver supports CUDA " + cuda_version_text(driver) + ", older than the CUDA " +
                cuda_version_text(runtime) +
                " runtime: running under CUDA minor-version compatibility (kernels that need newer PTX "
                "may fail to load; update the driver if one does)";
    return c;
  }
  c.verdict = DriverCheck::Verdict::ok;
  c.message = "NVIDIA driver for CUDA " + cuda_version_text(driver) + ", CUDA runtime " + cuda_version_text(runtime);
  return c;
}

}  // namespace hmb::gpu
