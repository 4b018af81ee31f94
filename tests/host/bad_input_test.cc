// Untrusted host input through the C interface: every case gets an error
// code and a message, or a per-update drop with a reason; never a crash.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstring>
#include <functional>
#include <string>

#include "aggfilter_host.hpp"
#include "round_builder.h"

namespace {

const aggf_api& Api() {
  static aggfilter::Plugin plugin(FLSENTRY_PLUGIN_PATH);
  return plugin.api();
}

aggf_instance* NewInstance() {
  aggf_instance* instance = nullptr;
  REQUIRE(Api().on_instance_create("", 0, nullptr, nullptr, &instance, nullptr,
                                   0) == AGGF_OK);
  return instance;
}

}  // namespace

TEST_CASE("whole-round errors: code plus last-error text") {
  struct Case {
    const char* name;
    std::function<void(aggf_round&, uint32_t&)> corrupt;
    const char* message;
  };
  const Case cases[] = {
      {"struct_size too small",
       [](aggf_round& r, uint32_t&) { r.struct_size = 8; }, "struct_size"},
      {"reserved field set", [](aggf_round& r, uint32_t&) { r.reserved0 = 1; },
       "reserved0"},
      {"null updates with a count",
       [](aggf_round& r, uint32_t&) { r.updates = nullptr; },
       "updates is null"},
      {"decision count differs", [](aggf_round&, uint32_t& n) { n = 1; },
       "num_decisions"},
      {"absurd update count",
       [](aggf_round& r, uint32_t& n) { r.num_updates = n = 0x7fffffff; },
       "updates; at most"},
      {"null global tensors with a count",
       [](aggf_round& r, uint32_t&) { r.num_global_tensors = 3; },
       "global model"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    aggf_instance* instance = NewInstance();
    testhost::RoundBuilder rb;
    rb.AddUpdate("a", testhost::SmallModel());
    rb.AddUpdate("b", testhost::SmallModel());
    aggf_round round = rb.Build();
    uint32_t n = round.num_updates;
    c.corrupt(round, n);
    std::vector<aggf_decision> decisions(2);
    aggf_status status = Api().on_round_filter(
        instance, &round, n <= 2 ? decisions.data() : nullptr, n);
    if (n > 2) {  // absurd count: the pointer check fires first
      CHECK(status == AGGF_ERR_INVALID_ARGUMENT);
    } else {
      CHECK(status == AGGF_ERR_INVALID_ARGUMENT);
      CHECK(
          std::string(Api().on_instance_last_error(instance)).find(c.message) !=
          std::string::npos);
    }
    Api().on_instance_destroy(instance);
  }
}

TEST_CASE("null pointers at every entry point are refused, not dereferenced") {
  aggf_instance* instance = NewInstance();
  aggf_decision d;
  CHECK(Api().on_round_filter(instance, nullptr, &d, 1) ==
        AGGF_ERR_INVALID_ARGUMENT);
  CHECK(Api().on_round_filter(nullptr, nullptr, &d, 1) ==
        AGGF_ERR_INVALID_ARGUMENT);
  CHECK(Api().on_state_save(instance, nullptr, nullptr) ==
        AGGF_ERR_INVALID_ARGUMENT);
  CHECK(Api().on_state_save(nullptr, nullptr, nullptr) ==
        AGGF_ERR_INVALID_ARGUMENT);
  CHECK(Api().on_state_load(instance, nullptr, 5) == AGGF_ERR_INVALID_ARGUMENT);
  CHECK(Api().on_state_load(nullptr, nullptr, 0) == AGGF_ERR_INVALID_ARGUMENT);
  CHECK(Api().on_instance_create("", 0, nullptr, nullptr, nullptr, nullptr,
                                 0) == AGGF_ERR_INVALID_ARGUMENT);
  char error[64];
  aggf_instance* out = nullptr;
  CHECK(Api().on_instance_create(nullptr, 10, nullptr, nullptr, &out, error,
                                 sizeof error) == AGGF_ERR_INVALID_ARGUMENT);
  CHECK(out == nullptr);
  CHECK(std::string(error).find("config is null") != std::string::npos);
  Api().on_instance_destroy(nullptr);  // allowed
  CHECK(std::string(Api().on_instance_last_error(nullptr)) ==
        "instance is null");
  Api().on_instance_destroy(instance);
}

TEST_CASE("zero updates is a valid, empty round") {
  aggf_instance* instance = NewInstance();
  aggf_round round{};
  round.struct_size = sizeof round;
  CHECK(Api().on_round_filter(instance, &round, nullptr, 0) == AGGF_OK);
  Api().on_instance_destroy(instance);
}

TEST_CASE(
    "per-update problems drop that update with a reason; the round goes on") {
  struct Case {
    const char* name;
    std::function<void(testhost::RoundBuilder&)> corrupt;
  };
  static const int64_t kNegative[2] = {-2, 3};
  static const int64_t kHuge[2] = {int64_t{1} << 40, int64_t{1} << 40};
  static const int64_t kNegativeStrides[2] = {-3, 1};
  static const float kUnaligned[8] = {};
  const Case cases[] = {
      {"zero tensors", [](auto& rb) { rb.update(1).num_tensors = 0; }},
      {"null tensor array", [](auto& rb) { rb.update(1).tensors = nullptr; }},
      {"empty client id", [](auto& rb) { rb.update(1).client_id_len = 0; }},
      {"invalid UTF-8 client id",
       [](auto& rb) {
         rb.update(1).client_id = "\xff\xfe";
         rb.update(1).client_id_len = 2;
       }},
      {"unknown update kind", [](auto& rb) { rb.update(1).kind = 7; }},
      {"unknown dtype code", [](auto& rb) { rb.tensor(1, 0).dtype = 99; }},
      {"negative rank", [](auto& rb) { rb.tensor(1, 0).rank = -1; }},
      {"rank above 8", [](auto& rb) { rb.tensor(1, 0).rank = 9; }},
      {"negative shape", [](auto& rb) { rb.tensor(1, 0).shape = kNegative; }},
      {"shape product overflows",
       [](auto& rb) { rb.tensor(1, 0).shape = kHuge; }},
      {"negative strides",
       [](auto& rb) { rb.tensor(1, 0).strides = kNegativeStrides; }},
      {"null shape", [](auto& rb) { rb.tensor(1, 0).shape = nullptr; }},
      {"null data", [](auto& rb) { rb.tensor(1, 0).data = nullptr; }},
      {"misaligned data",
       [](auto& rb) {
         rb.tensor(1, 0).data = reinterpret_cast<const char*>(kUnaligned) + 1;
       }},
      {"null tensor name", [](auto& rb) { rb.tensor(1, 0).name = nullptr; }},
      {"empty tensor name", [](auto& rb) { rb.tensor(1, 0).name_len = 0; }},
      {"duplicate tensor name",
       [](auto& rb) {
         rb.tensor(1, 1).name = rb.tensor(1, 0).name;
         rb.tensor(1, 1).name_len = rb.tensor(1, 0).name_len;
       }},
      {"reserved field set", [](auto& rb) { rb.tensor(1, 0).reserved0 = 5; }},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    aggf_instance* instance = NewInstance();
    testhost::RoundBuilder rb;
    rb.AddUpdate("good", testhost::SmallModel());
    rb.AddUpdate("bad", testhost::SmallModel());
    rb.AddUpdate("also_good", testhost::SmallModel());
    c.corrupt(rb);
    aggf_round round = rb.Build();
    aggf_decision d[3];
    std::memset(d, 0x5a, sizeof d);
    REQUIRE(Api().on_round_filter(instance, &round, d, 3) == AGGF_OK);
    CHECK(d[0].action == AGGF_ACTION_ACCEPT);
    CHECK(d[1].action == AGGF_ACTION_DROP);
    CHECK(d[1].weight == 0.0);
    CHECK((d[1].flags & AGGF_FLAG_INVALID) != 0);
    CHECK(std::string(d[1].reason) == "invalid");
    CHECK(d[2].action == AGGF_ACTION_ACCEPT);
    Api().on_instance_destroy(instance);
  }
}

TEST_CASE("every update of a client id used twice is dropped, none charged") {
  aggf_instance* instance = NewInstance();
  testhost::RoundBuilder rb;
  rb.AddUpdate("good", testhost::SmallModel());
  rb.AddUpdate("bad", testhost::SmallModel());
  rb.AddUpdate("also_good", testhost::SmallModel());
  rb.update(1).client_id = rb.update(0).client_id;
  rb.update(1).client_id_len = rb.update(0).client_id_len;
  aggf_round round = rb.Build();
  aggf_decision d[3];
  REQUIRE(Api().on_round_filter(instance, &round, d, 3) == AGGF_OK);
  for (int i : {0, 1}) {
    CAPTURE(i);
    CHECK(d[i].action == AGGF_ACTION_DROP);
    CHECK((d[i].flags & AGGF_FLAG_INVALID) != 0);
    CHECK(std::string(d[i].reason) == "invalid");
  }
  CHECK(d[2].action == AGGF_ACTION_ACCEPT);
  Api().on_instance_destroy(instance);
}

TEST_CASE("invalid configuration fails create with a message, never a crash") {
  const char* configs[] = {"{unclosed", "- a list\n- not a map\n",
                           "key: [1, 2\n", "\t\tbad: indentation:\n x"};
  for (const char* yaml : configs) {
    CAPTURE(yaml);
    aggf_instance* instance = reinterpret_cast<aggf_instance*>(0x1);
    char error[256] = {0};
    aggf_status status =
        Api().on_instance_create(yaml, std::strlen(yaml), nullptr, nullptr,
                                 &instance, error, sizeof error);
    CHECK(status == AGGF_ERR_CONFIG);
    CHECK(instance == nullptr);
    CHECK(std::strlen(error) > 0);
  }
  // Error text is cut to the host's buffer, always NUL-terminated.
  char tiny[4];
  aggf_instance* instance = nullptr;
  CHECK(Api().on_instance_create("{", 1, nullptr, nullptr, &instance, tiny,
                                 sizeof tiny) == AGGF_ERR_CONFIG);
  CHECK(std::strlen(tiny) == 3);
}

// Convention 1 of aggfilter.h: structs that start with struct_size may come
// from a host of another minor. A larger struct is read when the bytes this
// plugin does not know are zero, refused naming the struct when one is set.
TEST_CASE("sized structs from newer hosts: zero tail read, set tail refused") {
  struct Bigger {
    aggf_round round;
    uint64_t newer_field;
  };
  aggf_instance* instance = NewInstance();
  testhost::RoundBuilder rb;
  rb.AddUpdate("a", testhost::SmallModel());
  Bigger bigger{};
  bigger.round = rb.Build();
  bigger.round.struct_size = sizeof bigger;
  std::vector<aggf_decision> decisions(1);
  CHECK(Api().on_round_filter(instance, &bigger.round, decisions.data(), 1) ==
        AGGF_OK);
  bigger.round.round += 1;
  bigger.newer_field = 7;
  CHECK(Api().on_round_filter(instance, &bigger.round, decisions.data(), 1) ==
        AGGF_ERR_INVALID_ARGUMENT);
  const std::string error = Api().on_instance_last_error(instance);
  CHECK(error.find("round.struct_size") == 0);
  CHECK(error.find("beyond the") != std::string::npos);
  Api().on_instance_destroy(instance);

  struct BiggerCallbacks {
    aggf_host_callbacks callbacks;
    uint64_t newer_field;
  } host{};
  host.callbacks.struct_size = sizeof host;
  aggf_instance* made = nullptr;
  CHECK(Api().on_instance_create("", 0, nullptr, &host.callbacks, &made,
                                 nullptr, 0) == AGGF_OK);
  Api().on_instance_destroy(made);
  host.newer_field = 1;
  char message[256] = {0};
  CHECK(Api().on_instance_create("", 0, nullptr, &host.callbacks, &made,
                                 message,
                                 sizeof message) == AGGF_ERR_INVALID_ARGUMENT);
  CHECK(std::string(message).find("host callbacks.struct_size") == 0);
  host.callbacks.struct_size = 8;  // smaller than ABI 1.0's
  CHECK(Api().on_instance_create("", 0, nullptr, &host.callbacks, &made,
                                 message,
                                 sizeof message) == AGGF_ERR_INVALID_ARGUMENT);
  CHECK(std::string(message).find("smaller than its first released size") !=
        std::string::npos);
}

// Each entry point returns only the codes aggfilter.h lists for it: a file
// the configuration names that cannot be written is AGGF_ERR_CONFIG at
// create (it was AGGF_ERR_ROUND_FAILED, a code create does not list), and a
// failing write callback is AGGF_ERR_STATE at on_state_save.
TEST_CASE("error codes per entry point") {
  const std::string config =
      "audit:\n  path: /proc/flsentry-no-such-dir/audit.jsonl\n";
  aggf_instance* made = nullptr;
  char message[512] = {0};
  CHECK(Api().on_instance_create(config.data(), config.size(), nullptr, nullptr,
                                 &made, message,
                                 sizeof message) == AGGF_ERR_CONFIG);
  CHECK(made == nullptr);
  CHECK(std::string(message).find("audit") != std::string::npos);

  aggf_instance* instance = NewInstance();
  auto failing = [](void*, const uint8_t*, uint64_t) -> int32_t { return 1; };
  CHECK(Api().on_state_save(instance, failing, nullptr) == AGGF_ERR_STATE);
  Api().on_instance_destroy(instance);
}

// on_round_details (ABI 1.1): the suspicion of each decision of the last
// round filtered with AGGF_OK; refused before any round, past the round's
// updates, and for a struct too small; a host's smaller struct is written
// only as far as it reaches.
TEST_CASE("on_round_details: contract and refusals") {
  REQUIRE(Api().struct_size > offsetof(aggf_api, on_round_details));
  aggf_instance* instance = NewInstance();
  aggf_decision_details details{};
  details.struct_size = sizeof details;
  CHECK(Api().on_round_details(instance, 0, &details) ==
        AGGF_ERR_INVALID_ARGUMENT);
  CHECK(std::string(Api().on_instance_last_error(instance)) ==
        "no round has been filtered yet");
  CHECK(Api().on_round_details(instance, 0, nullptr) ==
        AGGF_ERR_INVALID_ARGUMENT);

  testhost::RoundBuilder rb;
  for (const char* id : {"a", "b", "c", "d", "e", "f"}) {
    rb.AddUpdate(id, testhost::SmallModel());
  }
  aggf_round round = rb.Build();
  std::vector<aggf_decision> decisions(round.num_updates);
  REQUIRE(Api().on_round_filter(instance, &round, decisions.data(),
                                round.num_updates) == AGGF_OK);
  for (uint32_t i = 0; i < round.num_updates; ++i) {
    details = {};
    details.struct_size = sizeof details;
    CHECK(Api().on_round_details(instance, i, &details) == AGGF_OK);
    CHECK(details.struct_size == sizeof details);
    CHECK(details.reserved0 == 0);
  }
  CHECK(Api().on_round_details(instance, round.num_updates, &details) ==
        AGGF_ERR_INVALID_ARGUMENT);
  CHECK(std::string(Api().on_instance_last_error(instance))
            .find("is not below the last round's 6 updates") !=
        std::string::npos);

  aggf_decision_details small{};
  small.struct_size = 8;  // a host that knows only the header
  small.suspicion = 123.0;
  CHECK(Api().on_round_details(instance, 0, &small) == AGGF_OK);
  CHECK(small.struct_size == 8);
  CHECK(small.suspicion == 123.0);  // beyond its size: untouched
  small.struct_size = 4;
  CHECK(Api().on_round_details(instance, 0, &small) ==
        AGGF_ERR_INVALID_ARGUMENT);
  Api().on_instance_destroy(instance);
}
