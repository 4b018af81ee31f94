#include "sim_config.h"

#include <doctest/doctest.h>

#include <filesystem>

namespace flsentry::sim {
namespace {

Status Parse(const std::string& yaml) {
  return ParseSimConfig(yaml, "test.yaml").status();
}

TEST_CASE("ParseSimConfig reads every key") {
  auto c = ParseSimConfig(R"(
model: cnn
hidden: 32
clients: 20
partition: iid
local_epochs: 2
lr: 0.1
momentum: 0.5
batch_size: 16
participation: 0.5
rounds: 7
seed: 42
threads: 2
train_examples: 5000
test_examples: 1000
attack: {type: alie, fraction: 0.2, start_round: 3, params: {z_max: 1.5}}
aggregator: {type: trimmed_mean, params: {beta: 0.2}}
)",
                          "t.yaml");
  REQUIRE_MESSAGE(c.ok(), c.status().message());
  CHECK(c->model.kind == "cnn");
  CHECK(c->model.hidden == 32);
  CHECK(c->partition == "iid");
  CHECK(c->rounds == 7);
  CHECK(c->seed == 42);
  CHECK(c->attack.type == "alie");
  CHECK(c->attack.params.at("z_max") == 1.5);
  CHECK(c->aggregator.params.at("beta") == 0.2);
  CHECK(c->ClientsPerRound() == 10);
  CHECK(c->NumMalicious() == 4);
}

TEST_CASE("ParseSimConfig reads eval_backdoor") {
  auto c = ParseSimConfig("rounds: 2\n", "t.yaml");
  REQUIRE(c.ok());
  CHECK_FALSE(c->eval_backdoor.has_value());
  c = ParseSimConfig("eval_backdoor: {target: 3, trigger_size: 5}\n", "t.yaml");
  REQUIRE_MESSAGE(c.ok(), c.status().message());
  REQUIRE(c->eval_backdoor.has_value());
  CHECK(c->eval_backdoor->at("target") == 3);
  CHECK(c->eval_backdoor->at("trigger_size") == 5);
  c = ParseSimConfig("eval_backdoor: {}\n", "t.yaml");
  REQUIRE(c.ok());
  CHECK(c->eval_backdoor.has_value());
  CHECK(Parse("eval_backdoor: 3\n").message().find("eval_backdoor") !=
        std::string::npos);
  CHECK(Parse("eval_backdoor: {target: zero}\n")
            .message()
            .find("eval_backdoor.target") != std::string::npos);
}

TEST_CASE("lr_decay lowers the learning rate by its factor each round") {
  auto c = ParseSimConfig("lr: 0.1\n", "t.yaml");
  REQUIRE(c.ok());
  CHECK(c->lr_decay == 1.0);
  CHECK(c->LearningRate(1) == 0.1);
  CHECK(c->LearningRate(30) == 0.1);
  c = ParseSimConfig("lr: 0.1\nlr_decay: 0.5\n", "t.yaml");
  REQUIRE_MESSAGE(c.ok(), c.status().message());
  CHECK(c->LearningRate(1) == doctest::Approx(0.1));
  CHECK(c->LearningRate(2) == doctest::Approx(0.05));
  CHECK(c->LearningRate(4) == doctest::Approx(0.0125));
  CHECK(Parse("lr_decay: 0\n").message() ==
        "test.yaml: lr_decay: must be in (0, 1] (line 1, column 11)");
  CHECK_FALSE(Parse("lr_decay: 1.5\n").ok());
}

TEST_CASE("ParseSimConfig rejects unknown keys, naming them") {
  Status s = Parse("clients: 5\nclinets: 6\n");
  CHECK(s.code() == ErrorCode::kConfig);
  CHECK(s.message().find("clinets") != std::string::npos);
  s = Parse("attack: {type: sign_flip, fraction: 0.2, strat_round: 2}\n");
  CHECK(s.message().find("attack.strat_round") != std::string::npos);
  s = Parse("aggregator: {type: median, param: {}}\n");
  CHECK(s.message().find("aggregator.param") != std::string::npos);
}

TEST_CASE("ParseSimConfig refuses a key given twice, naming it and where") {
  // yaml-cpp alone keeps the first value; the strict reader refuses both
  // a top-level and a nested repeat, and one among params.
  CHECK(Parse("rounds: 5\nclients: 5\nrounds: 6\n").message() ==
        "test.yaml: rounds: key given twice (line 3, column 1)");
  CHECK(
      Parse("attack: {type: scaling, fraction: 0.2, type: alie}\n").message() ==
      "test.yaml: attack.type: key given twice (line 1, column 40)");
  const Status params =
      Parse("aggregator: {type: multikrum, params: {f: 1, f: 2}}\n");
  CHECK(params.code() == ErrorCode::kConfig);
  CHECK(params.message() ==
        "test.yaml: aggregator.params.f: key given twice (line 1, column 46)");
}

TEST_CASE("ParseSimConfig refuses an unknown key with its line and column") {
  CHECK(
      Parse("clients: 5\nclinets: 6\n")
          .message()
          .rfind("test.yaml: clinets: unknown key (known here: model, hidden,",
                 0) == 0);
  CHECK(
      Parse("clients: 5\nclinets: 6\n").message().find("(line 2, column 1)") !=
      std::string::npos);
  CHECK(Parse("aggregator:\n  type: median\n  param: {}\n")
            .message()
            .find("aggregator.param: unknown key (known here: type, params) "
                  "(line 3, column 3)") != std::string::npos);
}

TEST_CASE("ParseSimConfig refuses quoted numbers") {
  CHECK(Parse("rounds: \"5\"\n").message() ==
        "test.yaml: rounds: expected an integer, got the quoted string \"5\"; "
        "write it without quotes (line 1, column 9)");
  CHECK(Parse("lr: '0.1'\n").message() ==
        "test.yaml: lr: expected a number, got the quoted string \"0.1\"; "
        "write it without quotes (line 1, column 5)");
  CHECK(Parse("seed: \"7\"\n").code() == ErrorCode::kConfig);
  CHECK(Parse("attack: {type: scaling, fraction: 0.2, params: {lambda: "
              "\"10\"}}\n")
            .message()
            .find("attack.params.lambda: expected a number") !=
        std::string::npos);
  CHECK(Parse("eval_backdoor: {target: '3'}\n")
            .message()
            .find("eval_backdoor.target: expected a number") !=
        std::string::npos);
  // A quoted string stays a string.
  CHECK(Parse("model: \"cnn\"\n").ok());
}

TEST_CASE("ParseSimConfig rejects wrong types and out-of-range values") {
  CHECK(Parse("clients: many\n").message() ==
        "test.yaml: clients: expected an integer, got 'many' (line 1, column "
        "10)");
  CHECK(Parse("clients: 0\n").message() ==
        "test.yaml: clients: must be in 1..10000 (line 1, column 10)");
  CHECK_FALSE(Parse("clients: 0\n").ok());
  CHECK_FALSE(Parse("participation: 1.5\n").ok());
  CHECK_FALSE(Parse("alpha: -1\n").ok());
  CHECK_FALSE(Parse("lr: .nan\n").ok());
  CHECK_FALSE(Parse("partition: random\n").ok());
  CHECK_FALSE(Parse("model: {kind: mlp}\n").ok());
  CHECK_FALSE(Parse("attack: {type: sign_flip, fraction: 0.001}\n").ok());
  CHECK_FALSE(Parse("attack: {type: scaling, params: {lambda: nope}}\n").ok());
  CHECK_FALSE(Parse("[1, 2]\n").ok());
  CHECK_FALSE(Parse("rounds: [\n").ok());  // not YAML
  CHECK_FALSE(Parse("").ok());             // no mapping
  CHECK_FALSE(Parse("attack:\n").ok());    // a section without keys
  CHECK_FALSE(Parse("attack: {params: }\n").ok());
  CHECK_FALSE(Parse("rounds: 5\n---\nrounds: 6\n").ok());
}

TEST_CASE("The bundled configs parse") {
  const std::filesystem::path dir =
      std::filesystem::path(FLSENTRY_SOURCE_DIR) / "configs" / "sim";
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".yaml") continue;
    auto c = LoadSimConfig(entry.path().string());
    CHECK_MESSAGE(c.ok(), c.status().message());
    ++count;
  }
  CHECK(count >= 3);
  CHECK(LoadSimConfig("/nonexistent.yaml").status().code() ==
        ErrorCode::kNotFound);
}

}  // namespace
}  // namespace flsentry::sim
