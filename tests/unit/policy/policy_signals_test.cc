// The policy's per-update signals beyond the score (policy.h): the
// centrality guard, the norm guard's drop limit and history anchor, the
// opposition guard, the column guard, the consistency guard's drift rule,
// and Decision::suspicion. policy_test.cc covers the rest of policy.h.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "policy/policy.h"

using namespace flsentry;

namespace {

// Static threshold 1.0, no fail-safes, no quarantine.
const std::string kIsolated = R"(
thresholds: {rules: [{kind: static, value: 1.0}]}
fail_safes: {max_drop_fraction: 1, min_accepted: 0}
quarantine: {enabled: false}
)";

Policy Make(const std::string& yaml) {
  auto c = ParsePolicyYaml(yaml);
  REQUIRE_MESSAGE(c.ok(), c.status().message());
  return Policy(*c);
}

PolicyInput In(std::string id, double score, double norm, double centrality) {
  PolicyInput in;
  in.client_id = std::move(id);
  in.num_examples = 10;
  in.score.score = score;
  in.score.scored = true;
  in.score.norm = norm;
  in.score.centrality = centrality;
  return in;
}

// Five honest updates around centrality 0.5 and one at 0.95: typicality
// (1 - 0.5) / (1 - 0.95) = 10.
std::vector<PolicyInput> Round(double last_centrality = 0.95) {
  return {In("a", 0.5, 1, 0.5),  In("b", 0.2, 1, 0.4),
          In("c", 0.3, 1, 0.6),  In("d", 0.4, 1, 0.5),
          In("e", 0.3, 1, 0.45), In("z", 0.1, 1, last_centrality)};
}

RoundOutcome Decide(Policy& policy, uint64_t round,
                    const std::vector<PolicyInput>& inputs) {
  auto r = policy.DecideRound(round, inputs, nullptr);
  REQUIRE_MESSAGE(r.ok(), r.status().message());
  return std::move(r).value();
}

}  // namespace

TEST_CASE("centrality guard: the update closest to the others' mean") {
  Policy policy = Make(kIsolated);
  RoundOutcome out = Decide(policy, 1, Round());
  const Decision& z = out.decisions[5];
  CHECK(z.action == Action::kDrop);
  CHECK(z.reason == "central");
  CHECK(FlagNames(z.flags) == std::vector<std::string>{"central"});
  CHECK(out.audit_records[5]["typicality"].get<double>() ==
        doctest::Approx(10.0));
  CHECK(out.audit_records[5]["centrality"].get<double>() ==
        doctest::Approx(0.95));
  for (size_t i = 0; i < 5; ++i)
    CHECK(out.decisions[i].action == Action::kAccept);
  // A strike, by default.
  CHECK(out.audit_records[5]["strikes"].get<int>() == 1);
}

TEST_CASE("centrality guard: limits, abstention and switching off") {
  SUBCASE("at 3x the median's distance it is honest") {
    Policy policy = Make(kIsolated);  // 0.5 / (1 - 5/6) = 3 <= 4
    CHECK(Decide(policy, 1, Round(1.0 - 0.5 / 3)).decisions[5].reason == "ok");
  }
  SUBCASE("own limit") {
    Policy policy =
        Make(kIsolated + "guards: {centrality: {max_typicality: 2}}\n");
    CHECK(Decide(policy, 1, Round(1.0 - 0.5 / 3)).decisions[5].reason ==
          "central");
  }
  SUBCASE("too few centralities") {
    Policy policy =
        Make(kIsolated + "guards: {centrality: {min_round_size: 7}}\n");
    CHECK(Decide(policy, 1, Round()).decisions[5].reason == "ok");
  }
  SUBCASE("disabled") {
    Policy policy =
        Make(kIsolated + "guards: {centrality: {enabled: false}}\n");
    RoundOutcome out = Decide(policy, 1, Round());
    CHECK(out.decisions[5].reason == "ok");
    CHECK(out.audit_records[5]["typicality"].is_null());
  }
  SUBCASE("not a strike when left out of strike_on") {
    Policy policy = Make(
        "thresholds: {rules: [{kind: static, value: 1.0}]}\n"
        "fail_safes: {max_drop_fraction: 1, min_accepted: 0}\n"
        "quarantine: {enabled: false, strike_on: [anomalous]}\n");
    CHECK(Decide(policy, 1, Round()).audit_records[5]["strikes"].get<int>() ==
          0);
  }
  SUBCASE("a limit of 1 or less is refused") {
    auto c = ParsePolicyYaml("guards: {centrality: {max_typicality: 1}}\n");
    REQUIRE_FALSE(c.ok());
    CHECK(c.status().message().find("max_typicality") != std::string::npos);
  }
}

