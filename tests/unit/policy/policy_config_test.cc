#include "policy/policy_config.h"

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

using namespace flsentry;

namespace {

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("empty documents give the documented defaults") {
  for (const char* text : {"", "{}", "# only a comment\n", "---\n"}) {
    CAPTURE(text);
    auto c = ParsePolicyYaml(text);
    REQUIRE(c.ok());
    CHECK(c->thresholds.combine == Combine::kAny);
    REQUIRE(c->thresholds.rules.size() == 1);
    CHECK(c->thresholds.rules[0].kind == ThresholdKind::kRoundRatio);
    CHECK(c->thresholds.rules[0].k == 4.0);
    CHECK(c->thresholds.rules[0].name == "round_ratio");
    CHECK(c->actions.on_anomalous == AnomalyAction::kDrop);
    CHECK(c->guards.norm.enabled);
    CHECK(c->quarantine.rounds == 15);
    CHECK(c->quarantine.probation.threshold_scale == 1.0);
    CHECK(c->quarantine.enabled);
    CHECK(c->quarantine.strike_on ==
          (kStrikeAnomalous | kStrikeGuard | kStrikeNormGuard |
           kStrikeDuplicate | kStrikeCentral | kStrikeInconsistent |
           kStrikeNumExamples));
    CHECK(c->quarantine.strikes == 2.0);
    CHECK(c->quarantine.strike_weight.full_at == 2.0);
    CHECK(c->quarantine.strike_weight.min_weight == 0.25);
    CHECK(c->guards.consistency.enabled);
    CHECK(c->guards.consistency.min_cosine == 0.0);
    CHECK(c->guards.consistency.newcomer_min_agreement == -0.3);
    CHECK(c->guards.consistency.newcomer_weight == 0.0);
    CHECK(c->guards.consistency.newcomer_round_k == 4.0);
    CHECK(c->guards.consistency.newcomer_min_round_size == 5);
    CHECK(c->guards.consistency.drift_margin == 0.1);
    CHECK(c->guards.consistency.drift_round_k == 2.0);
    CHECK(c->guards.opposition.enabled);
    CHECK(c->guards.opposition.max_opposition == 1.0);
    CHECK(c->guards.columns.enabled);
    CHECK(c->guards.columns.max_share == 0.45);
    CHECK(c->guards.columns.max_peak_share == 0.15);
    CHECK(c->detector.column_energy);
    CHECK(c->guards.num_examples.enabled);
    CHECK(c->guards.num_examples.k == 10.0);
    CHECK(c->guards.num_examples.history_k == 2.0);
    CHECK(c->guards.num_examples.mode == ExamplesGuardMode::kCap);
    CHECK(c->thresholds.client_baseline.enabled);
    CHECK(c->thresholds.client_baseline.rounds == 10);
    CHECK(c->thresholds.client_baseline.min_rounds == 3);
    CHECK(c->thresholds.client_baseline.max_factor == 8.0);
    CHECK(c->thresholds.client_baseline.min_consistency == 0.0);
    CHECK(c->thresholds.client_baseline.statistic == BaselineStatistic::kMax);
    CHECK(c->thresholds.client_baseline.grace == 1);
    CHECK(c->fail_safes.severe_suspicion == 2.0);
    CHECK(c->guards.duplicate.enabled);
    CHECK(c->guards.duplicate.max_similarity == 0.99);
    CHECK(c->fail_safes.on_error == OnScoreError::kDrop);
    CHECK(c->state.path.empty());
    CHECK(c->audit.path.empty());
    CHECK(c->detector.path.empty());
    CHECK(c->detector.refresh.enabled);
  }
}

TEST_CASE("every section parses into its fields") {
  const char* text = R"(
detector:
  path: det/
  threads: 2
  seed: 42
  refresh: {enabled: false, window_rounds: 4, epochs: 2, learning_rate: 0.01,
            max_client_share: 0.5, warmup_rounds: 3, max_rows: 7}
thresholds:
  combine: all
  rules:
    - {kind: static, value: 2.5}
    - {kind: calibrated_quantile, level: 0.999, scale: 1.5}
    - {kind: calibrated_mean_std, k: 4}
    - {kind: round_robust, name: robust, k: 5, min_round_size: 8,
       history_rounds: 2, min_relative_spread: 0.1}
actions:
  on_anomalous: drop
  downweight: {function: linear, slope: 2, rate: 3, floor: 0.25}
lists: {allow: [a, b], deny: [c]}
guards:
  norm: {enabled: yes, k: 4, mode: downweight, min_round_size: 5}
  columns: {enabled: false, max_share: 0.4, max_peak_share: 0.2}
fail_safes: {max_drop_fraction: 0.3, min_accepted: 2, on_error: fail_round}
quarantine:
  enabled: true
  window_rounds: 6
  strikes: 2
  rounds: 4
  strike_on: [anomalous, norm_guard]
  probation: {rounds: 5, threshold_scale: 0.5, max_weight: 0.7,
              strikes_to_requarantine: 2}
reputation: {initial: 0.9, rate: 0.3}
state: {path: state/policy.json, on_corrupt: reset}
audit: {path: audit.jsonl}
)";
  auto r = ParsePolicyYaml(text);
  REQUIRE_MESSAGE(r.ok(), r.status().message());
  const PolicyConfig& c = *r;
  CHECK(c.detector.path == "det/");
  CHECK(c.detector.threads == 2);
  CHECK(c.detector.seed == 42);
  CHECK_FALSE(c.detector.refresh.enabled);
  CHECK(c.detector.refresh.window_rounds == 4);
  CHECK(c.detector.refresh.max_rows == 7);
  CHECK(c.detector.refresh.learning_rate == doctest::Approx(0.01));
  CHECK(c.detector.refresh.warmup_rounds == 3);
  CHECK(c.thresholds.combine == Combine::kAll);
  REQUIRE(c.thresholds.rules.size() == 4);
  CHECK(c.thresholds.rules[0].value == 2.5);
  CHECK(c.thresholds.rules[1].level == 0.999);
  CHECK(c.thresholds.rules[1].scale == 1.5);
  CHECK(c.thresholds.rules[2].k == 4);
  CHECK(c.thresholds.rules[3].name == "robust");
  CHECK(c.thresholds.rules[3].min_round_size == 8);
  CHECK(c.thresholds.rules[3].history_rounds == 2);
  CHECK(c.actions.on_anomalous == AnomalyAction::kDrop);
  CHECK(c.actions.downweight.function == DownweightFunction::kLinear);
  CHECK(c.actions.downweight.floor == 0.25);
  CHECK(c.lists.allow == std::set<std::string>{"a", "b"});
  CHECK(c.lists.deny == std::set<std::string>{"c"});
  CHECK(c.guards.norm.enabled);
  CHECK(c.guards.norm.mode == NormGuardMode::kDownweight);
  CHECK_FALSE(c.guards.columns.enabled);
  CHECK(c.guards.columns.max_share == 0.4);
  CHECK(c.guards.columns.max_peak_share == 0.2);
  CHECK_FALSE(c.detector.column_energy);  // nothing to measure it for
  CHECK(c.fail_safes.max_drop_fraction == 0.3);
  CHECK(c.fail_safes.min_accepted == 2);
  CHECK(c.fail_safes.on_error == OnScoreError::kFailRound);
  CHECK(c.quarantine.window_rounds == 6);
  CHECK(c.quarantine.strike_on == (kStrikeAnomalous | kStrikeNormGuard));
  CHECK(c.quarantine.probation.rounds == 5);
  CHECK(c.quarantine.probation.strikes_to_requarantine == 2);
  CHECK(c.reputation.initial == 0.9);
  CHECK(c.state.path == "state/policy.json");
  CHECK(c.state.on_corrupt == OnCorrupt::kReset);
  CHECK(c.audit.path == "audit.jsonl");
}

