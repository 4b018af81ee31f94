// The policy's judgement of each client against its own history (policy.h):
// the client baseline, the consistency guard, weighted strikes, the
// num_examples guard, the fail-safes' restore weight and the round outcome
// when nothing can be averaged. policy_test.cc and policy_signals_test.cc
// cover the rest of policy.h.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "policy/policy.h"

using namespace flsentry;

namespace {

Policy Make(const std::string& yaml) {
  auto c = ParsePolicyYaml(yaml);
  REQUIRE_MESSAGE(c.ok(), c.status().message());
  return Policy(*c);
}

PolicyInput In(std::string id, double score, uint64_t examples = 100,
               double consistency = NAN) {
  PolicyInput in;
  in.client_id = std::move(id);
  in.num_examples = examples;
  in.score.score = score;
  in.score.scored = std::isfinite(score);
  in.score.norm = 1.0;
  in.score.consistency = consistency;
  return in;
}

RoundOutcome Decide(Policy& policy, uint64_t round,
                    const std::vector<PolicyInput>& inputs) {
  auto r = policy.DecideRound(round, inputs, nullptr);
  REQUIRE_MESSAGE(r.ok(), r.status().message());
  REQUIRE(r->decisions.size() == inputs.size());
  return std::move(r).value();
}

// Six clients; the round's median score is 1, so round_ratio (k 3) puts the
// threshold at 3. "odd" scores `odd_score` and points its usual way
// (consistency `odd_consistency`).
std::vector<PolicyInput> SkewedRound(double odd_score, double odd_consistency) {
  return {In("a", 1.0, 100, 0.8), In("b", 0.9, 100, 0.8),
          In("c", 1.1, 100, 0.8), In("d", 1.0, 100, 0.8),
          In("e", 0.8, 100, 0.8), In("odd", odd_score, 100, odd_consistency)};
}

// round_ratio k 3 stated, not the default: the expected thresholds below
// are multiples of it. No grace, so that a score-only anomaly is acted on
// (the grace has its own tests, with kGrace).
const char* kNoFailSafes =
    "fail_safes: {max_drop_fraction: 1, min_accepted: 0}\n"
    "thresholds: {rules: [{kind: round_ratio, k: 3}],\n"
    "             client_baseline: {grace: 0}}\n";
const char* kGrace =
    "fail_safes: {max_drop_fraction: 1, min_accepted: 0}\n"
    "thresholds: {rules: [{kind: round_ratio, k: 3}]}\n"
    "quarantine: {window_rounds: 10}\n";

}  // namespace

TEST_CASE("client baseline: an honest outlier is judged against its history") {
  Policy policy = Make(kNoFailSafes);
  // Three clean rounds at 2.5 x the median (under 3 x): the baseline grows.
  for (uint64_t r = 1; r <= 3; ++r) {
    RoundOutcome out = Decide(policy, r, SkewedRound(2.5, 0.7));
    CHECK(out.decisions[5].reason == "ok");
    CHECK(out.audit_records[5]["score_ratio"] == doctest::Approx(2.5));
  }
  CHECK(policy.state().clients.at("odd").score_ratios ==
        std::vector<double>{2.5, 2.5, 2.5});
  SUBCASE("pointing its usual way: threshold x 2.5") {
    RoundOutcome out = Decide(policy, 4, SkewedRound(4.0, 0.7));
    CHECK(out.decisions[5].reason == "ok");
    CHECK(out.decisions[5].threshold == doctest::Approx(7.5));
    CHECK(out.audit_records[5]["client_factor"] == doctest::Approx(2.5));
  }
  SUBCASE("pointing elsewhere: the round alone judges it") {
    RoundOutcome out = Decide(policy, 4, SkewedRound(4.0, -0.2));
    CHECK(out.decisions[5].reason == "anomalous");
    CHECK(out.decisions[5].flags == (kFlagAnomalous | kFlagInconsistent));
    CHECK(out.decisions[5].threshold == doctest::Approx(3.0));
  }
  SUBCASE("below a stricter min_consistency: the round alone judges it") {
    Policy strict = Make(
        "fail_safes: {max_drop_fraction: 1, min_accepted: 0}\n"
        "thresholds: {rules: [{kind: round_ratio, k: 3}],\n"
        "             client_baseline: {grace: 0, min_consistency: 0.5}}\n");
    for (uint64_t r = 1; r <= 3; ++r) Decide(strict, r, SkewedRound(2.5, 0.7));
    RoundOutcome out = Decide(strict, 4, SkewedRound(4.0, 0.3));
    CHECK(out.decisions[5].reason == "anomalous");
    CHECK(out.decisions[5].threshold == doctest::Approx(3.0));
  }
  SUBCASE("the factor is capped at max_factor") {
    Policy capped = Make(
        "fail_safes: {max_drop_fraction: 1, min_accepted: 0}\n"
        "thresholds: {rules: [{kind: round_ratio, k: 3}],\n"
        "             client_baseline: {max_factor: 1.5, grace: 0}}\n");
    for (uint64_t r = 1; r <= 3; ++r) Decide(capped, r, SkewedRound(2.5, 0.7));
    RoundOutcome out = Decide(capped, 4, SkewedRound(5.0, 0.7));
    CHECK(out.decisions[5].reason == "anomalous");
    CHECK(out.decisions[5].threshold == doctest::Approx(4.5));
  }
}