TEST_CASE("suspicion: the largest ratio of a signal to its limit") {
  Policy policy = Make(kIsolated);
  std::vector<PolicyInput> inputs = Round();
  inputs[1].score.norm = 6;              // norm guard: 6 / (3 x median 1) = 2
  inputs[2].score.max_similarity = 0.9;  // (1 - 0.99) / (1 - 0.9) = 0.1
  PolicyInput guarded = In("g", NAN, NAN, NAN);
  guarded.score.scored = false;
  guarded.guard_flags = kFlagNonFinite;
  guarded.guard_reason = "nonfinite";
  inputs.push_back(guarded);
  RoundOutcome out = Decide(policy, 1, inputs);
  // a: score 0.5 / 1 beats typicality (0.5 / 0.5) / 4 and norm 1 / 3.
  CHECK(out.decisions[0].suspicion == doctest::Approx(0.5));
  CHECK(out.decisions[1].suspicion == doctest::Approx(2.0));
  CHECK(out.decisions[2].suspicion == doctest::Approx(1.0 / 3));  // its norm
  inputs[2].score.max_similarity = 0.995;
  CHECK(Decide(policy, 2, inputs).decisions[2].suspicion ==
        doctest::Approx(2.0));
  CHECK(out.decisions[5].suspicion == doctest::Approx(10.0 / 4.0));
  CHECK(std::isnan(out.decisions[6].suspicion));  // not judged
  CHECK(out.audit_records[1]["suspicion"].get<double>() ==
        doctest::Approx(2.0));
  // Above 1 exactly when some signal fired.
  for (size_t i = 0; i < 6; ++i) {
    CAPTURE(i);
    CHECK((out.decisions[i].suspicion > 1.0) == (out.decisions[i].flags != 0));
  }
}

namespace {

std::vector<PolicyInput> Norms(const std::vector<double>& norms) {
  std::vector<PolicyInput> inputs;
  for (size_t i = 0; i < norms.size(); ++i) {
    inputs.push_back(In("c" + std::to_string(i), 0.5, norms[i], NAN));
  }
  return inputs;
}

}  // namespace

TEST_CASE("norm guard: above drop_k x the reference it drops in clip mode") {
  // Reference: the median norm 1; k 3 clips above 3, drop_k 10 drops above 10.
  const std::vector<PolicyInput> round = Norms({1, 1, 1, 1, 9, 11});
  SUBCASE("shipped limits") {
    Policy policy = Make(kIsolated);
    RoundOutcome out = Decide(policy, 1, round);
    CHECK(out.decisions[4].action == Action::kDownweight);
    CHECK(out.decisions[4].weight == doctest::Approx(3.0 / 9));
    CHECK(out.decisions[5].action == Action::kDrop);
    CHECK(out.decisions[5].reason == "norm_guard");
    CHECK(FlagNames(out.decisions[5].flags) ==
          std::vector<std::string>{"norm_guard"});
    CHECK(out.audit_records[5]["norm_limit"].get<double>() ==
          doctest::Approx(3.0));
  }
  SUBCASE("drop_k: 0 clips every norm") {
    Policy policy = Make(kIsolated + "guards: {norm: {drop_k: 0}}\n");
    RoundOutcome out = Decide(policy, 1, round);
    CHECK(out.decisions[5].action == Action::kDownweight);
    CHECK(out.decisions[5].weight == doctest::Approx(3.0 / 11));
  }
}

