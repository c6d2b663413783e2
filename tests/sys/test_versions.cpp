#include <catch2/catch.hpp>

#include "sys/versions.hpp"
#include "util/build_info.hpp"

TEST_CASE("version: every library is listed with a version", "[version]") {
  auto libs = hmb::sys::library_versions();
  for (const char* name : {"LibTorch", "CUDA runtime", "cuDNN", "NCCL", "CUPTI", "NVML", "HDF5",
                           "spdlog", "yaml-cpp", "compiler"}) {
    INFO(name);
    auto it = std::find_if(libs.begin(), libs.end(), [&](const auto& l) { return l.name == name; });
    REQUIRE(it != libs.end());
    CHECK_FALSE(it->built.empty());
  }
}

TEST_CASE("version: text and JSON agree", "[version]") {
  auto text = hmb::sys::version_text();
  auto json = hmb::sys::version_json();
  CHECK_THAT(text, Catch::StartsWith("hep-mlbench " + hmb::version()));
  CHECK(json["hep-mlbench"] == hmb::version());
  CHECK(json["libraries"].contains("LibTorch"));
  CHECK(json["libraries"]["HDF5"]["built"].get<std::string>().find('.') != std::string::npos);
}