TEST_CASE(
    "client tail: score-flagged updates pointing the usual way count, "
    "guard-flagged ones do not") {
  Policy policy = Make(kNoFailSafes);
  Decide(policy, 1, SkewedRound(2.5, 0.7));
  RoundOutcome out = Decide(policy, 2, SkewedRound(5.0, 0.7));  // flagged
  CHECK(out.decisions[5].reason == "anomalous");
  CHECK(policy.state().clients.at("odd").score_ratios ==
        std::vector<double>{2.5, 5.0});
  out = Decide(policy, 3, SkewedRound(2.0, -0.5));  // the consistency guard
  CHECK(out.decisions[5].reason == "inconsistent");
  CHECK(policy.state().clients.at("odd").score_ratios.size() == 2);
  out = Decide(policy, 4, SkewedRound(3.5, 0.7));  // 2 in the tail: no factor
  CHECK(out.decisions[5].threshold == doctest::Approx(3.0));
  CHECK(out.decisions[5].reason == "anomalous");
  // Three now (2.5, 5, 3.5): the largest, 5, multiplies the threshold.
  out = Decide(policy, 5, SkewedRound(12.0, 0.7));
  CHECK(out.decisions[5].threshold == doctest::Approx(15.0));
  CHECK(out.decisions[5].reason == "ok");
  SUBCASE("statistic median: the typical level instead") {
    Policy median = Make(
        "fail_safes: {max_drop_fraction: 1, min_accepted: 0}\n"
        "thresholds: {rules: [{kind: round_ratio, k: 3}],\n"
        "             client_baseline: {grace: 0, statistic: median}}\n");
    const double tail[] = {2.5, 5.0, 3.5};
    for (uint64_t r = 1; r <= 3; ++r) {
      Decide(median, r, SkewedRound(tail[r - 1], 0.7));
    }
    out = Decide(median, 4, SkewedRound(12.0, 0.7));
    CHECK(out.decisions[5].threshold == doctest::Approx(10.5));
    CHECK(out.decisions[5].reason == "anomalous");
  }
}

TEST_CASE("grace: one score-only burst per window, accepted without strike") {
  Policy policy = Make(kGrace);
  RoundOutcome out = Decide(policy, 1, SkewedRound(20.0, 0.7));
  const Decision& d = out.decisions[5];
  CHECK(d.action == Action::kAccept);
  CHECK(d.weight == 1.0);
  CHECK(d.reason == "grace");
  CHECK(d.flags == kFlagAnomalous);  // flagged: not learned from
  CHECK(out.audit_records[5]["strike_weight"] == 0.0);
  CHECK(policy.state().clients.at("odd").graces == std::vector<uint64_t>{1});
  // The next burst inside the window (10 rounds) is acted on.
  out = Decide(policy, 5, SkewedRound(20.0, 0.7));
  CHECK(out.decisions[5].reason == "anomalous");
  CHECK(out.decisions[5].action == Action::kDrop);
  CHECK(out.audit_records[5]["strike_weight"] == 1.0);
  // Round 11 is outside the window of the grace at round 1: a new one.
  out = Decide(policy, 11, SkewedRound(20.0, 0.7));
  CHECK(out.decisions[5].reason == "grace");
  CHECK(policy.state().clients.at("odd").graces == std::vector<uint64_t>{11});
}