TEST_CASE("norm guard: earlier rounds' accepted norms anchor the reference") {
  // Round 1 accepts norms around 1; in round 2 three of five send 8, so the
  // round's median is 8. The reference is min(8, max_growth 2 x anchor 1).
  const std::vector<PolicyInput> first = Norms({1, 1, 1, 1});
  const std::vector<PolicyInput> taken = Norms({1, 1, 8, 8, 8});
  SUBCASE("the majority does not set its own limit") {
    Policy policy = Make(kIsolated);
    Decide(policy, 1, first);
    RoundOutcome out = Decide(policy, 2, taken);
    CHECK(out.audit_records[2]["norm_limit"].get<double>() ==
          doctest::Approx(6.0));
    for (size_t i = 2; i < 5; ++i) {
      CAPTURE(i);
      CHECK(out.decisions[i].action == Action::kDownweight);
      CHECK(out.decisions[i].weight == doctest::Approx(6.0 / 8));
      CHECK(out.decisions[i].reason == "norm_guard");
    }
    CHECK(out.decisions[0].action == Action::kAccept);
  }
  SUBCASE("the anchor survives a restart") {
    Policy before = Make(kIsolated);
    Decide(before, 1, first);
    Policy after = Make(kIsolated);
    REQUIRE(after.LoadState(before.SaveState()).ok());
    CHECK(Decide(after, 2, taken).decisions[2].reason == "norm_guard");
  }
  SUBCASE("history_rounds: 0 judges by the round alone") {
    Policy policy = Make(kIsolated + "guards: {norm: {history_rounds: 0}}\n");
    Decide(policy, 1, first);
    RoundOutcome out = Decide(policy, 2, taken);
    CHECK(out.audit_records[2]["norm_limit"].get<double>() ==
          doctest::Approx(24.0));
    CHECK(out.decisions[2].action == Action::kAccept);
  }
  SUBCASE("a round that grows less than max_growth keeps its own median") {
    Policy policy = Make(kIsolated);
    Decide(policy, 1, first);
    RoundOutcome out = Decide(policy, 2, Norms({1.5, 1.5, 1.5, 1.5, 4}));
    CHECK(out.audit_records[4]["norm_limit"].get<double>() ==
          doctest::Approx(4.5));
    CHECK(out.decisions[4].action == Action::kAccept);
  }
}

namespace {

// Five known clients of norm 2 and one of norm `last_norm`, all pointing
// their own usual way (consistency 0.5), with these agreements.
std::vector<PolicyInput> Pulls(double last_norm, double last_agreement) {
  const double agreements[] = {0.2, 0.1, 0.3, -0.5, 0.1, last_agreement};
  std::vector<PolicyInput> round;
  for (int i = 0; i < 6; ++i) {
    round.push_back(In(std::string(1, static_cast<char>('a' + i)), 0.1,
                       i == 5 ? last_norm : 2.0, 0.5));
    round.back().score.consistency = 0.5;
    round.back().score.agreement = agreements[i];
  }
  return round;
}

}  // namespace

