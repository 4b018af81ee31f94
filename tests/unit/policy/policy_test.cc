#include "policy/policy.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

using namespace flsentry;

namespace {

PolicyConfig Config(const std::string& yaml) {
  auto c = ParsePolicyYaml(yaml);
  REQUIRE_MESSAGE(c.ok(), c.status().message());
  return *c;
}

// Static threshold 1.0, no fail-safes, no quarantine: one decision at a time.
const char* kIsolated = R"(
thresholds: {rules: [{kind: static, value: 1.0}]}
fail_safes: {max_drop_fraction: 1, min_accepted: 0}
quarantine: {enabled: false}
)";

PolicyInput In(std::string id, double score, double norm = NAN) {
  PolicyInput in;
  in.client_id = std::move(id);
  in.num_examples = 10;
  in.score.score = score;
  in.score.scored = std::isfinite(score);
  in.score.norm = norm;
  return in;
}

PolicyInput Guarded(std::string id, uint32_t flags, std::string reason) {
  PolicyInput in = In(std::move(id), NAN);
  in.guard_flags = flags;
  in.guard_reason = std::move(reason);
  return in;
}

PolicyInput Failed(std::string id) {
  PolicyInput in = In(std::move(id), NAN);
  in.score.error = "autoencoder: shape";
  return in;
}

struct Expect {
  Action action;
  double weight;
  const char* reason;
  uint32_t flags;
};

// Flags are compared without no_average, the round-level flag (a round of
// one dropped update has nothing to average); its own cases test it.
void CheckDecision(const Decision& d, const Expect& e) {
  CHECK(ActionName(d.action) == std::string(ActionName(e.action)));
  CHECK(d.weight == doctest::Approx(e.weight));
  CHECK(d.reason == e.reason);
  CHECK(FlagNames(d.flags & ~kFlagNoAverage) == FlagNames(e.flags));
}

RoundOutcome Decide(Policy& policy, uint64_t round,
                    const std::vector<PolicyInput>& inputs,
                    const Calibration* calibration = nullptr) {
  auto r = policy.DecideRound(round, inputs, calibration);
  REQUIRE_MESSAGE(r.ok(), r.status().message());
  REQUIRE(r->decisions.size() == inputs.size());
  REQUIRE(r->audit_records.size() == inputs.size());
  return std::move(r).value();
}

}  // namespace

TEST_CASE("actions: accept, drop, down-weight, lists") {
  struct Case {
    const char* what;
    std::string extra_yaml;
    PolicyInput input;
    Expect expect;
  };
  const std::string linear =
      "actions: {on_anomalous: downweight, downweight: {function: linear, "
      "slope: 1, floor: 0.1}}\n";
  const std::string expo =
      "actions: {on_anomalous: downweight, downweight: {function: "
      "exponential, rate: 1, floor: 0.2}}\n";
  const std::string drop = "actions: {on_anomalous: drop}\n";
  const std::string lists = drop + "lists: {allow: [friend], deny: [foe]}\n";
  const Case cases[] = {
      {"below threshold", drop, In("a", 0.5), {Action::kAccept, 1, "ok", 0}},
      {"at threshold", drop, In("a", 1.0), {Action::kAccept, 1, "ok", 0}},
      {"not scored", drop, In("a", NAN), {Action::kAccept, 1, "ok", 0}},
      {"drop",
       drop,
       In("a", 2.0),
       {Action::kDrop, 0, "anomalous", kFlagAnomalous}},
      {"linear",
       linear,
       In("a", 1.5),
       {Action::kDownweight, 0.5, "anomalous", kFlagAnomalous}},
      {"linear floor",
       linear,
       In("a", 50),
       {Action::kDownweight, 0.1, "anomalous", kFlagAnomalous}},
      {"exponential",
       expo,
       In("a", 2.0),
       {Action::kDownweight, std::exp(-1.0), "anomalous", kFlagAnomalous}},
      {"exponential floor",
       expo,
       In("a", 9.0),
       {Action::kDownweight, 0.2, "anomalous", kFlagAnomalous}},
      {"allow-listed anomalous",
       lists,
       In("friend", 5.0),
       {Action::kAccept, 1, "allowlisted", kFlagAnomalous | kFlagAllowlisted}},
      {"deny-listed benign",
       lists,
       In("foe", 0.1),
       {Action::kDrop, 0, "denylisted", kFlagDenylisted}},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    Policy policy(Config(std::string(kIsolated) + c.extra_yaml));
    RoundOutcome out = Decide(policy, 1, {c.input});
    CheckDecision(out.decisions[0], c.expect);
    CHECK_FALSE(out.suspicious);
    if (std::isfinite(c.input.score.score)) {
      CHECK(out.decisions[0].threshold == 1.0);
      CHECK(out.decisions[0].score == c.input.score.score);
    }
  }
}