TEST_CASE("grace: not when another signal fires or the direction changed") {
  Policy policy = Make(kGrace);
  SUBCASE("another guard") {
    std::vector<PolicyInput> round = SkewedRound(20.0, 0.7);
    round[5].num_examples = 1'000'000;
    RoundOutcome out = Decide(policy, 1, round);
    CHECK(out.decisions[5].reason == "anomalous");
    CHECK(out.decisions[5].action == Action::kDrop);
  }
  SUBCASE("pointing away from its last clean update") {
    CHECK(Decide(policy, 1, SkewedRound(20.0, -0.1)).decisions[5].reason ==
          "anomalous");
  }
  SUBCASE("no reference to compare with") {
    CHECK(Decide(policy, 1, SkewedRound(20.0, NAN)).decisions[5].reason ==
          "anomalous");
  }
  SUBCASE("grace 0") {
    Policy none = Make(std::string(kNoFailSafes));
    CHECK(Decide(none, 1, SkewedRound(20.0, 0.7)).decisions[5].reason ==
          "anomalous");
  }
}

TEST_CASE("consistency guard: an update reversing the client's direction") {
  Policy policy = Make(kNoFailSafes);
  std::vector<PolicyInput> round = SkewedRound(1.0, -0.4);
  RoundOutcome out = Decide(policy, 1, round);
  const Decision& d = out.decisions[5];
  CHECK(d.action == Action::kDrop);
  CHECK(d.reason == "inconsistent");
  CHECK(d.flags == kFlagInconsistent);
  // (1 - (-0.4)) / (1 - 0) = 1.4
  CHECK(d.suspicion == doctest::Approx(1.4));
  CHECK(out.audit_records[5]["consistency"] == doctest::Approx(-0.4));
  CHECK(out.audit_records[5]["strike_weight"] == 1.0);
  SUBCASE("no reference: abstains") {
    Policy fresh = Make(kNoFailSafes);
    RoundOutcome plain = Decide(fresh, 1, SkewedRound(1.0, NAN));
    CHECK(plain.decisions[5].reason == "ok");
  }
  SUBCASE("disabled") {
    Policy off = Make(std::string(kNoFailSafes) +
                      "guards: {consistency: {enabled: false}}\n");
    CHECK(Decide(off, 1, round).decisions[5].reason == "ok");
  }
}

TEST_CASE("consistency guard: repeating a rejected direction") {
  Policy policy =
      Make(std::string(kNoFailSafes) + "quarantine: {window_rounds: 10}\n");
  std::vector<PolicyInput> round = SkewedRound(1.0, NAN);
  round[5].score.rejected_similarity = 0.8;
  round[5].score.rejected_round = 2;
  RoundOutcome out = Decide(policy, 5, round);
  const Decision& d = out.decisions[5];
  CHECK(d.action == Action::kDrop);
  CHECK(d.reason == "repeats_rejected");
  CHECK(d.flags == kFlagInconsistent);
  // (1 - 0.5) / (1 - 0.8) = 2.5
  CHECK(d.suspicion == doctest::Approx(2.5));
  CHECK(out.audit_records[5]["rejected_similarity"] == doctest::Approx(0.8));
  CHECK(out.audit_records[5]["strike_weight"] == 1.0);
  CHECK(RepeatsRejected(policy.config(), round[5].score, 5));
  CHECK_FALSE(RepeatsRejected(policy.config(), round[5].score, 12));
  // Dropped, it renews the rejection, lapsed or not.
  CHECK(PointsRejectedWay(policy.config(), round[5].score));
  SUBCASE("not pointing the same way") {
    round[5].score.rejected_similarity = 0.4;
    const Decision other = Decide(policy, 6, round).decisions[5];
    CHECK(other.reason == "ok");
    CHECK_FALSE(RepeatsRejected(policy.config(), round[5].score, 6));
    CHECK_FALSE(PointsRejectedWay(policy.config(), round[5].score));
  }
  SUBCASE("rejected longer ago than the quarantine window") {
    CHECK(Decide(policy, 12, round).decisions[5].reason == "ok");
  }
  SUBCASE("max_rejected_similarity 1: never") {
    Policy off = Make(std::string(kNoFailSafes) +
                      "guards: {consistency: {max_rejected_similarity: 1}}\n");
    CHECK(Decide(off, 5, round).decisions[5].reason == "ok");
    CHECK_FALSE(PointsRejectedWay(off.config(), round[5].score));
  }
}