TEST_CASE("opposition guard: caps an update pulling against the others") {
  // Reference norm: the median 2. The last update, at 3 x that against
  // the others' direction (cosine -0.9), pulls 2.7 reference norms; the
  // fourth, of usual size at -0.5, pulls 0.5.
  const std::vector<PolicyInput> round = Pulls(6, -0.9);
  SUBCASE("shipped limit: weight max_opposition / opposition, no strike") {
    Policy policy = Make(kIsolated);
    RoundOutcome out = Decide(policy, 1, round);
    CHECK(out.decisions[5].action == Action::kDownweight);
    CHECK(out.decisions[5].weight == doctest::Approx(1 / 2.7));
    CHECK(out.decisions[5].reason == "opposed");
    CHECK(FlagNames(out.decisions[5].flags) ==
          std::vector<std::string>{"opposed"});
    CHECK(out.decisions[5].suspicion == doctest::Approx(2.7));
    CHECK(out.audit_records[5]["opposition"].get<double>() ==
          doctest::Approx(2.7));
    CHECK(out.audit_records[5]["strike_weight"].get<double>() == 0.0);
    CHECK(out.decisions[3].action == Action::kAccept);
    CHECK(out.decisions[3].flags == 0u);
    CHECK(out.audit_records[3]["opposition"].get<double>() ==
          doctest::Approx(0.5));
    CHECK(out.audit_records[0]["opposition"].get<double>() == 0.0);
  }
  SUBCASE("a strike where quarantine.strike_on lists it") {
    Policy policy = Make(
        "thresholds: {rules: [{kind: static, value: 1.0}]}\n"
        "fail_safes: {max_drop_fraction: 1, min_accepted: 0}\n"
        "quarantine: {enabled: false, strike_on: [opposed]}\n");
    RoundOutcome out = Decide(policy, 1, round);
    CHECK(out.decisions[5].action == Action::kDownweight);
    CHECK(out.audit_records[5]["strike_weight"].get<double>() == 1.0);
  }
  SUBCASE("the norm guard off: its reference norm still the unit") {
    Policy policy = Make(kIsolated + "guards: {norm: {enabled: false}}\n");
    RoundOutcome out = Decide(policy, 1, round);
    CHECK(out.decisions[5].weight == doctest::Approx(1 / 2.7));
    CHECK(out.audit_records[5]["norm_limit"].is_null());
  }
  SUBCASE("also over the norm guard: the smaller cap") {
    // Norm 9 = 4.5 reference norms: clipped to 6 / 9, opposed 4.05.
    Policy policy = Make(kIsolated);
    RoundOutcome out = Decide(policy, 1, Pulls(9, -0.9));
    CHECK(FlagNames(out.decisions[5].flags) ==
          std::vector<std::string>{"norm_guard", "opposed"});
    CHECK(out.decisions[5].weight == doctest::Approx(1 / 4.05));
  }
  SUBCASE("the same norm along the others is no opposition") {
    Policy policy = Make(kIsolated);
    RoundOutcome out = Decide(policy, 1, Pulls(6, 0.4));
    CHECK(out.decisions[5].action == Action::kAccept);
    CHECK(out.decisions[5].flags == 0u);
  }
  SUBCASE("a higher limit, or the guard off, keeps it") {
    for (const char* extra : {"guards: {opposition: {max_opposition: 3}}\n",
                              "guards: {opposition: {enabled: false}}\n"}) {
      CAPTURE(extra);
      Policy policy = Make(kIsolated + extra);
      RoundOutcome out = Decide(policy, 1, round);
      CHECK(out.decisions[5].action == Action::kAccept);
      CHECK(out.decisions[5].weight == 1.0);
    }
  }
  SUBCASE("an opposed anomaly gets no grace") {
    Policy policy = Make(kIsolated);  // client_baseline.grace 1
    std::vector<PolicyInput> along = Pulls(2, 0.2);
    along[5].score.score = 5;  // over the static threshold 1
    CHECK(Decide(policy, 1, along).decisions[5].reason == "grace");
    std::vector<PolicyInput> against = round;
    against[5].score.score = 5;
    Policy fresh = Make(kIsolated);  // its grace unused
    const Decision d = Decide(fresh, 1, against).decisions[5];
    CHECK(d.reason == "anomalous");
    CHECK(d.action == Action::kDrop);
    CHECK(FlagNames(d.flags) ==
          std::vector<std::string>{"anomalous", "opposed"});
  }
  SUBCASE("abstains without an agreement or a reference norm") {
    std::vector<PolicyInput> unknown = round;
    for (PolicyInput& in : unknown) in.score.agreement = NAN;
    Policy policy = Make(kIsolated);
    RoundOutcome out = Decide(policy, 1, unknown);
    CHECK(out.decisions[5].action == Action::kAccept);
    CHECK(out.audit_records[5]["opposition"].is_null());
    // Fewer finite norms than guards.norm.min_round_size (3): no reference.
    Policy small = Make(kIsolated);
    const std::vector<PolicyInput> two(round.end() - 2, round.end());
    out = Decide(small, 1, two);
    CHECK(out.decisions[1].action == Action::kAccept);
    CHECK(out.audit_records[1]["opposition"].is_null());
  }
}

namespace {

// Five known clients (consistency 0.8) agreeing with the round at `known`,
// and "z" at `consistency` with its reference and `agreement` with them.
std::vector<PolicyInput> DriftRound(const std::vector<double>& known,
                                    double consistency, double agreement) {
  std::vector<PolicyInput> round;
  for (size_t i = 0; i < known.size(); ++i) {
    round.push_back(
        In(std::string(1, static_cast<char>('a' + i)), 0.5, 1, 0.5));
    round.back().score.consistency = 0.8;
    round.back().score.agreement = known[i];
  }
  round.push_back(In("z", 0.5, 1, 0.5));
  round.back().score.consistency = consistency;
  round.back().score.agreement = agreement;
  return round;
}

const std::vector<double> kAgreeing = {0.4, 0.45, 0.5, 0.55, 0.6};
// median - 2 x 1.4826 x MAD
const double kAgreeingDriftLimit = 0.5 - 2 * 1.4826 * 0.05;

}  // namespace