TEST_CASE("guards: engine flags, norm guard modes") {
  struct Case {
    const char* what;
    std::string extra_yaml;
    std::vector<PolicyInput> inputs;
    size_t index;  // the decision checked
    Expect expect;
  };
  const std::string lists = "lists: {allow: [friend]}\n";
  const std::vector<PolicyInput> norms = {In("a", NAN, 1), In("b", NAN, 1),
                                          In("c", NAN, 1), In("d", NAN, 10)};
  auto Similar = [](std::string id, double similarity) {
    PolicyInput in = In(std::move(id), 0.5);
    in.score.max_similarity = similarity;
    return in;
  };
  const std::vector<PolicyInput> similar = {
      Similar("a", 0.5), Similar("b", 0.995), Similar("c", 0.995),
      Similar("d", 0.99)};
  auto norm_yaml = [](const char* mode) {
    return std::string("guards: {norm: {enabled: true, k: 2, mode: ") + mode +
           ", min_round_size: 4}}\n";
  };
  const Case cases[] = {
      {"nonfinite",
       "",
       {Guarded("a", kFlagNonFinite, "nonfinite")},
       0,
       {Action::kDrop, 0, "nonfinite", kFlagNonFinite}},
      {"shape mismatch",
       "",
       {Guarded("a", kFlagShapeMismatch, "shape_mismatch")},
       0,
       {Action::kDrop, 0, "shape_mismatch", kFlagShapeMismatch}},
      {"invalid",
       "",
       {Guarded("a", kFlagInvalid, "invalid: rank 9")},
       0,
       {Action::kDrop, 0, "invalid: rank 9", kFlagInvalid}},
      {"invalid without reason",
       "",
       {Guarded("a", kFlagInvalid, "")},
       0,
       {Action::kDrop, 0, "invalid", kFlagInvalid}},
      {"guards beat the allow-list",
       lists,
       {Guarded("friend", kFlagNonFinite, "nonfinite")},
       0,
       {Action::kDrop, 0, "nonfinite", kFlagNonFinite}},
      {"norm clip",
       norm_yaml("clip"),
       norms,
       3,
       {Action::kDownweight, 0.2, "norm_guard", kFlagNormGuard}},
      {"norm clip leaves the rest",
       norm_yaml("clip"),
       norms,
       0,
       {Action::kAccept, 1, "ok", 0}},
      {"norm downweight",
       norm_yaml("downweight"),
       norms,
       3,
       // exponential, rate 1 on relative excess (10 - 2) / 2 = 4
       {Action::kDownweight, 0.1, "norm_guard", kFlagNormGuard}},
      {"norm drop",
       norm_yaml("drop"),
       norms,
       3,
       {Action::kDrop, 0, "norm_guard", kFlagNormGuard}},
      {"norm guard abstains below min size",
       norm_yaml("drop"),
       {In("a", NAN, 1), In("b", NAN, 1), In("d", NAN, 10)},
       2,
       {Action::kAccept, 1, "ok", 0}},
      {"duplicate: near-copies of another update are dropped",
       "",
       similar,
       1,
       {Action::kDrop, 0, "duplicate", kFlagDuplicate}},
      {"duplicate: the others are accepted",
       "",
       similar,
       0,
       {Action::kAccept, 1, "ok", 0}},
      {"duplicate: at the limit is not a duplicate",
       "",
       similar,
       3,
       {Action::kAccept, 1, "ok", 0}},
      {"duplicate: disabled",
       "guards: {duplicate: {enabled: false}}\n",
       similar,
       1,
       {Action::kAccept, 1, "ok", 0}},
      {"duplicate: own limit",
       "guards: {duplicate: {max_similarity: 0.4}}\n",
       similar,
       0,
       {Action::kDrop, 0, "duplicate", kFlagDuplicate}},
      {"duplicate: the allow-list wins",
       lists,
       {Similar("friend", 0.999), Similar("b", 0.999)},
       0,
       {Action::kAccept, 1, "allowlisted", kFlagAllowlisted | kFlagDuplicate}},
      {"guard-flagged norms are not in the median",
       norm_yaml("drop"),
       {In("a", NAN, 1), In("b", NAN, 1), In("c", NAN, 1), In("d", NAN, 3),
        [] {
          PolicyInput g = Guarded("g", kFlagShapeMismatch, "shape_mismatch");
          g.score.norm = 100;
          return g;
        }()},
       3,
       {Action::kDrop, 0, "norm_guard", kFlagNormGuard}},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    Policy policy(Config(std::string(kIsolated) + c.extra_yaml));
    RoundOutcome out = Decide(policy, 1, c.inputs);
    CheckDecision(out.decisions[c.index], c.expect);
  }
}