TEST_CASE("consistency guard: a newcomer against the round's known clients") {
  const std::string limit =
      "guards: {consistency: {newcomer_min_agreement: -0.2}}\n";
  Policy policy = Make(std::string(kNoFailSafes) + limit);
  std::vector<PolicyInput> round = SkewedRound(1.0, NAN);
  round[5].score.agreement = -0.4;
  RoundOutcome out = Decide(policy, 5, round);
  const Decision& d = out.decisions[5];
  CHECK(d.action == Action::kDrop);
  CHECK(d.weight == 0.0);
  CHECK(d.reason == "against_round");
  CHECK(d.flags == kFlagInconsistent);
  // (1 - (-0.4)) / (1 - (-0.2))
  CHECK(d.suspicion == doctest::Approx(1.4 / 1.2));
  CHECK(out.audit_records[5]["agreement"] == doctest::Approx(-0.4));
  CHECK(out.audit_records[5]["strike_weight"] == 0.0);
  CHECK_FALSE(KeptClean(d));             // not the client's reference
  CHECK_FALSE(DroppedSeverely(d, 2.0));  // nor its rejected direction
  SUBCASE("dropped as anomalous first: that stays the reason and strikes") {
    round[5].score.score = 30.0;
    RoundOutcome both = Decide(policy, 5, round);
    const Decision& anomalous = both.decisions[5];
    CHECK(anomalous.action == Action::kDrop);
    CHECK(anomalous.reason == "anomalous");
    CHECK(anomalous.flags == (kFlagAnomalous | kFlagInconsistent));
    CHECK(both.audit_records[5]["strike_weight"] == 1.0);
  }
  SUBCASE("agreeing enough") {
    round[5].score.agreement = -0.1;
    CHECK(Decide(policy, 5, round).decisions[5].reason == "ok");
  }
  SUBCASE("a client with a reference is judged against it instead") {
    round[5].score.consistency = 0.7;
    CHECK(Decide(policy, 5, round).decisions[5].reason == "ok");
  }
  SUBCASE("a rejected direction it does not repeat: judged as a newcomer") {
    round[5].score.rejected_similarity = 0.3;  // points elsewhere
    round[5].score.rejected_round = 2;
    const Decision newcomer = Decide(policy, 5, round).decisions[5];
    CHECK(newcomer.reason == "against_round");
    CHECK(newcomer.flags == kFlagInconsistent);
    // Flagged inconsistent, but no repeat: nothing renews that direction.
    CHECK_FALSE(RepeatsRejected(policy.config(), round[5].score, 5));
    CHECK_FALSE(PointsRejectedWay(policy.config(), round[5].score));
  }
  SUBCASE("repeating its rejected direction: dropped for that") {
    round[5].score.rejected_similarity = 0.8;
    round[5].score.rejected_round = 2;
    const Decision repeat = Decide(policy, 5, round).decisions[5];
    CHECK(repeat.reason == "repeats_rejected");
    CHECK(repeat.action == Action::kDrop);
  }
  SUBCASE(
      "no strikes: the same newcomer again and again is never quarantined") {
    for (uint64_t r = 6; r <= 12; ++r) {
      CHECK(Decide(policy, r, round).decisions[5].reason == "against_round");
    }
  }
  SUBCASE("newcomer_weight above 0 down-weights; -1 turns the rule off") {
    Policy half = Make(std::string(kNoFailSafes) +
                       "guards: {consistency: {newcomer_min_agreement: -0.2, "
                       "newcomer_weight: 0.25}}\n");
    const Decision kept = Decide(half, 5, round).decisions[5];
    CHECK(kept.action == Action::kDownweight);
    CHECK(kept.weight == doctest::Approx(0.25));
    CHECK(kept.reason == "against_round");
    Policy off = Make(std::string(kNoFailSafes) +
                      "guards: {consistency: {newcomer_min_agreement: -1}}\n");
    CHECK(Decide(off, 5, round).decisions[5].reason == "ok");
  }
}