TEST_CASE("errors name the key path, line and column") {
  struct Case {
    const char* yaml;
    const char* message;
  };
  const Case cases[] = {
      {"thresholds:\n  rules:\n    - kind: static\n      value: 1\n"
       "    - kind: round_robust\n      k: 0\n",
       "policy: thresholds.rules[1].k: must be > 0 (line 6, column 10)"},
      {"thresholds:\n  rules:\n    - kind: round_ratio\n      k: 1\n",
       "policy: thresholds.rules[0].k: must be > 1 (line 4, column 10)"},
      {"quarantine:\n  strikes: 3\n  windw_rounds: 5\n",
       "policy: quarantine.windw_rounds: unknown key (known here: enabled, "
       "window_rounds, strikes, rounds, strike_on, strike_weight, "
       "probation) (line 3, column 3)"},
      {"fail_safes:\n  max_drop_fraction: lots\n",
       "policy: fail_safes.max_drop_fraction: expected a number, got 'lots' "
       "(line 2, column 22)"},
      {"fail_safes:\n  max_drop_fraction: 1.5\n",
       "policy: fail_safes.max_drop_fraction: must be in [0, 1] (line 2, "
       "column 22)"},
      {"thresholds: {client_baseline: {statistic: mean}}\n",
       "policy: thresholds.client_baseline.statistic: must be one of: max, "
       "median (line 1, column 43)"},
      {"thresholds: {client_baseline: {grace: 65}}\n",
       "policy: thresholds.client_baseline.grace: must be in [0, 64] (line 1, "
       "column 39)"},
      {"guards: {consistency: {newcomer_weight: 2}}\n",
       "policy: guards.consistency.newcomer_weight: must be in [0, 1] (line 1, "
       "column 41)"},
      {"guards: {consistency: {newcomer_round_k: -1}}\n",
       "policy: guards.consistency.newcomer_round_k: must be >= 0 (line 1, "
       "column 42)"},
      {"guards: {consistency: {drift_margin: 3}}\n",
       "policy: guards.consistency.drift_margin: must be in [0, 2] (line 1, "
       "column 38)"},
      {"guards: {consistency: {drift_round_k: -1}}\n",
       "policy: guards.consistency.drift_round_k: must be >= 0 (line 1, "
       "column 39)"},
      {"guards: {opposition: {max_opposition: 0}}\n",
       "policy: guards.opposition.max_opposition: must be > 0 (line 1, "
       "column 39)"},
      {"guards: {columns: {max_share: 0}}\n",
       "policy: guards.columns.max_share: must be in (0, 1] (line 1, "
       "column 31)"},
      {"guards: {columns: {max_share: 1.5}}\n",
       "policy: guards.columns.max_share: must be in (0, 1] (line 1, "
       "column 31)"},
      {"guards: {columns: {max_peak_share: -0.1}}\n",
       "policy: guards.columns.max_peak_share: must be in (0, 1] (line 1, "
       "column 36)"},
      {"guards: {norm: {k: 3, drop_k: 2}}\n",
       "policy: guards.norm.drop_k: drop_k (2) must be 0 (no drop limit) or "
       "above k (3) (line 1, column 31)"},
      {"guards: {norm: {k: 12}}\n",
       "policy: guards.norm.drop_k: drop_k (10) must be 0 (no drop limit) or "
       "above k (12) (line 1, column 16)"},
      {"guards: {norm: {max_growth: 0.5}}\n",
       "policy: guards.norm.max_growth: must be >= 1 (line 1, column 29)"},
      {"fail_safes: {on_error: explode}\n",
       "policy: fail_safes.on_error: must be one of: accept, drop, fail_round "
       "(line 1, column 24)"},
      {"quarantine: {rounds: 2.5}\n",
       "policy: quarantine.rounds: expected an integer, got '2.5' (line 1, "
       "column 22)"},
      {"quarantine: {rounds: \"3\"}\n",
       "policy: quarantine.rounds: expected an integer, got the quoted "
       "string \"3\"; write it without quotes (line 1, column 22)"},
      {"quarantine: {enabled: maybe}\n",
       "policy: quarantine.enabled: expected true or false, got 'maybe' "
       "(line 1, column 23)"},
      {"thresholds: {rules: [{kind: static}]}\n",
       "policy: thresholds.rules[0]: a static rule needs 'value' (line 1, "
       "column 22)"},
      {"thresholds: {rules: [{value: 3}]}\n",
       "policy: thresholds.rules[0]: missing key 'kind' (line 1, column 22)"},
      {"thresholds: {rules: [{kind: static, value: 1, k: 2}]}\n",
       "policy: thresholds.rules[0].k: unknown key (known here: kind, name, "
       "value) (line 1, column 47)"},
      {"thresholds: {rules: [{kind: static, value: 1}, {kind: static, "
       "value: 2}]}\n",
       "policy: thresholds.rules[1]: rule name 'static' used twice (give each "
       "rule a distinct 'name') (line 1, column 48)"},
      {"lists: {allow: [a], deny: [a]}\n",
       "policy: lists.deny: client 'a' is on both the allow and deny list "
       "(line 1, column 27)"},
      {"audit: {path: x}\naudit: {path: y}\n",
       "policy: audit: key given twice (line 2, column 1)"},
      {"quarantine: {window_rounds: 2, strikes: 3}\n",
       "policy: quarantine.strikes: must be <= window_rounds (one strike per "
       "round at most) (line 1, column 13)"},
      {"state: [a]\n",
       "policy: state: expected a mapping of keys (line 1, column 8)"},
      {"- a\n- b\n",
       "policy: (document): expected a mapping of keys (line 1, column 1)"},
      {"actions: {downweight: {floor: 0}}\n",
       "policy: actions.downweight.floor: must be in (0, 1] (line 1, column "
       "31)"},
      {"guards: {norm: {k: .inf}}\n",
       "policy: guards.norm.k: expected a number, got '.inf' (line 1, "
       "column 20)"},
      {"detector: {threads: 99999999999999999999}\n",
       "policy: detector.threads: integer out of range (line 1, column 21)"},
      {"a: 1\n---\nb: 2\n", "policy: holds more than one YAML document"},
      {"detector: {path: d, bootstrap: {enabled: true}, refresh: "
       "{warmup_rounds: 2}}\n",
       "policy: detector.bootstrap.enabled: a bootstrapped detector needs an "
       "empty detector.path (line 1, column 42)"},
      {"detector: {bootstrap: {enabled: true}}\n",
       "policy: detector.bootstrap.enabled: a bootstrapped detector needs "
       "refresh.enabled and refresh.warmup_rounds >= 1 (it learns from "
       "trusted rounds) (line 1, column 33)"},
      {"detector: {bootstrap: {enabled: true}, refresh: {warmup_rounds: 1}}\n"
       "thresholds: {rules: [{kind: calibrated_quantile}]}\n",
       "policy: thresholds.rules[0].kind: calibrated_quantile needs a trained "
       "detector's calibration; a bootstrapped detector (detector.bootstrap) "
       "has none (line 2, column 29)"},
      {"detector: {bootstrap: {hidden: []}}\n",
       "policy: detector.bootstrap.hidden: expected a list of 1 to 8 "
       "integers (line 1, column 32)"},
      {"detector: {bootstrap: {sketch_dim: 8}}\n",
       "policy: detector.bootstrap.sketch_dim: must be in [64, 65536] (line 1, "
       "column 36)"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.yaml);
    auto r = ParsePolicyYaml(c.yaml);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == ErrorCode::kConfig);
    CHECK(r.status().message() == c.message);
  }
}

