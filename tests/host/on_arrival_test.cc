// Rounds on arrival (ABI 1.2: on_round_begin / on_round_add / on_round_end)
// through the C interface: the same rounds given update by update decide
// exactly as on_round_filter does (decisions, audit log and state, byte for
// byte), the plugin keeps no pointer into an added update, and the entries
// refuse calls out of order without losing the open round.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>
#include <string>

#include "aggfilter_host.hpp"
#include "round_builder.h"

namespace {

namespace fs = std::filesystem;

const aggfilter::Plugin& Flsentry() {
  static aggfilter::Plugin plugin(FLSENTRY_PLUGIN_PATH);
  return plugin;
}

constexpr const char* kPolicy = R"(
state:
  path: state.json
audit:
  path: audit.jsonl
)";

// A fresh directory under the system's temporary folder.
fs::path TempDir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("flsentry_on_arrival_" + name +
                                              "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Every field of every decision, doubles as exact bits (the suspicion too
// unless told: a retried round's is not kept, on_round_details).
std::string Exact(const std::vector<aggfilter::Decision>& decisions,
                  bool suspicion = true) {
  std::string text;
  char buffer[160];
  for (const auto& d : decisions) {
    std::snprintf(buffer, sizeof buffer, "%d/%u/%a/%a/%a/%a/", d.action,
                  d.flags, d.weight, d.score, d.threshold,
                  suspicion ? d.suspicion : 0.0);
    text += buffer + d.reason + ";";
  }
  return text;
}

// Round r of a cross-silo-like federation: 12 clients with seeded updates
// of a two-tensor model; from round 5 one client scales its update 20x and
// one flips its sign; round 6 adds a NaN update, a shape mismatch and an
// update without client id; round 7 repeats a client id.
void BuildRound(testhost::RoundBuilder& rb, int r, aggf_update_kind kind) {
  std::mt19937 gen(77 + r);
  std::normal_distribution<float> noise(0.0f, 0.1f);
  std::vector<float> direction(272);
  for (float& v : direction) v = noise(gen);
  auto model = [&](float scale) {
    std::vector<float> w(256), b(16);
    for (size_t i = 0; i < 256; ++i)
      w[i] = scale * (direction[i] + 0.3f * noise(gen));
    for (size_t i = 0; i < 16; ++i)
      b[i] = scale * (direction[256 + i] + 0.3f * noise(gen));
    return std::vector<testhost::OwnedTensor>{{"w", {16, 16}, w},
                                              {"b", {16}, b}};
  };
  for (int c = 0; c < 12; ++c) {
    float scale = 1.0f;
    if (r >= 5 && c == 10) scale = 20.0f;
    if (r >= 5 && c == 11) scale = -1.0f;
    rb.AddUpdate("client_" + std::to_string(c), model(scale), kind);
  }
  if (r == 6) {
    auto nan = model(1.0f);
    nan[0].values[3] = std::numeric_limits<float>::quiet_NaN();
    rb.AddUpdate("nan", nan, kind);
    rb.AddUpdate("odd_shape", {{"w", {4, 4}, std::vector<float>(16, 0.1f)}},
                 kind);
    rb.AddUpdate("", model(1.0f), kind);
  }
  if (r == 7) rb.AddUpdate("client_3", model(1.0f), kind);
  if (kind == AGGF_UPDATE_WEIGHTS) rb.SetGlobal(model(0.0f));
}

std::vector<aggf_tensor> GlobalOf(const aggf_round& round) {
  return {round.global_tensors,
          round.global_tensors + round.num_global_tensors};
}

std::vector<aggfilter::Decision> OnArrival(aggfilter::Instance& filter,
                                           const aggf_round& round) {
  filter.begin(round.round, GlobalOf(round));
  for (uint32_t i = 0; i < round.num_updates; ++i) filter.add(round.updates[i]);
  return filter.end();
}

void CheckSameAsOneCall(aggf_update_kind kind, const std::string& name) {
  const fs::path one = TempDir(name + "_one"),
                 arrival = TempDir(name + "_arrival");
  auto a = Flsentry().create(kPolicy, one.string());
  auto b = Flsentry().create(kPolicy, arrival.string());
  int dropped = 0;
  for (int r = 1; r <= 9; ++r) {
    testhost::RoundBuilder rb;
    BuildRound(rb, r, kind);
    const aggf_round round = rb.Build(static_cast<uint64_t>(r));
    const auto whole = a.filter(round);
    const auto streamed = OnArrival(b, round);
    CHECK_MESSAGE(Exact(whole) == Exact(streamed), "round ", r);
    for (const auto& d : whole) dropped += d.accepted() ? 0 : 1;
  }
  CHECK(dropped >= 8);  // the scenario's attacks and guards did fire
  CHECK(ReadFile(one / "audit.jsonl") == ReadFile(arrival / "audit.jsonl"));
  CHECK(ReadFile(one / "state.json") == ReadFile(arrival / "state.json"));
  CHECK(a.save_state() == b.save_state());
  fs::remove_all(one);
  fs::remove_all(arrival);
}

}  // namespace