// SkewedRound with a newcomer ("odd": no reference) agreeing at
// `newcomer_agreement`, and the five known clients at `known`.
std::vector<PolicyInput> RoundWithNewcomer(const std::vector<double>& known,
                                           double newcomer_agreement) {
  std::vector<PolicyInput> round = SkewedRound(1.0, NAN);
  for (size_t i = 0; i < known.size(); ++i) round[i].score.agreement = known[i];
  round[5].score.agreement = newcomer_agreement;
  return round;
}

TEST_CASE("consistency guard: a round whose known clients agree raises it") {
  Policy policy = Make(kNoFailSafes);  // newcomer_min_agreement -0.3, k 4
  SUBCASE("they agree: the limit is 0, a sign-flipped newcomer is dropped") {
    RoundOutcome out = Decide(
        policy, 5, RoundWithNewcomer({0.4, 0.45, 0.5, 0.55, 0.6}, -0.25));
    CHECK(out.decisions[5].reason == "against_round");
    CHECK(out.decisions[5].action == Action::kDrop);
    // (1 - (-0.25)) / (1 - 0)
    CHECK(out.decisions[5].suspicion == doctest::Approx(1.25));
    CHECK(out.audit_records[5]["newcomer_limit"] == 0.0);
    CHECK(out.audit_records[0]["newcomer_limit"] == 0.0);  // the round's
    CHECK(out.audit_records[5]["strike_weight"] == 0.0);
  }
  SUBCASE("between: median - 4 x 1.4826 x MAD") {
    const std::vector<double> known = {0.1, 0.15, 0.2, 0.25, 0.3};
    const double limit = 0.2 - 4 * 1.4826 * 0.05;
    RoundOutcome out = Decide(policy, 5, RoundWithNewcomer(known, -0.25));
    CHECK(out.decisions[5].reason == "against_round");
    CHECK(out.audit_records[5]["newcomer_limit"] == doctest::Approx(limit));
    CHECK(Decide(policy, 5, RoundWithNewcomer(known, limit + 0.01))
              .decisions[5]
              .reason == "ok");
  }
  SUBCASE("they spread (skewed honest data): the fixed limit stands") {
    RoundOutcome out = Decide(
        policy, 5, RoundWithNewcomer({-0.6, -0.2, 0.1, 0.4, 0.7}, -0.25));
    CHECK(out.decisions[5].reason == "ok");
    CHECK(out.audit_records[5]["newcomer_limit"] == doctest::Approx(-0.3));
  }
  SUBCASE("too few known clients with an agreement: the fixed limit") {
    RoundOutcome out =
        Decide(policy, 5, RoundWithNewcomer({0.4, 0.45, 0.5, 0.55}, -0.25));
    CHECK(out.decisions[5].reason == "ok");
  }
  SUBCASE("clients not pointing their usual way are not counted") {
    std::vector<PolicyInput> round =
        RoundWithNewcomer({0.4, 0.45, 0.5, 0.55, 0.6}, -0.25);
    round[0].score.consistency = -0.1;
    CHECK(Decide(policy, 5, round).decisions[5].reason == "ok");
  }
  SUBCASE("newcomer_min_agreement -1: the rule stays off") {
    Policy off = Make(std::string(kNoFailSafes) +
                      "guards: {consistency: {newcomer_min_agreement: -1}}\n");
    RoundOutcome out =
        Decide(off, 5, RoundWithNewcomer({0.4, 0.45, 0.5, 0.55, 0.6}, -0.25));
    CHECK(out.decisions[5].reason == "ok");
    CHECK(out.audit_records[5]["newcomer_limit"] == -1.0);
  }
  SUBCASE("newcomer_round_k 0: the fixed limit alone") {
    Policy fixed = Make(std::string(kNoFailSafes) +
                        "guards: {consistency: {newcomer_round_k: 0}}\n");
    CHECK(
        Decide(fixed, 5, RoundWithNewcomer({0.4, 0.45, 0.5, 0.55, 0.6}, -0.25))
            .decisions[5]
            .reason == "ok");
  }
}