TEST_CASE("consistency guard: drift with the round is not inconsistency") {
  Policy policy = Make(kIsolated);
  SUBCASE("near orthogonal, agreeing like the others: kept clean") {
    RoundOutcome out = Decide(policy, 5, DriftRound(kAgreeing, -0.05, 0.45));
    const Decision& z = out.decisions.back();
    CHECK(z.reason == "ok");
    CHECK(z.flags == 0u);
    CHECK(z.weight == 1.0);
    // (1 - (-0.05)) / (1 - (0 - 0.1)): judged against min_cosine - margin
    CHECK(z.suspicion == doctest::Approx(1.05 / 1.1));
    CHECK(out.audit_records.back()["drift_limit"] ==
          doctest::Approx(kAgreeingDriftLimit));
    CHECK(out.audit_records[0]["drift_limit"] ==
          doctest::Approx(kAgreeingDriftLimit));  // the round's
  }
  SUBCASE("agreeing less than the round allows: inconsistent") {
    const Decision z =
        Decide(policy, 5,
               DriftRound(kAgreeing, -0.05, kAgreeingDriftLimit - 0.01))
            .decisions.back();
    CHECK(z.reason == "inconsistent");
    CHECK(z.action == Action::kDrop);
  }
  SUBCASE("further below min_cosine than drift_margin: inconsistent") {
    const Decision z =
        Decide(policy, 5, DriftRound(kAgreeing, -0.15, 0.6)).decisions.back();
    CHECK(z.reason == "inconsistent");
  }
  SUBCASE("too few known clients: the rule abstains") {
    RoundOutcome out =
        Decide(policy, 5, DriftRound({0.4, 0.45, 0.5, 0.55}, -0.05, 0.6));
    CHECK(out.decisions.back().reason == "inconsistent");
    CHECK(out.audit_records.back()["drift_limit"].is_null());
  }
  SUBCASE("never below 0: turning against the round is not drift") {
    // Spread agreements: 0.1 - 2 x 1.4826 x 0.3 and the newcomer limit,
    // -0.3, are both below 0.
    const std::vector<double> spread = {-0.6, -0.2, 0.1, 0.4, 0.7};
    RoundOutcome out = Decide(policy, 5, DriftRound(spread, -0.05, -0.05));
    CHECK(out.decisions.back().reason == "inconsistent");
    CHECK(out.audit_records.back()["drift_limit"] == 0.0);
    CHECK(out.audit_records.back()["newcomer_limit"] == doctest::Approx(-0.3));
    CHECK(Decide(policy, 5, DriftRound(spread, -0.05, 0.05))
              .decisions.back()
              .reason == "ok");
  }
  SUBCASE("never below a newcomer limit above 0") {
    Policy high = Make(
        kIsolated + "guards: {consistency: {newcomer_min_agreement: 0.2}}\n");
    const std::vector<double> spread = {-0.6, -0.2, 0.1, 0.4, 0.7};
    RoundOutcome out = Decide(high, 5, DriftRound(spread, -0.05, 0.15));
    CHECK(out.decisions.back().reason == "inconsistent");
    CHECK(out.audit_records.back()["drift_limit"] == doctest::Approx(0.2));
    CHECK(Decide(high, 5, DriftRound(spread, -0.05, 0.25))
              .decisions.back()
              .reason == "ok");
  }
  SUBCASE("at the limit exactly: kept") {
    // Equal agreements: MAD 0, the limit is their median.
    const std::vector<double> equal(5, 0.3);
    RoundOutcome out = Decide(policy, 5, DriftRound(equal, -0.05, 0.3));
    CHECK(out.decisions.back().reason == "ok");
    CHECK(out.audit_records.back()["drift_limit"] == 0.3);
  }
  SUBCASE("the consistency guard off: no drift limit") {
    Policy off = Make(kIsolated + "guards: {consistency: {enabled: false}}\n");
    RoundOutcome out = Decide(off, 5, DriftRound(kAgreeing, -0.5, 0.6));
    CHECK(out.decisions.back().reason == "ok");
    CHECK(out.audit_records.back()["drift_limit"].is_null());
  }
  SUBCASE("drift_margin 0 turns the rule off") {
    Policy off = Make(kIsolated + "guards: {consistency: {drift_margin: 0}}\n");
    RoundOutcome out = Decide(off, 5, DriftRound(kAgreeing, -0.05, 0.6));
    CHECK(out.decisions.back().reason == "inconsistent");
    CHECK(out.audit_records.back()["drift_limit"].is_null());
  }
}

