// Catch2's main for hmb_tests and hmb_cupti_host_tests (one object, tests/CMakeLists.txt).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