TEST_CASE("malformed YAML is a config error with a position, not a throw") {
  for (const char* text :
       {"thresholds: [", "a: b: c", "{", "key: 'unterminated", "\t- x",
        "a: &x [*x]", "? [a, b]\n: c\n"}) {
    CAPTURE(text);
    auto r = ParsePolicyYaml(text);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == ErrorCode::kConfig);
    CHECK(r.status().message().rfind("policy: ", 0) == 0);
  }
  auto r = ParsePolicyYaml("thresholds: [");
  CHECK(r.status().message().find("(line 1, column") != std::string::npos);
}

TEST_CASE("input on which yaml-cpp reports endless documents is refused") {
  // Found by tests/fuzz/policy_yaml_fuzz.cc: YAML::LoadAll never returned.
  const std::string text =
      ReadText(std::string(FLSENTRY_SOURCE_DIR) +
               "/tests/fuzz/corpus/policy_yaml/endless_documents.yaml");
  REQUIRE_FALSE(text.empty());
  auto r = ParsePolicyYaml(text);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message() == "policy: holds more than one YAML document");
}

TEST_CASE("deep nesting and oversize text are refused") {
  std::string deep(100000, '[');
  auto r = ParsePolicyYaml(deep);
  CHECK_FALSE(r.ok());
  std::string big(kMaxPolicyBytes + 1, ' ');
  r = ParsePolicyYaml(big);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message() == "policy: larger than 1 MiB");
}

