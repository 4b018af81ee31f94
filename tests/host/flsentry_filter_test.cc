// flsentry's plugin through the C interface: guards, decisions, state.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>

#include "aggfilter_host.hpp"
#include "round_builder.h"

namespace {

aggfilter::Instance NewFilter(const std::string& yaml = "") {
  static aggfilter::Plugin plugin(FLSENTRY_PLUGIN_PATH);
  return plugin.create(yaml);
}

}  // namespace

TEST_CASE(
    "honest updates are accepted with weight 1 and their L2 norm as score") {
  auto filter = NewFilter();
  testhost::RoundBuilder rb;
  rb.AddUpdate("a", {{"w", {2}, {3.0f, 4.0f}}});
  rb.AddUpdate("b", {{"w", {2}, {0.0f, 1.0f}}});
  aggf_round round = rb.Build();
  auto d = filter.filter(round);
  REQUIRE(d.size() == 2);
  CHECK(d[0].action == AGGF_ACTION_ACCEPT);
  CHECK(d[0].weight == 1.0);
  CHECK(d[0].score == doctest::Approx(5.0));
  CHECK(d[1].score == doctest::Approx(1.0));
  CHECK(d[0].reason == "ok");
}

TEST_CASE("NaN or Inf anywhere drops the update with reason nonfinite") {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(),
                    std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    auto filter = NewFilter();  // one strike each: no quarantine
    testhost::RoundBuilder rb;
    rb.AddUpdate("good", testhost::SmallModel());
    auto model = testhost::SmallModel();
    model[1].values[2] = bad;
    rb.AddUpdate("bad", model);
    aggf_round round = rb.Build();
    auto d = filter.filter(round);
    CHECK(d[0].action == AGGF_ACTION_ACCEPT);
    CHECK(d[1].action == AGGF_ACTION_DROP);
    CHECK(d[1].weight == 0.0);
    CHECK(d[1].reason == "nonfinite");
    CHECK(d[1].has_flag(AGGF_FLAG_NONFINITE));
  }
}

TEST_CASE("layout differing from the round's majority is shape_mismatch") {
  auto filter = NewFilter();
  testhost::RoundBuilder rb;
  rb.AddUpdate("a", testhost::SmallModel());
  rb.AddUpdate("b", testhost::SmallModel());
  rb.AddUpdate("wrong_shape",
               {{"w", {3, 2}, {1, 2, 3, 4, 5, 6}}, {"b", {3}, {1, 2, 3}}});
  rb.AddUpdate("missing_layer", {{"w", {2, 3}, {1, 2, 3, 4, 5, 6}}});
  rb.AddUpdate("extra_layer", {{"w", {2, 3}, {1, 2, 3, 4, 5, 6}},
                               {"b", {3}, {1, 2, 3}},
                               {"c", {1}, {1}}});
  aggf_round round = rb.Build();
  auto d = filter.filter(round);
  CHECK(d[0].action == AGGF_ACTION_ACCEPT);
  CHECK(d[1].action == AGGF_ACTION_ACCEPT);
  for (int i = 2; i < 5; ++i) {
    CAPTURE(i);
    CHECK(d[i].action == AGGF_ACTION_DROP);
    CHECK(d[i].reason == "shape_mismatch");
    CHECK(d[i].has_flag(AGGF_FLAG_SHAPE_MISMATCH));
  }
}

TEST_CASE(
    "the global model is the reference layout and the base of full-weight "
    "updates") {
  auto filter = NewFilter();
  testhost::RoundBuilder rb;
  rb.SetGlobal({{"w", {2}, {1.0f, 1.0f}}});
  rb.AddUpdate("weights", {{"w", {2}, {4.0f, 5.0f}}}, AGGF_UPDATE_WEIGHTS);
  rb.AddUpdate("delta", {{"w", {2}, {3.0f, 4.0f}}}, AGGF_UPDATE_DELTA);
  rb.AddUpdate("other_model", {{"v", {2}, {3.0f, 4.0f}}}, AGGF_UPDATE_DELTA);
  aggf_round round = rb.Build();
  auto d = filter.filter(round);
  CHECK(d[0].score == doctest::Approx(5.0));  // |(4,5) - (1,1)|
  CHECK(d[1].score == doctest::Approx(5.0));
  CHECK(d[2].reason == "shape_mismatch");
}

TEST_CASE("full-weight updates without a global model are dropped") {
  auto filter = NewFilter();
  testhost::RoundBuilder rb;
  rb.AddUpdate("weights", {{"w", {2}, {4.0f, 5.0f}}}, AGGF_UPDATE_WEIGHTS);
  aggf_round round = rb.Build();
  auto d = filter.filter(round);
  CHECK(d[0].action == AGGF_ACTION_DROP);
  CHECK(d[0].reason == "missing_global");
}

TEST_CASE("strided (non-contiguous) host tensors are read in place") {
  auto filter = NewFilter();
  testhost::RoundBuilder rb;
  // A 2x2 view with row stride 4 into a 2x4 buffer: elements 3,4,0,0.
  rb.AddUpdate("strided", {{"w", {2, 2}, {3, 4, 9, 9, 0, 0, 9, 9}}});
  static const int64_t strides[2] = {4, 1};
  rb.tensor(0, 0).strides = strides;
  aggf_round round = rb.Build();
  auto d = filter.filter(round);
  CHECK(d[0].action == AGGF_ACTION_ACCEPT);
  CHECK(d[0].score == doctest::Approx(5.0));
}

TEST_CASE("state saves to bytes and loads back; garbage is refused") {
  auto filter = NewFilter();
  testhost::RoundBuilder rb;
  rb.AddUpdate("a", testhost::SmallModel());
  aggf_round round = rb.Build(7);
  filter.filter(round);
  auto state = filter.save_state();
  std::string text(state.begin(), state.end());
  CHECK(text.find("flsentry-state/1") != std::string::npos);
  auto fresh = NewFilter();
  fresh.load_state(state);
  CHECK(fresh.save_state() == state);
  std::vector<uint8_t> garbage = {'{', 'x'};
  try {
    fresh.load_state(garbage);
    FAIL("garbage state was accepted");
  } catch (const aggfilter::Error& e) {
    CHECK(e.status() == AGGF_ERR_STATE);
  }
  CHECK(fresh.save_state() == state);  // unchanged after a failed load
}