TEST_CASE("strike weights: a score barely over its threshold is a fraction") {
  Policy policy = Make(kNoFailSafes);
  struct Case {
    double score;  // threshold 3: excess score / 3
    double weight;
  };
  // clamp((excess - 1) / (2 - 1), 0.25, 1)
  const Case cases[] = {{3.3, 0.25}, {4.5, 0.5}, {6.0, 1.0}, {30.0, 1.0}};
  for (const Case& c : cases) {
    CAPTURE(c.score);
    Policy fresh = Make(kNoFailSafes);
    RoundOutcome out = Decide(fresh, 1, SkewedRound(c.score, 0.7));
    CHECK(out.decisions[5].reason == "anomalous");
    CHECK(out.audit_records[5]["strike_weight"] == doctest::Approx(c.weight));
  }
  // Two mild offences (0.5 each) do not quarantine; a third full one does.
  Decide(policy, 1, SkewedRound(4.5, 0.7));
  RoundOutcome out = Decide(policy, 2, SkewedRound(4.5, 0.7));
  CHECK(out.audit_records[5]["strikes"] == doctest::Approx(1.0));
  CHECK(out.decisions[5].reason == "anomalous");
  out = Decide(policy, 3, SkewedRound(30, 0.7));
  CHECK(out.decisions[5].reason == "quarantined");
}

TEST_CASE("num_examples guard: a claim far above the round's is capped") {
  Policy policy = Make(kNoFailSafes);
  std::vector<PolicyInput> round = SkewedRound(1.0, 0.7);
  round[5].num_examples = 1'000'000'000'000;  // 10^12
  RoundOutcome out = Decide(policy, 1, round);
  const Decision& d = out.decisions[5];
  // limit 10 x median claim 100 = 1000: weight 1000 / 10^12
  CHECK(d.action == Action::kDownweight);
  CHECK(d.reason == "num_examples");
  CHECK(d.flags == kFlagNumExamples);
  CHECK(d.weight == doctest::Approx(1e-9));
  CHECK(out.audit_records[5]["examples_limit"] == doctest::Approx(1000));
  // Large against the round is not yet inflation: capped, no strike, and
  // remembered as what it counted for (an honest member with much more
  // data than the median member is capped, never quarantined for it).
  CHECK(out.audit_records[5]["strike_weight"] == 0.0);
  CHECK(policy.state().clients.at("odd").claims == std::vector<uint64_t>{1000});
  CHECK(policy.state().clients.at("a").claims == std::vector<uint64_t>{100});
  SUBCASE("the same claim again is above its own history: a strike") {
    out = Decide(policy, 2, round);
    CHECK(out.decisions[5].reason == "num_examples");
    CHECK(out.audit_records[5]["strike_weight"] == 1.0);
    CHECK(policy.state().clients.at("odd").claims ==
          std::vector<uint64_t>{1000});
  }
  SUBCASE("an honest large member stays capped, never struck") {
    round[5].num_examples = 1500;  // 15 x the median member's
    for (uint64_t r = 2; r <= 20; ++r) {
      CAPTURE(r);
      out = Decide(policy, r, round);
      CHECK(out.decisions[5].reason == "num_examples");
      CHECK(out.decisions[5].weight == doctest::Approx(1000.0 / 1500));
      CHECK(out.audit_records[5]["strike_weight"] == 0.0);
    }
  }
  SUBCASE("drop and flag modes") {
    Policy drop = Make(std::string(kNoFailSafes) +
                       "guards: {num_examples: {mode: drop}}\n");
    CHECK(Decide(drop, 1, round).decisions[5].reason == "num_examples");
    CHECK(Decide(drop, 2, round).decisions[5].action == Action::kDrop);
    Policy flag = Make(std::string(kNoFailSafes) +
                       "guards: {num_examples: {mode: flag}}\n");
    const Decision f = Decide(flag, 1, round).decisions[5];
    CHECK(f.weight == 1.0);
    CHECK(f.flags == kFlagNumExamples);
  }
}