TEST_CASE("column guard: energy in columns the round leaves quiet") {
  // Column shares 0.02 (peak 0.01) for the first five; the last one's
  // share and peak share as given. The shipped limits: 0.45 and 0.15.
  auto round = [](double last_share, double last_peak) {
    std::vector<PolicyInput> r = Round(0.5);
    for (PolicyInput& in : r) {
      in.score.column_share = 0.02;
      in.score.column_peak_share = 0.01;
    }
    r[5].score.column_share = last_share;
    r[5].score.column_peak_share = last_peak;
    return r;
  };
  auto check_dropped = [](const RoundOutcome& out, double suspicion) {
    const Decision& d = out.decisions[5];
    CHECK(d.action == Action::kDrop);
    CHECK(d.reason == "column_outlier");
    CHECK(FlagNames(d.flags) == std::vector<std::string>{"column_outlier"});
    CHECK(d.suspicion == doctest::Approx(suspicion));
    CHECK(out.audit_records[5]["strike_weight"].get<double>() == 0.0);
    for (size_t i = 0; i < 5; ++i) {
      CHECK(out.decisions[i].action == Action::kAccept);
      CHECK(out.decisions[i].flags == 0u);
    }
  };
  SUBCASE("a few columns holding much of it (a trigger): dropped") {
    Policy policy = Make(kIsolated);
    RoundOutcome out = Decide(policy, 1, round(0.24, 0.225));
    check_dropped(out, 1.5);  // 0.225 / 0.15
    CHECK(out.audit_records[5]["column_share"].get<double>() == 0.24);
    CHECK(out.audit_records[5]["column_peak_share"].get<double>() == 0.225);
  }
  SUBCASE("much of it spread over many columns: dropped above max_share") {
    Policy policy = Make(kIsolated);
    check_dropped(Decide(policy, 1, round(0.9, 0.12)), 2.0);  // 0.9 / 0.45
  }
  SUBCASE("spread below max_share (unusual honest inputs): kept") {
    Policy policy = Make(kIsolated);
    CHECK(Decide(policy, 1, round(0.4, 0.13)).decisions[5].flags == 0u);
  }
  SUBCASE("at the limits it is kept") {
    Policy policy = Make(kIsolated);
    CHECK(Decide(policy, 1, round(0.45, 0.15)).decisions[5].flags == 0u);
  }
  SUBCASE("a strike where quarantine.strike_on lists it") {
    Policy policy = Make(
        "thresholds: {rules: [{kind: static, value: 1.0}]}\n"
        "fail_safes: {max_drop_fraction: 1, min_accepted: 0}\n"
        "quarantine: {enabled: false, strike_on: [column_outlier]}\n");
    RoundOutcome out = Decide(policy, 1, round(0.24, 0.225));
    CHECK(out.decisions[5].action == Action::kDrop);
    CHECK(out.audit_records[5]["strike_weight"].get<double>() == 1.0);
  }
  SUBCASE("higher limits, the guard off, or no shares keep it") {
    for (const char* extra :
         {"guards: {columns: {max_share: 0.5, max_peak_share: 0.25}}\n",
          "guards: {columns: {enabled: false}}\n"}) {
      CAPTURE(extra);
      Policy policy = Make(kIsolated + extra);
      CHECK(Decide(policy, 1, round(0.48, 0.225)).decisions[5].flags == 0u);
    }
    Policy policy = Make(kIsolated);
    RoundOutcome out = Decide(policy, 1, round(NAN, NAN));
    CHECK(out.decisions[5].flags == 0u);
    CHECK(out.audit_records[5]["column_share"].is_null());
    CHECK(out.audit_records[5]["column_peak_share"].is_null());
  }
}
