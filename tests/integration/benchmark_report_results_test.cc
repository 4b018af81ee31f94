#include "benchmark_report_results.h"

#include <doctest/doctest.h>

#include <limits>
#include <sstream>
#include <string>
#include <vector>

namespace flsentry::bench {
namespace {

RunSpec Spec(const std::string& aggregator, int seed) {
  RunSpec s;
  s.id = "base-f20-sign_flip-" + aggregator + "-s" + std::to_string(seed);
  s.fraction = 0.2;
  s.attack = "sign_flip";
  s.aggregator = aggregator;
  s.uses_filter = aggregator == "filter";
  s.seed = seed;
  return s;
}

RunMetrics Metrics(double final_accuracy) {
  RunMetrics m;
  m.final_accuracy = final_accuracy;
  m.tail_accuracy = final_accuracy;
  m.honest_quarantined = 1;
  m.after_warmup.tn = 9;
  m.after_warmup.fp = 1;
  m.counts.tp = 3;
  m.counts.fn = 1;
  m.malicious_accepted = 0.25;
  m.cpu_seconds = std::numeric_limits<double>::quiet_NaN();
  return m;
}

TEST_CASE("ResultsJson gives every cell once, over its seeds, NaN as null") {
  Plan plan;
  plan.protocol.name = "t";
  plan.protocol.rounds = 5;
  plan.protocol.seeds = {1, 2};
  plan.protocol.baseline_seeds = {1};
  std::vector<RunOutcome> runs(3);
  runs[0].spec = Spec("filter", 1);
  runs[0].metrics = Metrics(0.8);
  runs[1].spec = Spec("filter", 2);
  runs[1].metrics = Metrics(0.6);
  runs[2].spec = Spec("fedavg", 1);  // did not finish
  for (const RunOutcome& r : runs) plan.runs.push_back(r.spec);
  const RunIndex index(runs);
  ReportContext ctx;
  ctx.commit = "abc";

  const nlohmann::json j = ResultsJson(plan, index, ctx);
  CHECK(j["protocol"] == "t");
  CHECK(j["commit"] == "abc");
  CHECK(j["seeds"] == nlohmann::json({1, 2}));
  REQUIRE(j["cells"].size() == 2);
  const nlohmann::json& filter = j["cells"][0];
  CHECK(filter["aggregator"] == "filter");
  CHECK(filter["runs_planned"] == 2);
  CHECK(filter["runs_finished"] == 2);
  const nlohmann::json& m = filter["metrics"];
  CHECK(m["final_accuracy"]["n"] == 2);
  CHECK(m["final_accuracy"]["mean"].get<double>() == doctest::Approx(0.7));
  CHECK(m["final_accuracy"]["min"].get<double>() == doctest::Approx(0.6));
  CHECK(m["honest_flagged"]["mean"].get<double>() == doctest::Approx(0.1));
  CHECK(m["honest_quarantined"]["mean"].get<double>() == 1.0);
  CHECK(m["attack_tpr"]["mean"].get<double>() == doctest::Approx(0.75));
  CHECK(m["attackers_accepted"]["mean"].get<double>() == 0.25);
  CHECK(m["backdoor_success"]["n"] == 0);
  CHECK(m["backdoor_success"]["mean"].is_null());
  CHECK(m["cpu_seconds"]["mean"].is_null());
  const nlohmann::json& fedavg = j["cells"][1];
  CHECK(fedavg["runs_planned"] == 1);
  CHECK(fedavg["runs_finished"] == 0);
  CHECK(fedavg["metrics"]["final_accuracy"]["mean"].is_null());
  // Serialisable: no NaN reaches the text.
  CHECK(j.dump().find("NaN") == std::string::npos);
}

TEST_CASE("AttackSections give the adaptive attacks their own tables") {
  Plan plan;
  plan.protocol.rounds = 5;
  plan.protocol.fractions = {0.2};
  plan.protocol.attacks = {"sign_flip", "neurotoxin"};
  plan.protocol.adaptive_attacks = {"neurotoxin"};
  plan.protocol.aggregators = {"filter"};
  std::vector<RunOutcome> runs(2);
  runs[0].spec = Spec("filter", 1);
  runs[0].metrics = Metrics(0.8);
  runs[1].spec = Spec("filter", 1);
  runs[1].spec.attack = "neurotoxin";
  runs[1].spec.id = "base-f20-neurotoxin-filter-s1";
  runs[1].metrics = Metrics(0.7);
  runs[1].metrics->final_backdoor_success = 0.5;
  for (const RunOutcome& r : runs) plan.runs.push_back(r.spec);
  const RunIndex index(runs);
  std::ostringstream out;
  AttackSections(plan, index, out);
  const std::string md = out.str();
  const size_t adaptive =
      md.find("## Adaptive attacks: attackers who know the filter");
  REQUIRE(adaptive != std::string::npos);
  const size_t fixed = md.find("### 20% malicious");
  REQUIRE(fixed < adaptive);
  // The fixed attacks' table stops at the next heading; neurotoxin is not
  // in it, and is in the adaptive section's tables and the backdoor table.
  const std::string fixed_table =
      md.substr(fixed, md.find("##", fixed + 3) - fixed);
  CHECK(fixed_table.find("| sign_flip | 80.0 |") != std::string::npos);
  CHECK(fixed_table.find("neurotoxin") == std::string::npos);
  CHECK(md.find("### Final test accuracy (%), 20% malicious\n\n| attack | "
                "filter |\n|---|---:|\n| neurotoxin | 70.0 |") !=
        std::string::npos);
  CHECK(md.find("| 20%, neurotoxin | 50.0 |") != std::string::npos);
  CHECK(md.find("| 20%, sign_flip |") == std::string::npos);
}

}  // namespace
}  // namespace flsentry::bench