TEST_CASE("num_examples guard: the client's own history limits it too") {
  Policy policy = Make(kNoFailSafes);
  for (uint64_t r = 1; r <= 2; ++r) Decide(policy, r, SkewedRound(1.0, 0.7));
  // 900 is under 10 x the round's median (1000) but over 2 x its own 100.
  std::vector<PolicyInput> round = SkewedRound(1.0, 0.7);
  round[5].num_examples = 900;
  RoundOutcome out = Decide(policy, 3, round);
  CHECK(out.decisions[5].reason == "num_examples");
  CHECK(out.decisions[5].weight == doctest::Approx(200.0 / 900));
  SUBCASE("alone in a round, only its history judges") {
    RoundOutcome alone = Decide(policy, 4, {round[5]});
    CHECK((alone.decisions[0].flags & kFlagNumExamples) != 0);
    CHECK(alone.audit_records[0]["examples_limit"] == doctest::Approx(200));
    // Its second strike in two rounds quarantines it.
    CHECK(alone.decisions[0].reason == "quarantined");
  }
  SUBCASE("a claim of 0 never fires") {
    round[5].num_examples = 0;
    CHECK(Decide(policy, 4, round).decisions[5].reason == "ok");
  }
}

TEST_CASE("a lone update far over its threshold: restored clipped, struck") {
  // One update scoring 17 x its threshold, alone in its round: the
  // fail-safes keep it (min_accepted 1), at weight 1/17, and it is a strike.
  Policy policy = Make(
      "thresholds: {rules: [{kind: static, value: 1.0}]}\n"
      "quarantine: {strikes: 2}\n");
  RoundOutcome out = Decide(policy, 1, {In("late", 17.0)});
  const Decision& d = out.decisions[0];
  CHECK(d.action == Action::kDownweight);
  CHECK(d.reason == "failsafe_kept");
  CHECK(d.weight == doctest::Approx(1.0 / 17));
  CHECK(d.flags == (kFlagAnomalous | kFlagFailsafe));
  CHECK(out.suspicious);
  CHECK(out.audit_records[0]["strike_weight"] == 1.0);
  // max_drop_fraction (0 of 1 may be dropped) leaves a severe drop alone;
  // min_accepted keeps it.
  CHECK(out.audit_records[0]["failsafe"] == "min_accepted");
  REQUIRE(out.notes.size() == 1);
  CHECK(out.notes[0].find("late at weight 0.0588") != std::string::npos);
  // The second such round quarantines it.
  out = Decide(policy, 2, {In("late", 17.0)});
  CHECK(out.decisions[0].reason == "quarantined");
  CHECK(out.no_average);
  CHECK((out.decisions[0].flags & kFlagNoAverage) != 0);
}

TEST_CASE("a round of only non-finite updates: nothing to average, said so") {
  Policy policy = Make("");
  std::vector<PolicyInput> round;
  for (const char* id : {"a", "b", "c"}) {
    PolicyInput in = In(id, NAN);
    in.guard_flags = kFlagNonFinite;
    in.guard_reason = "nonfinite";
    round.push_back(in);
  }
  RoundOutcome out = Decide(policy, 1, round);
  for (const Decision& d : out.decisions) {
    CHECK(d.action == Action::kDrop);
    CHECK(d.reason == "nonfinite");
    CHECK(d.flags == (kFlagNonFinite | kFlagNoAverage));
  }
  CHECK_FALSE(out.suspicious);  // no fail-safe restored anything
  CHECK(out.no_average);
  REQUIRE(out.notes.size() == 1);
  CHECK(out.notes[0] ==
        "no update can be averaged (nothing keeps a positive num_examples x "
        "weight): 3 update(s): 3 nonfinite; keep the global model for this "
        "round");
  for (const auto& record : out.audit_records) {
    CHECK(record["suspicious_round"] == false);
    CHECK(record["strike_weight"] == 1.0);  // a guard event is a strike
  }
}

TEST_CASE("kept updates claiming 0 examples leave nothing to average") {
  Policy policy = Make("");
  RoundOutcome out = Decide(policy, 1, {In("a", 1.0, 0), In("b", 1.0, 0)});
  CHECK(out.no_average);
  CHECK(out.decisions[0].action == Action::kAccept);
  CHECK(out.decisions[0].flags == kFlagNoAverage);
  REQUIRE(out.notes.size() == 1);
  CHECK(out.notes[0].find("2 kept but claiming 0 examples") !=
        std::string::npos);
  // One positive claim is enough.
  out = Decide(policy, 2, {In("a", 1.0, 0), In("b", 1.0, 5)});
  CHECK_FALSE(out.no_average);
  CHECK(out.notes.empty());
}
