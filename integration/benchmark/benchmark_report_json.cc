// results.json: every cell of the plan with each metric over its seeds
// (benchmark_report_results.h, ResultsJson).
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "benchmark_report_results.h"

namespace flsentry::bench {
namespace {

using nlohmann::json;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A non-finite number is written as null (JSON has no NaN).
json Number(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json StatJson(const Stat& s) {
  return {{"n", s.n},
          {"mean", Number(s.mean)},
          {"sd", Number(s.sd)},
          {"min", Number(s.min)},
          {"max", Number(s.max)}};
}

// The metrics of a cell, by their name in results.json.
const std::vector<std::pair<const char*, Metric>>& CellMetrics() {
  static const std::vector<std::pair<const char*, Metric>> metrics = {
      {"final_accuracy", [](const RunMetrics& m) { return m.final_accuracy; }},
      {"last5_accuracy", [](const RunMetrics& m) { return m.tail_accuracy; }},
      {"backdoor_success",
       [](const RunMetrics& m) {
         return m.final_backdoor_success.value_or(kNaN);
       }},
      {"honest_flagged",
       [](const RunMetrics& m) { return m.after_warmup.Fpr(); }},
      {"honest_quarantined",
       [](const RunMetrics& m) {
         return static_cast<double>(m.honest_quarantined);
       }},
      {"honest_excluded_rounds_mean",
       [](const RunMetrics& m) { return m.honest_excluded_mean; }},
      {"attack_tpr", [](const RunMetrics& m) { return m.counts.Tpr(); }},
      {"attackers_accepted",
       [](const RunMetrics& m) { return m.malicious_accepted; }},
      {"own_accuracy_mean",
       [](const RunMetrics& m) { return m.own_accuracy_mean; }},
      {"own_accuracy_worst_decile",
       [](const RunMetrics& m) { return m.own_accuracy_worst_decile; }},
      {"cpu_seconds", [](const RunMetrics& m) { return m.cpu_seconds; }},
  };
  return metrics;
}

}  // namespace

nlohmann::json ResultsJson(const Plan& plan, const RunIndex& index,
                           const ReportContext& ctx) {
  json cells = json::array();
  std::set<std::string> seen;
  for (const RunSpec& spec : plan.runs) {
    const std::string key = spec.shape + "/" + FractionTag(spec.fraction) +
                            "/" + spec.attack + "/" + spec.aggregator;
    if (!seen.insert(key).second) continue;
    json cell = {
        {"shape", spec.shape},
        {"fraction", spec.fraction},
        {"attack", spec.attack},
        {"aggregator", spec.aggregator},
        {"agg_params", spec.agg_params},
        {"runs_planned", index.Planned(spec.shape, spec.fraction, spec.attack,
                                       spec.aggregator)},
        {"runs_finished",
         index.Cell(spec.shape, spec.fraction, spec.attack, spec.aggregator)
             .size()}};
    json metrics = json::object();
    for (const auto& [name, metric] : CellMetrics()) {
      metrics[name] = StatJson(index.Of(spec.shape, spec.fraction, spec.attack,
                                        spec.aggregator, metric));
    }
    cell["metrics"] = std::move(metrics);
    cells.push_back(std::move(cell));
  }
  return {{"protocol", plan.protocol.name},
          {"rounds", plan.protocol.rounds},
          {"seeds", plan.protocol.seeds},
          {"baseline_seeds", plan.protocol.baseline_seeds},
          {"policy", plan.protocol.policy},
          {"warmup_rounds", plan.policy_warmup_rounds},
          {"command", ctx.command},
          {"commit", ctx.commit},
          {"machine", ctx.machine},
          {"date", ctx.date},
          {"cells", std::move(cells)}};
}

}  // namespace flsentry::bench