TEST_CASE("fail-safes: max_drop_fraction, min_accepted, on_error") {
  const std::string drop =
      "thresholds: {rules: [{kind: static, value: 1.0}]}\n"
      "quarantine: {enabled: false}\nactions: {on_anomalous: drop}\n";
  // A restored update keeps min(1, 1 / suspicion); suspicion = score / 1.
  auto kept = [](double score) {
    return Expect{Action::kDownweight, 1 / score, "failsafe_kept",
                  kFlagAnomalous | kFlagFailsafe};
  };
  const Expect dropped{Action::kDrop, 0, "anomalous", kFlagAnomalous};
  const Expect ok{Action::kAccept, 1, "ok", 0};
  const Expect nonfinite{Action::kDrop, 0, "nonfinite", kFlagNonFinite};
  struct Case {
    const char* what;
    std::string fail_safes;
    std::vector<PolicyInput> inputs;
    std::vector<Expect> expect;
    bool suspicious;
  };
  const Case cases[] = {
      {"within the share",
       "{max_drop_fraction: 0.5, min_accepted: 0}",
       {In("a", 3), In("b", 0.5), In("c", 0.5), In("d", 4)},
       {dropped, ok, ok, dropped},
       false},
      {"only the highest-scoring drops",
       "{max_drop_fraction: 0.25, min_accepted: 0, restore_severe: true}",
       {In("a", 3), In("b", 0.5), In("c", 5), In("d", 2), In("e", 0.5),
        In("f", 0.5), In("g", 4), In("h", 0.5)},
       {kept(3), ok, dropped, kept(2), ok, ok, dropped, ok},
       true},
      {"guard drops count and are never restored",
       "{max_drop_fraction: 0.25, min_accepted: 0, restore_severe: true}",
       {Guarded("a", kFlagNonFinite, "nonfinite"), In("b", 3), In("c", 0.5),
        Guarded("d", kFlagNonFinite, "nonfinite"), In("e", 0.5), In("f", 9),
        In("g", 0.5), In("h", 0.5)},
       {nonfinite, kept(3), ok, nonfinite, ok, kept(9), ok, ok},
       true},
      {"severe drops (suspicion >= 2) stay dropped by default",
       "{max_drop_fraction: 0.25, min_accepted: 0}",
       {In("a", 3), In("b", 0.5), In("c", 5), In("d", 1.5), In("e", 0.5),
        In("f", 0.5), In("g", 4), In("h", 0.5)},
       {dropped, ok, dropped, kept(1.5), ok, ok, dropped, ok},
       true},
      {"nothing restorable: the round keeps its drops, not suspicious",
       "{max_drop_fraction: 0.25, min_accepted: 0}",
       {In("a", 3), In("b", 0.5), In("c", 5), In("d", 2)},
       {dropped, ok, dropped, dropped},
       false},
      {"min_accepted restores severe drops too",
       "{max_drop_fraction: 0.25, min_accepted: 1}",
       {In("a", 3), In("b", 5)},
       {kept(3), dropped},
       true},
      {"min_accepted restores the least anomalous",
       "{max_drop_fraction: 1, min_accepted: 2}",
       {In("a", 3), In("b", 2), In("c", 5)},
       {kept(3), kept(2), dropped},  // b (2) then a (3); c (5) stays dropped
       true},
      {"min_accepted above the round size keeps everything",
       "{max_drop_fraction: 1, min_accepted: 5}",
       {In("a", 3), In("b", 2)},
       {kept(3), kept(2)},
       true},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    Policy policy(Config(drop + "fail_safes: " + c.fail_safes + "\n"));
    RoundOutcome out = Decide(policy, 1, c.inputs);
    CHECK(out.suspicious == c.suspicious);
    for (size_t i = 0; i < c.expect.size(); ++i) {
      CAPTURE(i);
      CheckDecision(out.decisions[i], c.expect[i]);
      CHECK(out.audit_records[i]["suspicious_round"] == c.suspicious);
    }
  }
}

