// HonestSection and AttackSections (benchmark_report_results.h): the
// report's tables, every cell the mean (± sample sd) over its seeds.
#include <algorithm>
#include <cmath>

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

// Rows attacks at f (or "none"), columns aggregators, values metric.
void AccuracyTable(const Plan& plan, const RunIndex& index, double f,
                   const Metric& metric, std::ostream& out) {
  const auto& aggs = plan.protocol.aggregators;
  out << "### " << (f == 0.0 ? "No attack" : FractionText(f) + " malicious")
      << "\n\n"
      << TableHeader("attack", aggs);
  const std::vector<std::string> rows =
      f == 0.0 ? std::vector<std::string>{"none"} : plan.protocol.AttacksAt(f);
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

void BackdoorTable(const Plan& plan, const RunIndex& index, std::ostream& out) {
  bool any = false;
  for (const double f : plan.protocol.fractions) {
    const auto attacks = plan.protocol.AttacksAt(f);
    any = any || std::find(attacks.begin(), attacks.end(), "backdoor") !=
                     attacks.end();
  }
  if (!any) return;
  out << "## Backdoor attack success rate (%)\n\nShare of triggered test "
         "images (true class != target) classified as the target after the "
         "last round; lower is better.\n\n"
      << TableHeader("malicious", plan.protocol.aggregators);
  for (const double f : plan.protocol.fractions) {
    out << "| " << FractionText(f) << " |";
    for (const std::string& agg : plan.protocol.aggregators) {
      out << " " << PctStat(index.Of(kBaseShape, f, "backdoor", agg, Backdoor))
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
    AccuracyTable(plan, index, 0.0, metric, out);
    for (const double f : plan.protocol.fractions)
      AccuracyTable(plan, index, f, metric, out);
  }
  WorstCaseTable(plan, index, out);
  DetectionTables(plan, index, out);
  BackdoorTable(plan, index, out);
}

}  // namespace flsentry::bench