TEST_CASE("on arrival: the same decisions, audit log and state as one call") {
  CheckSameAsOneCall(AGGF_UPDATE_DELTA, "delta");
}

TEST_CASE("on arrival: full-weight updates against a borrowed global model") {
  CheckSameAsOneCall(AGGF_UPDATE_WEIGHTS, "weights");
}

TEST_CASE("on arrival: an added update's buffers may change at once") {
  auto a = Flsentry().create("");
  auto b = Flsentry().create("");
  for (int r = 1; r <= 5; ++r) {
    testhost::RoundBuilder rb;
    BuildRound(rb, r, AGGF_UPDATE_DELTA);
    const aggf_round round = rb.Build(static_cast<uint64_t>(r));
    const auto whole = a.filter(round);
    b.begin(round.round);
    for (uint32_t i = 0; i < round.num_updates; ++i) {
      b.add(round.updates[i]);
      // The host reuses the buffer for the next client: poison it.
      for (int t = 0; t < 2; ++t) {
        float* data =
            const_cast<float*>(static_cast<const float*>(rb.tensor(i, t).data));
        data[0] = std::numeric_limits<float>::quiet_NaN();
      }
      auto& sent = const_cast<aggf_update&>(round.updates[i]);
      sent.client_id = "zzzz";
      sent.client_id_len = 4;
    }
    CHECK(Exact(whole) == Exact(b.end()));
  }
}

TEST_CASE("on arrival: a retried round returns its decisions again") {
  auto filter = Flsentry().create("");
  testhost::RoundBuilder r1, r2;
  BuildRound(r1, 1, AGGF_UPDATE_DELTA);
  BuildRound(r2, 2, AGGF_UPDATE_DELTA);
  const aggf_round first = r1.Build(1);
  const auto decided = OnArrival(filter, first);
  CHECK(Exact(OnArrival(filter, first), false) == Exact(decided, false));
  aggf_round other = r2.Build(1);  // round 1 again, other updates
  try {
    (void)OnArrival(filter, other);
    FAIL("a different round 1 was accepted as a retry");
  } catch (const aggfilter::Error& e) {
    CHECK(e.status() == AGGF_ERR_ROUND_NUMBER);
  }
}