TEST_CASE("on_error: accept, drop, fail_round") {
  const std::string base =
      "thresholds: {rules: [{kind: static, value: 1.0}]}\n"
      "quarantine: {enabled: false}\n"
      "fail_safes: {max_drop_fraction: 1, min_accepted: 0, on_error: ";
  Policy accept(Config(base + "accept}\n"));
  CheckDecision(
      Decide(accept, 1, {Failed("a")}).decisions[0],
      {Action::kAccept, 1, "score_failed_accepted", kFlagScoreFailed});
  Policy drop(Config(base + "drop}\n"));
  RoundOutcome out = Decide(drop, 1, {Failed("a")});
  CheckDecision(out.decisions[0],
                {Action::kDrop, 0, "score_failed", kFlagScoreFailed});
  CHECK(out.audit_records[0]["score_error"] == "autoencoder: shape");

  Policy fail(Config(base + "fail_round}\n"));
  Decide(fail, 1, {In("a", 0.5)});
  const std::string before = fail.SaveState().dump();
  auto r = fail.DecideRound(
      2, std::vector<PolicyInput>{In("b", 5), Failed("a")}, nullptr);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == ErrorCode::kInvalidArgument);
  CHECK(r.status().message().find("'a'") != std::string::npos);
  CHECK(fail.SaveState().dump() == before);
}

TEST_CASE("calibrated thresholds come from the detector's calibration") {
  Policy policy(
      Config("thresholds: {combine: any, rules: [{kind: calibrated_quantile, "
             "level: 0.99}, {kind: calibrated_mean_std, k: 2}]}\n"
             "actions: {on_anomalous: drop}\nquarantine: {enabled: false}\n"
             "fail_safes: {max_drop_fraction: 1}\n"));
  Calibration calib;
  calib.count = 10;
  calib.mean = 1;
  calib.stddev = 1;  // mean + 2 std = 3
  calib.quantiles = {{0.99, 4}};
  RoundOutcome out = Decide(policy, 1, {In("a", 2.5), In("b", 3.5)}, &calib);
  CHECK(out.decisions[0].action == Action::kAccept);
  CHECK(out.decisions[1].action == Action::kDrop);
  CHECK(out.decisions[1].threshold == 3);
  CHECK(out.audit_records[1]["thresholds"]["calibrated_quantile"] == 4.0);
  CHECK(out.audit_records[1]["thresholds"]["calibrated_mean_std"] == 3.0);
  // Without calibration both rules abstain: nothing is flagged.
  out = Decide(policy, 2, {In("a", 2.5), In("b", 30)});
  CHECK(out.decisions[1].action == Action::kAccept);
  CHECK(std::isnan(out.decisions[1].threshold));
  CHECK(out.audit_records[1]["thresholds"]["calibrated_quantile"].is_null());
}

