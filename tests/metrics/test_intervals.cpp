// Interval arithmetic of GPU activity: kernels overlapping on several streams, spans cut by the
// window's edges, empty windows, and the accumulator that CUPTI's records go through.
#include <catch2/catch.hpp>

#include "metrics/gpu_activity.hpp"
#include "metrics/intervals.hpp"

using namespace hmb::metrics;

TEST_CASE("intervals: union of overlapping and touching spans", "[metrics][intervals]") {
  const auto m = merge({{10, 20}, {0, 5}, {15, 30}, {30, 35}, {40, 40}, {50, 45}, {3, 4}});
  REQUIRE(m.size() == 2);
  CHECK(m[0].begin == 0);
  CHECK(m[0].end == 5);
  CHECK(m[1].begin == 10);
  CHECK(m[1].end == 35);  // [10,20) ∪ [15,30) ∪ [30,35): touching spans join
  CHECK(merge({}).empty());
}

TEST_CASE("intervals: spans cut by the window's edges", "[metrics][intervals]") {
  const auto c = clip({{0, 10}, {5, 15}, {20, 30}, {-5, 100}, {40, 50}}, {8, 25});
  REQUIRE(c.size() == 4);
  CHECK(c[0].begin == 8);
  CHECK(c[0].end == 10);
  CHECK(c[1].begin == 8);
  CHECK(c[1].end == 15);
  CHECK(c[2].begin == 20);
  CHECK(c[2].end == 25);
  CHECK(c[3].length() == 17);
  CHECK(clip({{0, 10}}, {10, 20}).empty());  // half-open: touching is not inside
  CHECK(overlap({0, 10}, {5, 7}) == 2);
  CHECK(overlap({0, 10}, {12, 17}) == 0);
}

TEST_CASE("intervals: a growing union measured within a window of several spans", "[metrics][intervals]") {
  SpanUnion u;
  u.add({{0, 10}, {20, 30}});
  u.add(Span{5, 25});  // bridges the gap
  REQUIRE(u.spans().size() == 1);
  CHECK(u.length() == 30);
  u.add({{100, 110}});
  CHECK(u.length() == 40);
  // Window open [0,8) and [22,105): 8 + (30-22) + (105-100) = 21
  CHECK(u.length_within({{22, 105}, {0, 8}}) == 21);
  CHECK(u.length_within({}) == 0);          // empty window
  CHECK(SpanUnion().length_within({{0, 100}}) == 0);
}

TEST_CASE("activity: kernels on several streams count once when they overlap", "[metrics][activity]") {
  ActivityAccumulator acc;
  acc.open(1000);
  // Stream 7: two kernels back to back; stream 9: one overlapping both; a copy on stream 11.
  acc.add({1100, 1300, 7, ActivityKind::compute, "_Z4gemmv"});
  acc.add({1300, 1400, 7, ActivityKind::compute, "_Z4gemmv"});
  acc.add({1200, 1450, 9, ActivityKind::compute, "_Z3eluv"});
  acc.add({1600, 1700, 3, ActivityKind::communication, "ncclDevKernel_AllReduce_Sum_f32_RING_LL"});
  acc.add({1050, 1150, 11, ActivityKind::copy, "memcpy HtoD"});
  acc.close(2000);
  const auto s = acc.summary(10);
  CHECK(s.window_s == Approx(1000e-9));
  CHECK(s.busy_s == Approx(450e-9));           // [1100,1450) ∪ [1600,1700)
  CHECK(s.compute_s == Approx(350e-9));
  CHECK(s.communication_s == Approx(100e-9));
  CHECK(s.copy_s == Approx(100e-9));
  CHECK(s.kernels == 4);
  CHECK(s.copies == 1);
  REQUIRE(s.top.size() == 4);
  CHECK(s.top[0].name == "gemm()");            // demangled; 300 ns over 2 launches
  CHECK(s.top[0].count == 2);
  CHECK(s.top[0].seconds == Approx(300e-9));
  CHECK(s.top[0].kind == "compute");
  CHECK(s.top[1].name == "elu()");            // 250 ns, once
}

TEST_CASE("activity: records cut by the window's edges, outside it, and late", "[metrics][activity]") {
  ActivityAccumulator acc;
  acc.add({0, 500, 1, ActivityKind::compute, "warmup"});  // before the window: dropped
  acc.open(1000);
  acc.add({900, 1100, 1, ActivityKind::compute, "k"});     // cut at the opening: 100 ns
  acc.close(2000);
  acc.add({1900, 2100, 1, ActivityKind::compute, "k"});    // delivered after the close: 100 ns
  acc.add({2500, 2600, 1, ActivityKind::compute, "validation"});  // paused: dropped
  acc.open(3000);
  acc.add({3000, 3500, 2, ActivityKind::compute, "k"});
  acc.close(4000);
  const auto s = acc.summary(5);
  CHECK(s.window_s == Approx(2000e-9));
  CHECK(s.busy_s == Approx(700e-9));
  CHECK(s.kernels == 3);
  REQUIRE(s.top.size() == 1);
  CHECK(s.top[0].seconds == Approx(700e-9));
}

TEST_CASE("activity: an empty window, and a window without kernels", "[metrics][activity]") {
  ActivityAccumulator none;
  const auto a = none.summary(10);
  CHECK(a.window_s == 0);
  CHECK(a.busy_s == 0);
  CHECK(a.top.empty());
  ActivityAccumulator idle;
  idle.open(0);
  idle.close(1000);
  CHECK(idle.summary(10).busy_s == 0);
  CHECK(idle.summary(10).window_s == Approx(1e-6));
}

TEST_CASE("activity: many records fold into a union of the same length", "[metrics][activity]") {
  ActivityAccumulator acc;
  acc.open(0);
  // 200,000 kernels of 5 ns every 10 ns on two streams, the second shifted by 2 ns: busy 7 of
  // every 10 ns.
  for (std::int64_t i = 0; i < 100000; ++i) {
    acc.add({10 * i, 10 * i + 5, 1, ActivityKind::compute, "a"});
    acc.add({10 * i + 2, 10 * i + 7, 2, ActivityKind::compute, "b"});
  }
  acc.close(1000000);
  const auto s = acc.summary(2);
  CHECK(s.busy_s == Approx(700000e-9));
  CHECK(s.kernels == 200000);
}

TEST_CASE("activity: NCCL kernels are communication, names are made readable", "[metrics][activity]") {
  CHECK(classify_kernel("ncclDevKernel_AllReduce_Sum_f32_RING_LL") == ActivityKind::communication);
  CHECK(classify_kernel("ncclKernel_AllGather_RING_LL_Sum_int8_t") == ActivityKind::communication);
  CHECK(classify_kernel("_ZN2at6native29vectorized_elementwise_kernelILi4ENS0_11FillFunctorIfEEEEviT0_T1_") ==
        ActivityKind::compute);
  CHECK(readable_kernel_name("_Z3fooi") == "foo(int)");
  CHECK(readable_kernel_name("memcpy HtoD") == "memcpy HtoD");
  CHECK(readable_kernel_name(std::string(400, 'x')).size() == 160);
}

TEST_CASE("activity: without a GPU the figures say why", "[metrics][activity]") {
  auto a = make_gpu_activity(/*on_gpu=*/false, true);
  CHECK(a->unavailable() == "no GPU");
  CHECK(make_gpu_activity(true, false)->unavailable().find("turned off") != std::string::npos);
}
