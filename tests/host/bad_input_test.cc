// Untrusted host input through the C interface: every case gets an error
// code and a message, or a per-update drop with a reason; never a crash.
#include <doctest/doctest.h>

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