namespace {

// Six benign clients scoring about 1.0 and "evil", who attacks (score 10)
// in the rounds listed and otherwise looks benign.
std::vector<PolicyInput> ScenarioRound(uint64_t round,
                                       const std::vector<uint64_t>& attacks) {
  std::vector<PolicyInput> inputs;
  for (int i = 0; i < 6; ++i) {
    inputs.push_back(
        In("c" + std::to_string(i),
           1.0 + 0.01 * static_cast<double>((i * 7 + round * 3) % 5)));
  }
  const bool attacking =
      std::find(attacks.begin(), attacks.end(), round) != attacks.end();
  inputs.push_back(In("evil", attacking ? 10.0 : 1.02));
  return inputs;
}

const char* kScenario = R"(
thresholds: {rules: [{kind: round_robust, k: 6, min_round_size: 5}]}
actions: {on_anomalous: drop}
quarantine:
  window_rounds: 5
  strikes: 3
  rounds: 2
  probation: {rounds: 2, threshold_scale: 0.8, max_weight: 0.5,
              strikes_to_requarantine: 1}
)";

}  // namespace

TEST_CASE("scenario: attacks in rounds 3-5 -> quarantine from 5, probation") {
  Policy policy(Config(kScenario));
  struct Row {
    uint64_t round;
    Expect expect;
    const char* status;
    int strikes;
    double reputation;
  };
  const uint32_t kAQ = kFlagAnomalous | kFlagQuarantined;
  const Row rows[] = {
      {1, {Action::kAccept, 1, "ok", 0}, "normal", 0, 1.0},
      {2, {Action::kAccept, 1, "ok", 0}, "normal", 0, 1.0},
      {3, {Action::kDrop, 0, "anomalous", kFlagAnomalous}, "normal", 1, 0.8},
      {4, {Action::kDrop, 0, "anomalous", kFlagAnomalous}, "normal", 2, 0.64},
      {5, {Action::kDrop, 0, "quarantined", kAQ}, "quarantined", 0, 0.512},
      {6,
       {Action::kDrop, 0, "quarantined", kFlagQuarantined},
       "quarantined",
       0,
       0.6096},
      {7,
       {Action::kDownweight, 0.5, "probation", kFlagProbation},
       "probation",
       0,
       0.68768},
      {8,
       {Action::kDownweight, 0.5, "probation", kFlagProbation},
       "probation",
       0,
       0.750144},
      {9, {Action::kAccept, 1, "ok", 0}, "normal", 0, 0.8001152},
  };
  for (const Row& row : rows) {
    CAPTURE(row.round);
    RoundOutcome out =
        Decide(policy, row.round, ScenarioRound(row.round, {3, 4, 5}));
    CheckDecision(out.decisions[6], row.expect);
    for (int i = 0; i < 6; ++i) {
      CHECK(out.decisions[i].action == Action::kAccept);
    }
    const nlohmann::json& audit = out.audit_records[6];
    CHECK(audit["round"] == row.round);
    CHECK(audit["client"] == "evil");
    CHECK(audit["client_status"] == row.status);
    CHECK(audit["strikes"] == row.strikes);
    CHECK(audit["reputation"].get<double>() == doctest::Approx(row.reputation));
    CHECK(audit["action"] == ActionName(row.expect.action));
    CHECK(audit["reason"] == row.expect.reason);
    CHECK(audit["flags"] == FlagNames(row.expect.flags));
    CHECK(audit["suspicious_round"] == false);
    if (row.round >= 5) {
      CHECK(audit["quarantine_end"] == 7);
      CHECK(audit["probation_end"] == 9);
    }
    if (row.round == 5) {
      const nlohmann::json evil = policy.SaveState()["clients"]["evil"];
      CHECK(evil["quarantine_end"] == 7);
      CHECK(evil["probation_end"] == 9);
      CHECK(evil["quarantines"] == 1);
      CHECK(evil["strikes"].empty());
      CHECK(policy.SaveState()["clients"]["c0"]["strikes"].empty());
    }
  }
}