TEST_CASE("a key with no value reads as an empty section") {
  auto r = ParsePolicyYaml("thresholds:\nquarantine:\n");
  REQUIRE(r.ok());
  CHECK(r->thresholds.rules.size() == 1);
  r = ParsePolicyYaml("thresholds: {rules: []}\n");
  REQUIRE(r.ok());
  CHECK(r->thresholds.rules.empty());
}

TEST_CASE("shipped config files load") {
  for (const char* name : {"default", "strict", "lenient"}) {
    CAPTURE(name);
    const std::string text = ReadText(std::string(FLSENTRY_SOURCE_DIR) +
                                      "/configs/" + name + ".yaml");
    REQUIRE_FALSE(text.empty());
    auto r = ParsePolicyYaml(text);
    REQUIRE_MESSAGE(r.ok(), r.status().message());
  }
  auto strict = ParsePolicyYaml(
      ReadText(std::string(FLSENTRY_SOURCE_DIR) + "/configs/strict.yaml"));
  auto lenient = ParsePolicyYaml(
      ReadText(std::string(FLSENTRY_SOURCE_DIR) + "/configs/lenient.yaml"));
  REQUIRE(strict.ok());
  REQUIRE(lenient.ok());
  CHECK(strict->actions.on_anomalous == AnomalyAction::kDrop);
  CHECK(lenient->actions.on_anomalous == AnomalyAction::kDownweight);
  CHECK_FALSE(lenient->quarantine.enabled);
  // default.yaml spells out the built-in defaults, plus file paths.
  auto file = ParsePolicyYaml(
      ReadText(std::string(FLSENTRY_SOURCE_DIR) + "/configs/default.yaml"));
  auto builtin = ParsePolicyYaml("");
  REQUIRE(file.ok());
  REQUIRE(builtin.ok());
  const PolicyConfig& a = *file;
  const PolicyConfig& b = *builtin;
  CHECK(a.state.path == "flsentry_state.json");
  CHECK(a.audit.path == "flsentry_audit.jsonl");
  // ...and bootstraps a detector that learns from 3 trusted rounds.
  CHECK(a.detector.bootstrap.enabled);
  CHECK_FALSE(b.detector.bootstrap.enabled);
  CHECK(a.detector.bootstrap.sketch_dim == b.detector.bootstrap.sketch_dim);
  CHECK(a.detector.bootstrap.hidden == b.detector.bootstrap.hidden);
  CHECK(a.detector.refresh.warmup_rounds == 3);
  CHECK(b.detector.refresh.warmup_rounds == 0);
  CHECK(a.detector.refresh.window_rounds == b.detector.refresh.window_rounds);
  CHECK(a.detector.refresh.learning_rate == b.detector.refresh.learning_rate);
  CHECK(a.detector.refresh.max_client_share ==
        b.detector.refresh.max_client_share);
  CHECK(a.detector.refresh.max_rows == b.detector.refresh.max_rows);
  REQUIRE(a.thresholds.rules.size() == 1);
  const ThresholdRule& ra = a.thresholds.rules[0];
  const ThresholdRule& rb = b.thresholds.rules[0];
  CHECK(ra.kind == rb.kind);
  CHECK(ra.k == rb.k);
  CHECK(ra.min_round_size == rb.min_round_size);
  CHECK(ra.history_rounds == rb.history_rounds);
  CHECK(ra.min_relative_spread == rb.min_relative_spread);
  CHECK(a.actions.on_anomalous == b.actions.on_anomalous);
  CHECK(a.actions.downweight.function == b.actions.downweight.function);
  CHECK(a.actions.downweight.floor == b.actions.downweight.floor);
  CHECK(a.guards.norm.enabled == b.guards.norm.enabled);
  CHECK(a.guards.norm.k == b.guards.norm.k);
  CHECK(a.guards.norm.mode == b.guards.norm.mode);
  CHECK(a.fail_safes.max_drop_fraction == b.fail_safes.max_drop_fraction);
  CHECK(a.fail_safes.min_accepted == b.fail_safes.min_accepted);
  CHECK(a.fail_safes.on_error == b.fail_safes.on_error);
  CHECK(a.quarantine.window_rounds == b.quarantine.window_rounds);
  CHECK(a.quarantine.strikes == b.quarantine.strikes);
  CHECK(a.quarantine.rounds == b.quarantine.rounds);
  CHECK(a.quarantine.strike_on == b.quarantine.strike_on);
  CHECK(a.quarantine.strike_weight.full_at ==
        b.quarantine.strike_weight.full_at);
  CHECK(a.quarantine.strike_weight.min_weight ==
        b.quarantine.strike_weight.min_weight);
  CHECK(a.guards.consistency.enabled == b.guards.consistency.enabled);
  CHECK(a.guards.consistency.min_cosine == b.guards.consistency.min_cosine);
  CHECK(a.guards.opposition.enabled == b.guards.opposition.enabled);
  CHECK(a.guards.opposition.max_opposition ==
        b.guards.opposition.max_opposition);
  CHECK(a.guards.columns.enabled == b.guards.columns.enabled);
  CHECK(a.guards.columns.max_share == b.guards.columns.max_share);
  CHECK(a.guards.columns.max_peak_share == b.guards.columns.max_peak_share);
  CHECK(a.guards.num_examples.enabled == b.guards.num_examples.enabled);
  CHECK(a.guards.num_examples.k == b.guards.num_examples.k);
  CHECK(a.guards.num_examples.history_k == b.guards.num_examples.history_k);
  CHECK(a.guards.num_examples.mode == b.guards.num_examples.mode);
  CHECK(a.guards.num_examples.min_round_size ==
        b.guards.num_examples.min_round_size);
  CHECK(a.thresholds.client_baseline.enabled ==
        b.thresholds.client_baseline.enabled);
  CHECK(a.thresholds.client_baseline.rounds ==
        b.thresholds.client_baseline.rounds);
  CHECK(a.thresholds.client_baseline.min_rounds ==
        b.thresholds.client_baseline.min_rounds);
  CHECK(a.thresholds.client_baseline.max_factor ==
        b.thresholds.client_baseline.max_factor);
  CHECK(a.thresholds.client_baseline.min_consistency ==
        b.thresholds.client_baseline.min_consistency);
  CHECK(a.thresholds.client_baseline.statistic ==
        b.thresholds.client_baseline.statistic);
  CHECK(a.thresholds.client_baseline.grace ==
        b.thresholds.client_baseline.grace);
  CHECK(a.fail_safes.severe_suspicion == b.fail_safes.severe_suspicion);
  CHECK(a.quarantine.probation.rounds == b.quarantine.probation.rounds);
  CHECK(a.quarantine.probation.threshold_scale ==
        b.quarantine.probation.threshold_scale);
  CHECK(a.quarantine.probation.max_weight == b.quarantine.probation.max_weight);
  CHECK(a.quarantine.probation.strikes_to_requarantine ==
        b.quarantine.probation.strikes_to_requarantine);
  CHECK(a.reputation.rate == b.reputation.rate);
}

TEST_CASE("detector.bootstrap.sketch_version: 1 by default, 1 or 2 accepted") {
  auto plain = ParsePolicyYaml("");
  REQUIRE(plain.ok());
  CHECK(plain->detector.bootstrap.sketch_version == 1);
  auto two = ParsePolicyYaml(
      "detector:\n  bootstrap: {enabled: true, sketch_version: 2}\n"
      "  refresh: {warmup_rounds: 3}\n");
  REQUIRE_MESSAGE(two.ok(), two.status().message());
  CHECK(two->detector.bootstrap.sketch_version == 2);
  auto three = ParsePolicyYaml("detector:\n  bootstrap: {sketch_version: 3}\n");
  REQUIRE_FALSE(three.ok());
  CHECK(three.status().message().find("detector.bootstrap.sketch_version") !=
        std::string::npos);
}