TEST_CASE("on arrival: calls out of order are refused, the round kept") {
  auto filter = Flsentry().create("");
  const aggf_api& api = Flsentry().api();
  aggf_instance* h = filter.handle();
  testhost::RoundBuilder rb;
  BuildRound(rb, 1, AGGF_UPDATE_DELTA);
  const aggf_round round = rb.Build(5);
  aggf_decision out[16];

  CHECK(api.on_round_add(h, &round.updates[0]) == AGGF_ERR_INVALID_ARGUMENT);
  CHECK(std::string(api.on_instance_last_error(h)).find("no round is open") !=
        std::string::npos);
  CHECK(api.on_round_end(h, out, 0) == AGGF_ERR_INVALID_ARGUMENT);
  CHECK(api.on_round_begin(h, nullptr) == AGGF_ERR_INVALID_ARGUMENT);
  aggf_round_begin begin{};
  begin.struct_size = sizeof begin;
  begin.round = 5;
  begin.reserved1 = 1;
  CHECK(api.on_round_begin(h, &begin) == AGGF_ERR_INVALID_ARGUMENT);
  begin.reserved1 = 0;
  REQUIRE(api.on_round_begin(h, &begin) == AGGF_OK);
  CHECK(api.on_round_add(h, nullptr) == AGGF_ERR_INVALID_ARGUMENT);
  REQUIRE(api.on_round_add(h, &round.updates[0]) == AGGF_OK);
  REQUIRE(api.on_round_add(h, &round.updates[1]) == AGGF_OK);
  // A wrong count is refused and the round stays open.
  CHECK(api.on_round_end(h, out, 3) == AGGF_ERR_INVALID_ARGUMENT);
  REQUIRE(api.on_round_add(h, &round.updates[2]) == AGGF_OK);
  // A refused begin leaves the open round as it was.
  begin.reserved0 = 7;
  CHECK(api.on_round_begin(h, &begin) == AGGF_ERR_INVALID_ARGUMENT);
  begin.reserved0 = 0;
  REQUIRE(api.on_round_end(h, out, 3) == AGGF_OK);
  CHECK(std::string(out[0].reason) == "ok");
  // Closed: nothing more can be added, and a lower round number is refused
  // at begin.
  CHECK(api.on_round_add(h, &round.updates[3]) == AGGF_ERR_INVALID_ARGUMENT);
  begin.round = 4;
  CHECK(api.on_round_begin(h, &begin) == AGGF_ERR_ROUND_NUMBER);
  // Beginning again closes an open round; on_round_filter does too.
  begin.round = 6;
  REQUIRE(api.on_round_begin(h, &begin) == AGGF_OK);
  REQUIRE(api.on_round_add(h, &round.updates[0]) == AGGF_OK);
  REQUIRE(api.on_round_begin(h, &begin) == AGGF_OK);
  REQUIRE(api.on_round_add(h, &round.updates[1]) == AGGF_OK);
  REQUIRE(api.on_round_end(h, out, 1) == AGGF_OK);
  begin.round = 7;
  REQUIRE(api.on_round_begin(h, &begin) == AGGF_OK);
  aggf_round whole = round;
  whole.round = 7;
  REQUIRE(api.on_round_filter(h, &whole, out, 12) == AGGF_OK);
  CHECK(api.on_round_end(h, out, 0) == AGGF_ERR_INVALID_ARGUMENT);
}

TEST_CASE("on arrival: a second plugin (ABI 1.2, in C) and an older one") {
  aggfilter::Plugin norm(NORM_ON_ARRIVAL_PLUGIN_PATH);
  auto filter = norm.create("1.0");
  REQUIRE(filter.has_on_arrival());
  CHECK_FALSE(filter.has_round_details());
  testhost::RoundBuilder rb;
  rb.AddUpdate("small", {{"w", {2}, {0.3f, 0.4f}}});
  rb.AddUpdate("large", {{"w", {2}, {3.0f, 4.0f}}});
  const aggf_round round = rb.Build(1);
  const auto whole = filter.filter(round);
  const auto streamed = OnArrival(filter, round);
  REQUIRE(streamed.size() == 2);
  CHECK(streamed[0].action == AGGF_ACTION_ACCEPT);
  CHECK(streamed[1].action == AGGF_ACTION_DROP);
  CHECK(Exact(whole) == Exact(streamed));

  aggfilter::Plugin old(NORM_PLUGIN_PATH);  // ABI 1.0: no such entries
  auto older = old.create("1.0");
  CHECK_FALSE(older.has_on_arrival());
  CHECK_THROWS_AS(older.begin(1), aggfilter::Error);
}