TEST_CASE("scenario: a restart between rounds 4 and 5 changes nothing") {
  const std::vector<uint64_t> attacks = {3, 4, 5};
  Policy straight(Config(kScenario));
  std::vector<nlohmann::json> straight_audit;
  for (uint64_t r = 1; r <= 9; ++r) {
    RoundOutcome out = Decide(straight, r, ScenarioRound(r, attacks));
    if (r >= 5)
      straight_audit.insert(straight_audit.end(), out.audit_records.begin(),
                            out.audit_records.end());
  }

  // The state crosses the restart as text, as the state file carries it
  // (the file itself is engine/state_store.h's, tested there).
  std::string saved;
  {
    Policy first(Config(kScenario));
    for (uint64_t r = 1; r <= 4; ++r)
      Decide(first, r, ScenarioRound(r, attacks));
    saved = first.SaveState().dump();
  }
  Policy second(Config(kScenario));
  REQUIRE(second.LoadState(nlohmann::json::parse(saved)).ok());
  std::vector<nlohmann::json> restarted_audit;
  for (uint64_t r = 5; r <= 9; ++r) {
    RoundOutcome out = Decide(second, r, ScenarioRound(r, attacks));
    restarted_audit.insert(restarted_audit.end(), out.audit_records.begin(),
                           out.audit_records.end());
  }
  CHECK(restarted_audit == straight_audit);
  CHECK(second.SaveState() == straight.SaveState());
}

TEST_CASE(
    "strikes slide over a window of host rounds; absent clients keep them") {
  Policy policy(Config(kScenario));
  // "returner" strikes in 1 and 2, is absent in 3 and 4 and strikes in 5:
  // three strikes within rounds 1..5 -> quarantined. "slow" strikes in 1 and
  // 2 and again in 6: the window at round 6 holds rounds 2..6, two strikes.
  auto round_with = [](uint64_t r, std::vector<std::string> attackers,
                       std::vector<std::string> present) {
    std::vector<PolicyInput> inputs = ScenarioRound(r, {});
    inputs.pop_back();
    for (const std::string& id : present) {
      const bool attack =
          std::find(attackers.begin(), attackers.end(), id) != attackers.end();
      inputs.push_back(In(id, attack ? 10.0 : 1.02));
    }
    return inputs;
  };
  Decide(policy, 1, round_with(1, {"returner", "slow"}, {"returner", "slow"}));
  Decide(policy, 2, round_with(2, {"returner", "slow"}, {"returner", "slow"}));
  Decide(policy, 3, round_with(3, {}, {}));
  Decide(policy, 4, round_with(4, {}, {}));
  CHECK(policy.SaveState()["clients"]["returner"]["strikes"] ==
        nlohmann::json::parse("[[1, 1.0], [2, 1.0]]"));
  RoundOutcome out =
      Decide(policy, 5, round_with(5, {"returner"}, {"returner"}));
  CHECK(out.decisions.back().reason == "quarantined");
  CHECK(out.audit_records.back()["quarantine_end"] == 7);
  out = Decide(policy, 6, round_with(6, {"slow"}, {"slow"}));
  CHECK(out.decisions.back().reason == "anomalous");
  CHECK(out.audit_records.back()["strikes"] == 2);
  CHECK(policy.SaveState()["clients"]["slow"]["strikes"] ==
        nlohmann::json::parse("[[2, 1.0], [6, 1.0]]"));
}

