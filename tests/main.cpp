// Catch2's main for hmb_tests.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
