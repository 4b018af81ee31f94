// HonestSection and AttackSections (benchmark_report_results.h): the
// report's tables, every cell the mean (± sample sd) over its seeds.
#include <algorithm>
#include <cmath>
#include <map>

#include "benchmark_report_results.h"

namespace flsentry::bench {
namespace {

double FinalAcc(const RunMetrics& m) { return Comparable(m.final_accuracy); }
double TailAcc(const RunMetrics& m) { return m.tail_accuracy; }
double HonestFlagged(const RunMetrics& m) { return m.after_warmup.Fpr(); }
double Tpr(const RunMetrics& m) { return m.counts.Tpr(); }
double Accepted(const RunMetrics& m) { return m.malicious_accepted; }
double Quarantined(const RunMetrics& m) { return m.honest_quarantined; }
double ExcludedMean(const RunMetrics& m) { return m.honest_excluded_mean; }
double ExcludedMax(const RunMetrics& m) { return m.honest_excluded_max; }
double OwnMean(const RunMetrics& m) { return m.own_accuracy_mean; }
double OwnWorst(const RunMetrics& m) { return m.own_accuracy_worst_decile; }
double Backdoor(const RunMetrics& m) {
  return m.final_backdoor_success ? *m.final_backdoor_success : std::nan("");
}

// "1.2 (max 3)" for a count's mean over seeds and its largest value.
std::string CountStat(const Stat& s) {
  if (s.n == 0) return "n/a";
  return Fixed(s.mean, "%.1f") + " (max " + Fixed(s.max, "%.0f") + ")";
}

std::string SeedsText(const RunIndex& index, const std::string& shape, double f,
                      const std::string& attack, const std::string& agg) {
  const int planned = index.Planned(shape, f, attack, agg);
  const int done = static_cast<int>(index.Cell(shape, f, attack, agg).size());
  return done == planned
             ? std::to_string(planned)
             : std::to_string(done) + " of " + std::to_string(planned);
}

void HonestDecisions(const Plan& plan, const RunIndex& index,
                     std::ostream& out) {
  out << "### The filter's decisions on honest clients\n\n"
      << TableHeader(
             "shape",
             {"setting", "seeds", "honest updates flagged after warm-up (%)",
              "honest clients quarantined", "rounds excluded per honest client",
              "most rounds excluded (one client)"});
  for (const std::string& shape : plan.protocol.honest_shapes) {
    const ShapeInfo* info = plan.Shape(shape);
    const auto of = [&](const Metric& m) {
      return index.Of(shape, 0.0, "none", "filter", m);
    };
    out << "| " << shape << " | " << (info ? ShapeText(*info) : "?") << " | "
        << SeedsText(index, shape, 0.0, "none", "filter") << " | "
        << PctStat(of(HonestFlagged)) << " | " << CountStat(of(Quarantined))
        << " | " << Fixed(of(ExcludedMean).mean, "%.2f") << " | "
        << Fixed(of(ExcludedMax).max, "%.0f") << " |\n";
  }
  out << "\n";
}

void HonestFairness(const Plan& plan, const RunIndex& index,
                    std::ostream& out) {
  out << "### Fairness: each honest client's accuracy on its own data "
         "distribution (%)\n\n"
      << TableHeader("shape",
                     {"mean, filter", "mean, FedAvg", "worst decile, filter",
                      "worst decile, FedAvg", "final accuracy, filter",
                      "final accuracy, FedAvg"});
  for (const std::string& shape : plan.protocol.honest_shapes) {
    out << "| " << shape << " |";
    for (const Metric& m :
         {Metric(OwnMean), Metric(OwnWorst), Metric(FinalAcc)}) {
      for (const char* agg : {"filter", "fedavg"}) {
        out << " " << PctStat(index.Of(shape, 0.0, "none", agg, m)) << " |";
      }
    }
    out << "\n";
  }
  out << "\n";
}

std::string FractionHeading(double f) {
  return f == 0.0 ? "No attack" : FractionText(f) + " malicious";
}

// Rows `attacks` at f (or "none" at 0), columns aggregators, values metric.
void AccuracyTable(const Plan& plan, const RunIndex& index,
                   const std::string& heading, double f,
                   const std::vector<std::string>& attacks,
                   const Metric& metric, std::ostream& out) {
  const auto& aggs = plan.protocol.aggregators;
  out << "### " << heading << "\n\n" << TableHeader("attack", aggs);
  const std::vector<std::string> rows =
      f == 0.0 ? std::vector<std::string>{"none"} : attacks;
  for (const std::string& attack : rows) {
    out << "| " << attack << " |";
    for (const std::string& agg : aggs) {
      out << " " << PctStat(index.Of(kBaseShape, f, attack, agg, metric))
          << " |";
    }
    out << "\n";
  }
  out << "\n";
}

// Final and last-rounds accuracy under the adaptive attacks, per fraction.
void AdaptiveSection(const Plan& plan, const RunIndex& index,
                     std::ostream& out) {
  const Protocol& p = plan.protocol;
  if (p.adaptive_attacks.empty()) return;
  static const std::map<std::string, std::string> kWhat = {
      {"oracle",
       "queries a shadow copy of the filter (same plugin and policy, fed the "
       "same rounds) and sends a margin (90%) of the largest step against the "
       "benign mean that the shadow accepts; against the other aggregators "
       "too"},
      {"constrain_scale",
       "a backdoor trained with a term that keeps the update near the global "
       "model, then scaled under the norm guard (Bagdasaryan et al., AISTATS "
       "2020)"},
      {"neurotoxin",
       "a backdoor trained only on the coordinates benign training changes "
       "least, for durability (Zhang et al., ICML 2022)"},
      {"slow_drift",
       "honest updates biased against the benign mean by a multiple of their "
       "own norm that grows each round, to drag the filter's refreshing "
       "detector"}};
  out << "## Adaptive attacks: attackers who know the filter\n\n"
         "Attacks built against the filter (docs/attacks.md); the filter's "
         "decisions on them are in \"The filter under attack\", backdoor "
         "success rates in \"Backdoor attack success rate\".\n\n";
  for (const std::string& a : p.adaptive_attacks) {
    const auto it = kWhat.find(a);
    out << "- `" << a << "`: "
        << (it != kWhat.end()              ? it->second
            : plan.attack_details.count(a) ? plan.attack_details.at(a)
                                           : std::string("?"))
        << "\n";
  }
  out << "\n";
  for (const bool tail : {false, true}) {
    for (const double f : p.fractions) {
      const auto attacks = p.AttacksAt(f, true);
      if (attacks.empty()) continue;
      const std::string heading =
          (tail ? "Mean test accuracy of the last " +
                      std::to_string(kTailRounds) + " rounds (%), "
                : std::string("Final test accuracy (%), ")) +
          FractionHeading(f);
      AccuracyTable(plan, index, heading, f, attacks,
                    tail ? Metric(TailAcc) : Metric(FinalAcc), out);
    }
  }
}

void WorstCaseTable(const Plan& plan, const RunIndex& index,
                    std::ostream& out) {
  const auto& aggs = plan.protocol.aggregators;
  out << "## Worst-case final accuracy over the attacks (%)\n\nThe lowest "
         "mean final accuracy over the attacks run at the fraction, with the "
         "attack that caused it.\n\n"
      << TableHeader("malicious", aggs);
  for (const double f : plan.protocol.fractions) {
    out << "| " << FractionText(f) << " |";
    for (const std::string& agg : aggs) {
      double worst = std::nan("");
      std::string which;
      for (const std::string& a : plan.protocol.AttacksAt(f)) {
        const Stat s = index.Of(kBaseShape, f, a, agg, FinalAcc);
        if (s.n > 0 && !(s.mean >= worst)) {
          worst = s.mean;
          which = a;
        }
      }
      out << " " << Pct(worst) << (which.empty() ? "" : " (" + which + ")")
          << " |";
    }
    out << "\n";
  }
  out << "\n";
}

// The filter per attack in one shape at one fraction.
void FilterDetail(const Plan& plan, const RunIndex& index,
                  const std::string& shape, double f,
                  const std::vector<std::string>& attacks, std::ostream& out) {
  const ShapeInfo* info = plan.Shape(shape);
  out << "### " << shape << ", " << FractionText(f) << " malicious"
      << (info ? " (" + ShapeText(*info) + ")" : "") << "\n\n"
      << TableHeader("attack", {"seeds", "TPR (%)", "FPR after warm-up (%)",
                                "attackers' updates accepted (%)",
                                "honest clients quarantined",
                                "final accuracy (%)", "backdoor success (%)"});
  for (const std::string& a : attacks) {
    const auto of = [&](const Metric& m) {
      return index.Of(shape, f, a, "filter", m);
    };
    const Stat backdoor = of(Backdoor);
    out << "| " << a << " | " << SeedsText(index, shape, f, a, "filter")
        << " | " << PctStat(of(Tpr)) << " | " << PctStat(of(HonestFlagged))
        << " | " << PctStat(of(Accepted)) << " | " << CountStat(of(Quarantined))
        << " | " << PctStat(of(FinalAcc)) << " | "
        << (backdoor.n > 0 ? PctStat(backdoor) : "") << " |\n";
  }
  out << "\n";
}

void DetectionTables(const Plan& plan, const RunIndex& index,
                     std::ostream& out) {
  const Protocol& p = plan.protocol;
  if (std::find(p.aggregators.begin(), p.aggregators.end(), "filter") ==
      p.aggregators.end()) {
    return;
  }
  out << "## The filter under attack\n\nTPR = malicious updates (from round "
      << p.start_round
      << " on) dropped or down-weighted / malicious updates sent. FPR = "
         "honest updates flagged the same way after the warm-up (rounds > "
      << plan.policy_warmup_rounds
      << "). Accepted = malicious updates that entered the average with any "
         "weight. Honest clients quarantined: per run, clients outside the "
         "malicious set dropped as quarantined at least once.\n\n";
  for (const double f : p.fractions) {
    FilterDetail(plan, index, kBaseShape, f, p.AttacksAt(f), out);
  }
  for (const std::string& shape : p.detection_shapes) {
    FilterDetail(plan, index, shape, p.targets.fraction,
                 p.targets.detection_attacks, out);
  }
}

// Rows: every (fraction, attack) of the base shape where some aggregator's
// runs report a backdoor success rate.
void BackdoorTable(const Plan& plan, const RunIndex& index, std::ostream& out) {
  const auto& aggs = plan.protocol.aggregators;
  std::vector<std::pair<double, std::string>> rows;
  for (const double f : plan.protocol.fractions) {
    for (const std::string& a : plan.protocol.AttacksAt(f)) {
      const bool any = std::any_of(aggs.begin(), aggs.end(), [&](auto& agg) {
        return index.Of(kBaseShape, f, a, agg, Backdoor).n > 0;
      });
      if (any) rows.emplace_back(f, a);
    }
  }
  if (rows.empty()) return;
  out << "## Backdoor attack success rate (%)\n\nShare of triggered test "
         "images (true class != target) classified as the target after the "
         "last round; lower is better.\n\n"
      << TableHeader("malicious, attack", aggs);
  for (const auto& [f, attack] : rows) {
    out << "| " << FractionText(f) << ", " << attack << " |";
    for (const std::string& agg : aggs) {
      out << " " << PctStat(index.Of(kBaseShape, f, attack, agg, Backdoor))
          << " |";
    }
    out << "\n";
  }
  out << "\n";
}

}  // namespace

std::string ShapeText(const ShapeInfo& s) {
  const std::string per_round =
      s.clients_per_round >= s.clients
          ? "all every round"
          : std::to_string(s.clients_per_round) + " a round";
  return std::to_string(s.clients) + " clients, " + per_round + ", " +
         s.partition + ", " + s.model;
}

void HonestSection(const Plan& plan, const RunIndex& index, std::ostream& out) {
  if (plan.protocol.honest_shapes.empty()) return;
  out << "## Honest clients without attack\n\nNo attack; the filter's runs "
         "and plain FedAvg's on the same seeds. Flagged = dropped or given a "
         "weight below 1, counted after the warm-up (rounds > "
      << plan.policy_warmup_rounds
      << "). Rounds excluded = rounds after the warm-up in which a client "
         "took part and its update was dropped, per honest client (mean over "
         "the honest clients, then over seeds). A client's accuracy on its "
         "own data distribution is the final global model's per-class test "
         "accuracy weighted by the client's training label distribution, "
         "sum_c p_i(c) acc(c) (summary.json, clients[].own_accuracy); the "
         "worst decile is the mean over the lowest tenth of the honest "
         "clients.\n\n";
  HonestDecisions(plan, index, out);
  HonestFairness(plan, index, out);
}

void AttackSections(const Plan& plan, const RunIndex& index,
                    std::ostream& out) {
  for (const bool tail : {false, true}) {
    out << "## "
        << (tail ? "Mean test accuracy of the last " +
                       std::to_string(kTailRounds) + " rounds (%)"
                 : std::string("Final test accuracy (%)"))
        << "\n\n"
        << (tail ? "The mean over rounds " +
                       std::to_string(plan.protocol.rounds - kTailRounds + 1) +
                       "-" + std::to_string(plan.protocol.rounds) +
                       ", which damps the round-to-round noise"
                 : "After round " + std::to_string(plan.protocol.rounds))
        << "; mean ± sample sd over the seeds, a single number for one seed; "
           "n/a = the runs did not finish.\n\n";
    const Metric metric = tail ? Metric(TailAcc) : Metric(FinalAcc);
    AccuracyTable(plan, index, FractionHeading(0.0), 0.0, {}, metric, out);
    for (const double f : plan.protocol.fractions) {
      AccuracyTable(plan, index, FractionHeading(f), f,
                    plan.protocol.AttacksAt(f, false), metric, out);
    }
  }
  AdaptiveSection(plan, index, out);
  WorstCaseTable(plan, index, out);
  DetectionTables(plan, index, out);
  BackdoorTable(plan, index, out);
}

}  // namespace flsentry::bench