TEST_CASE("a strike on probation quarantines again") {
  Policy policy(Config(kScenario));
  for (uint64_t r = 1; r <= 7; ++r) {
    RoundOutcome out = Decide(policy, r, ScenarioRound(r, {3, 4, 5, 7}));
    if (r == 7) {
      CHECK(out.decisions[6].reason == "quarantined");
      CHECK(out.audit_records[6]["quarantine_end"] == 9);
      CHECK(out.audit_records[6]["probation_end"] == 11);
      CHECK(policy.SaveState()["clients"]["evil"]["quarantines"] == 2);
    }
  }
}

TEST_CASE("without a detector, guard drops strike and quarantine") {
  Policy policy(
      Config("quarantine: {window_rounds: 5, strikes: 3, rounds: 2}\n"
             "fail_safes: {max_drop_fraction: 1}\n"));
  for (uint64_t r = 1; r <= 4; ++r) {
    std::vector<PolicyInput> inputs = {
        In("a", NAN, 1.0), In("b", NAN, 1.0),
        Guarded("bad", kFlagNonFinite, "nonfinite")};
    if (r == 4) inputs[2] = In("bad", NAN, 1.0);
    RoundOutcome out = Decide(policy, r, inputs);
    CHECK(std::isnan(out.decisions[0].threshold));
    CHECK(out.decisions[0].action == Action::kAccept);
    CHECK(out.decisions[2].action == Action::kDrop);
    CHECK(out.decisions[2].reason ==
          std::string(r < 3 ? "nonfinite" : "quarantined"));
  }
}

TEST_CASE("a fail-safe restores at 1/suspicion; severe restores still strike") {
  const std::string yaml =
      "thresholds: {rules: [{kind: static, value: 1}]}\n"
      "actions: {on_anomalous: drop}\n"
      "fail_safes: {max_drop_fraction: 0, severe_suspicion: 2, "
      "restore_severe: true}\n"
      "quarantine: {window_rounds: 3, strikes: 1, rounds: 2}\n";
  SUBCASE("mild: restored at 1/1.5, no strike") {
    Policy policy(Config(yaml));
    RoundOutcome out = Decide(policy, 1, {In("a", 1.5), In("b", 0.5)});
    CHECK(out.suspicious);
    CheckDecision(out.decisions[0],
                  {Action::kDownweight, 1 / 1.5, "failsafe_kept",
                   kFlagAnomalous | kFlagFailsafe});
    CHECK(out.audit_records[0]["failsafe"] == "max_drop_fraction");
    CHECK(out.audit_records[0]["strike_weight"] == 0.0);
    CHECK(policy.SaveState()["clients"]["a"]["strikes"].empty());
    CHECK(policy.SaveState()["clients"]["a"]["reputation"] == 1.0);
    REQUIRE(out.notes.size() == 1);
    CHECK(out.notes[0].find("max_drop_fraction restored 1") !=
          std::string::npos);
    CHECK(out.notes[0].find("a at weight 0.667") != std::string::npos);
  }
  SUBCASE("severe: restored at 1/5 but struck, and a strike quarantines") {
    Policy policy(Config(yaml));
    RoundOutcome out = Decide(policy, 1, {In("a", 5), In("b", 0.5)});
    CHECK(out.suspicious);
    // The strike quarantines at once (strikes: 1): the update is dropped.
    CheckDecision(out.decisions[0],
                  {Action::kDrop, 0, "quarantined",
                   kFlagAnomalous | kFlagFailsafe | kFlagQuarantined});
    CHECK(out.audit_records[0]["strike_weight"] == 1.0);
  }
}
