// Hostile sequences of rounds through the C interface (issue 13): round
// numbers taken on trust, repeated rounds, forged client identities, values
// too large for a naive norm, a state file that cannot be saved, two
// instances on one state file. Each case gets an error code and a message,
// or a drop with a reason; nothing charged to the wrong client.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "aggfilter_host.hpp"
#include "round_builder.h"

namespace {

namespace fs = std::filesystem;

const aggf_api& Api() {
  static aggfilter::Plugin plugin(FLSENTRY_PLUGIN_PATH);
  return plugin.api();
}

aggf_instance* NewInstance(const std::string& yaml = "") {
  aggf_instance* instance = nullptr;
  char error[512] = {0};
  const aggf_status status =
      Api().on_instance_create(yaml.data(), yaml.size(), nullptr, nullptr,
                               &instance, error, sizeof error);
  INFO(error);
  REQUIRE(status == AGGF_OK);
  return instance;
}

// Five small honest updates; client "c2" sends 20x in rounds listed in
// `loud`.
struct Round {
  testhost::RoundBuilder rb;
  aggf_round round{};
  std::vector<aggf_decision> decisions;
  Round(uint64_t number, bool loud = false, float nudge = 0.0f) {
    for (int c = 0; c < 5; ++c) {
      const float scale = (loud && c == 2 ? 2.0f : 0.1f) + 0.01f * c;
      auto model = testhost::SmallModel(scale);
      model[0].values[0] += nudge;
      rb.AddUpdate(std::string("c").append(std::to_string(c)), model);
    }
    round = rb.Build(number);
    decisions.resize(5);
  }
  aggf_status Filter(aggf_instance* instance) {
    return Api().on_round_filter(instance, &round, decisions.data(), 5);
  }
};

std::string LastError(aggf_instance* instance) {
  return Api().on_instance_last_error(instance);
}

std::string Saved(aggf_instance* instance) {
  std::string bytes;
  auto write = [](void* user, const uint8_t* data, uint64_t size) -> int32_t {
    static_cast<std::string*>(user)->append(reinterpret_cast<const char*>(data),
                                            size);
    return 0;
  };
  REQUIRE(Api().on_state_save(instance, write, &bytes) == AGGF_OK);
  return bytes;
}

TEST_CASE("round numbers: lower, far ahead or repeated with other updates") {
  struct Case {
    const char* name;
    uint64_t number;
    float nudge;
    const char* message;
  };
  const Case cases[] = {
      {"lower", 9, 0.0f, "lower than the last round filtered, 10"},
      {"zero", 0, 0.0f, "lower than the last round filtered"},
      {"10^12", 1'000'000'000'000ull, 0.0f, "rounds.max_gap (1000)"},
      {"2^64 - 1", ~uint64_t{0}, 0.0f, "rounds.max_gap"},
      {"just past the gap", 1011, 0.0f, "more than rounds.max_gap"},
      {"repeated with other updates", 10, 0.5f, "already filtered with other"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    aggf_instance* instance = NewInstance();
    Round first(10);
    REQUIRE(first.Filter(instance) == AGGF_OK);
    const std::string before = Saved(instance);
    Round next(c.number, true, c.nudge);
    CHECK(next.Filter(instance) == AGGF_ERR_ROUND_NUMBER);
    CHECK(LastError(instance).find(c.message) != std::string::npos);
    CHECK(Saved(instance) == before);
    Round on(11);
    CHECK(on.Filter(instance) == AGGF_OK);
    Api().on_instance_destroy(instance);
  }
}

TEST_CASE("a round sent three times is decided once and answered alike") {
  aggf_instance* instance = NewInstance("quarantine: {strikes: 1}");
  Round first(1);
  REQUIRE(first.Filter(instance) == AGGF_OK);
  Round loud(2, true);
  REQUIRE(loud.Filter(instance) == AGGF_OK);
  const std::vector<aggf_decision> answer = loud.decisions;
  const std::string state = Saved(instance);
  for (int again = 0; again < 2; ++again) {
    std::memset(loud.decisions.data(), 0x5a,
                loud.decisions.size() * sizeof(aggf_decision));
    REQUIRE(loud.Filter(instance) == AGGF_OK);
    CHECK(std::memcmp(loud.decisions.data(), answer.data(),
                      answer.size() * sizeof(aggf_decision)) == 0);
    CHECK(Saved(instance) == state);
  }
  CHECK(std::string(answer[2].reason) == "quarantined");
  Api().on_instance_destroy(instance);
}

TEST_CASE("forged identities: a shared id and an id named like an index") {
  aggf_instance* instance = NewInstance("quarantine: {strikes: 1}");
  Round honest(1);
  REQUIRE(honest.Filter(instance) == AGGF_OK);
  const std::string state = Saved(instance);
  const size_t c1 = state.find("\"c1\"");
  REQUIRE(c1 != std::string::npos);
  Round forged(2, true);
  forged.rb.update(2).client_id = "c1";  // the loud one claims c1's id
  forged.rb.update(2).client_id_len = 2;
  forged.rb.update(4).client_id_len = 0;  // malformed: no id at all
  forged.round = forged.rb.Build(2);
  REQUIRE(forged.Filter(instance) == AGGF_OK);
  for (int i : {1, 2, 4}) {
    CAPTURE(i);
    CHECK(forged.decisions[i].action == AGGF_ACTION_DROP);
    CHECK(std::string(forged.decisions[i].reason) == "invalid");
  }
  const std::string after = Saved(instance);
  // c1's record is byte for byte what it was after round 1.
  const std::string record = state.substr(c1, state.find('}', c1) - c1);
  CHECK(after.find(record) != std::string::npos);
  CHECK(after.find("\"#4\"") == std::string::npos);
  Api().on_instance_destroy(instance);
}

TEST_CASE("values of any size are judged") {
  struct Case {
    const char* name;
    const char* policy;
    aggf_dtype dtype;
    double value;
    const char* reason;
  };
  const Case cases[] = {
      {"f64 2e154, defaults", "", AGGF_DTYPE_F64, 2e154, "oversized"},
      {"f64 1e300, no norm guard", "guards: {norm: {enabled: false}}",
       AGGF_DTYPE_F64, 1e300, "oversized"},
      {"f64 2e154, lenient actions",
       "actions: {on_anomalous: downweight}\nfail_safes: {on_error: accept}",
       AGGF_DTYPE_F64, 2e154, "oversized"},
      {"f64 1e100, thresholds off", "thresholds: {rules: []}", AGGF_DTYPE_F64,
       1e100, "norm_guard"},
      {"f32 1e20, defaults", "", AGGF_DTYPE_F32, 1e20, "anomalous"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    aggf_instance* instance = NewInstance(c.policy);
    std::vector<std::vector<double>> f64(5, std::vector<double>(6));
    std::vector<std::vector<float>> f32(5, std::vector<float>(6));
    std::vector<aggf_tensor> tensors(5);
    std::vector<aggf_update> updates(5);
    std::vector<std::string> ids(5);
    static const int64_t shape[1] = {6};
    for (int u = 0; u < 5; ++u) {
      for (int k = 0; k < 6; ++k) {
        f64[u][k] = 0.1 * (1 + (u + k) % 3);
        f32[u][k] = static_cast<float>(f64[u][k]);
      }
      if (u == 3) f64[u][1] = c.value, f32[u][1] = static_cast<float>(c.value);
      ids[u] = std::string("u").append(std::to_string(u));
      tensors[u] = {"w",
                    1,
                    c.dtype,
                    1,
                    0,
                    shape,
                    nullptr,
                    c.dtype == AGGF_DTYPE_F64
                        ? static_cast<const void*>(f64[u].data())
                        : static_cast<const void*>(f32[u].data())};
      updates[u] = {
          ids[u].c_str(), 2, AGGF_UPDATE_DELTA, 10, &tensors[u], 1, 0};
    }
    aggf_round round{};
    round.struct_size = sizeof round;
    round.round = 1;
    round.updates = updates.data();
    round.num_updates = 5;
    aggf_decision d[5];
    REQUIRE(Api().on_round_filter(instance, &round, d, 5) == AGGF_OK);
    CHECK(d[3].weight < 1e-6);
    CHECK(std::string(d[3].reason) == c.reason);
    CHECK(d[0].action == AGGF_ACTION_ACCEPT);
    Api().on_instance_destroy(instance);
  }
}

TEST_CASE("state files: unsavable rounds undone, one instance per file") {
  const fs::path dir = fs::temp_directory_path() /
                       ("flsentry_hostile_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string yaml = "state: {path: " + (dir / "s.json").string() +
                           "}\nquarantine: {strikes: 1}";
  aggf_instance* instance = NewInstance(yaml);
  Round first(1);
  REQUIRE(first.Filter(instance) == AGGF_OK);
  const std::string before = Saved(instance);
  // The save cannot write: a directory where the plugin's atomic writer
  // puts its temporary file, "<path>.tmp.<pid>" (base/file_writer.h).
  const fs::path temp = dir / ("s.json.tmp." + std::to_string(::getpid()));
  fs::create_directory(temp);
  Round loud(2, true);
  CHECK(loud.Filter(instance) == AGGF_ERR_ROUND_FAILED);
  CHECK(LastError(instance).find("nothing was recorded") != std::string::npos);
  CHECK(Saved(instance) == before);
  fs::remove(temp);
  REQUIRE(loud.Filter(instance) == AGGF_OK);
  CHECK(std::string(loud.decisions[2].reason) == "quarantined");

  aggf_instance* second = nullptr;
  char error[512] = {0};
  CHECK(Api().on_instance_create(yaml.data(), yaml.size(), nullptr, nullptr,
                                 &second, error,
                                 sizeof error) == AGGF_ERR_STATE);
  CHECK(second == nullptr);
  CHECK(std::string(error).find((dir / "s.json").string() + " is in use") !=
        std::string::npos);
  Api().on_instance_destroy(instance);
  second = NewInstance(yaml);
  Api().on_instance_destroy(second);
  fs::remove_all(dir);
}

}  // namespace
