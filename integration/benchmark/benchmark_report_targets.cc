// TargetsSection (benchmark_report_results.h): each published target as one
// line, MET / MISSED / NOT EVALUATED, measured as the mean over seeds.
#include <algorithm>
#include <cmath>
#include <sstream>

#include "benchmark_report_results.h"

namespace flsentry::bench {
namespace {

bool Has(const std::vector<std::string>& list, const std::string& s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

// A target's outcome while its cells are examined.
struct Verdict {
  std::vector<std::string> misses;  // "cell: numbers"
  int missing = 0;                  // cells with unfinished runs

  const char* Word() const {
    return !misses.empty() ? "MISSED" : missing == 0 ? "MET" : "NOT EVALUATED";
  }
  // "; missed in 2 of 9: a; b" / "; 3 cells incomplete".
  std::string Detail(size_t cells) const {
    std::string s;
    if (!misses.empty()) {
      s += "; missed in " + std::to_string(misses.size()) + " of " +
           std::to_string(cells) + ": ";
      for (size_t i = 0; i < misses.size(); ++i)
        s += (i ? "; " : "") + misses[i];
    }
    if (missing > 0)
      s += "; " + std::to_string(missing) + " cells have unfinished runs";
    return s;
  }
};

double FinalAcc(const RunMetrics& m) { return Comparable(m.final_accuracy); }
double TailAcc(const RunMetrics& m) { return m.tail_accuracy; }
double HonestFlagged(const RunMetrics& m) { return m.after_warmup.Fpr(); }
double HonestQuarantined(const RunMetrics& m) { return m.honest_quarantined; }
double Tpr(const RunMetrics& m) { return m.counts.Tpr(); }
double Backdoor(const RunMetrics& m) {
  return m.final_backdoor_success ? *m.final_backdoor_success : std::nan("");
}

void HonestTarget(const Plan& plan, const RunIndex& index, std::ostream& out) {
  const Targets& t = plan.protocol.targets;
  Verdict v;
  for (const std::string& shape : plan.protocol.honest_shapes) {
    if (!index.Complete(shape, 0.0, "none", "filter")) {
      ++v.missing;
      continue;
    }
    const Stat flagged = index.Of(shape, 0.0, "none", "filter", HonestFlagged);
    const Stat quarantined =
        index.Of(shape, 0.0, "none", "filter", HonestQuarantined);
    if (flagged.mean > t.max_honest_flagged || quarantined.max > 0) {
      v.misses.push_back(shape + " " + PctSign(flagged.mean) + " flagged, " +
                         Fixed(quarantined.mean, "%.1f") +
                         " honest clients quarantined");
    }
  }
  out << "- **" << v.Word() << "**: without attack, in every honest shape ("
      << plan.protocol.honest_shapes.size()
      << "), the filter flags (drops or down-weights) at most "
      << PctSign(t.max_honest_flagged)
      << " of honest updates after the warm-up and quarantines no honest "
         "client (mean over seeds)"
      << v.Detail(plan.protocol.honest_shapes.size()) << ".\n";
}

// Targets 2 and 3 at targets.fraction, with the last-rounds variant.
void AccuracyTargets(const Plan& plan, const RunIndex& index,
                     std::ostream& out) {
  const Targets& t = plan.protocol.targets;
  const std::vector<std::string> attacks = plan.protocol.AttacksAt(t.fraction);
  if (!Has(plan.protocol.aggregators, "filter") || attacks.empty()) return;
  const std::string at = FractionText(t.fraction);
  if (!index.Complete(kBaseShape, 0.0, "none", "fedavg")) {
    out << "- **NOT EVALUATED**: accuracy at " << at
        << " (the no-attack FedAvg runs did not all finish).\n";
    return;
  }
  for (const bool tail : {false, true}) {
    const Metric metric = tail ? Metric(TailAcc) : Metric(FinalAcc);
    const double ref = index.Of(kBaseShape, 0.0, "none", "fedavg", metric).mean;
    const double floor = ref - t.accuracy_points / 100.0;
    Verdict v;
    for (const std::string& a : attacks) {
      if (!index.Complete(kBaseShape, t.fraction, a, "filter")) {
        ++v.missing;
        continue;
      }
      const Stat s = index.Of(kBaseShape, t.fraction, a, "filter", metric);
      if (s.mean < floor) v.misses.push_back(a + " " + PctStat(s) + "%");
    }
    out << (tail ? "  - " : "- ") << "**" << v.Word() << "**: at " << at
        << " malicious the filter's "
        << (tail ? "mean accuracy of the last " + std::to_string(kTailRounds) +
                       " rounds"
                 : std::string("final accuracy"))
        << " is within " << t.accuracy_points
        << " points of no-attack FedAvg's (" << PctSign(ref)
        << ", so >= " << PctSign(floor) << ") under every attack"
        << v.Detail(attacks.size()) << ".\n";
  }
  Verdict v;
  size_t cells = 0;
  for (const std::string& a : attacks) {
    if (index.Planned(kBaseShape, t.fraction, a, "filter") == 0) continue;
    const Stat s = index.Of(kBaseShape, t.fraction, a, "filter", Backdoor);
    if (s.n == 0 && index.Complete(kBaseShape, t.fraction, a, "filter"))
      continue;  // no backdoor in this attack
    ++cells;
    if (!index.Complete(kBaseShape, t.fraction, a, "filter")) {
      ++v.missing;
    } else if (s.mean > t.max_backdoor_success) {
      v.misses.push_back(a + " " + PctStat(s) + "%");
    }
  }
  if (cells == 0) return;
  out << "- **" << v.Word() << "**: at " << at
      << " malicious the backdoor's success rate against the filter is at "
         "most "
      << PctSign(t.max_backdoor_success) << v.Detail(cells) << ".\n";
}

// The lowest mean final accuracy over the attacks at f, with the attack.
struct WorstCase {
  double accuracy = std::nan("");
  std::string attack;
  bool complete = true;
};

WorstCase Worst(const Plan& plan, const RunIndex& index, double f,
                const std::string& agg) {
  WorstCase w;
  for (const std::string& a : plan.protocol.AttacksAt(f)) {
    w.complete = w.complete && index.Complete(kBaseShape, f, a, agg);
    const Stat s = index.Of(kBaseShape, f, a, agg, FinalAcc);
    if (s.n > 0 && !(s.mean >= w.accuracy)) {
      w.accuracy = s.mean;
      w.attack = a;
    }
  }
  return w;
}

void WorstCaseTargets(const Plan& plan, const RunIndex& index,
                      std::ostream& out) {
  for (const double f : plan.protocol.fractions) {
    const WorstCase mine = Worst(plan, index, f, "filter");
    bool beaten = true, complete = mine.complete;
    std::string detail =
        "filter " + PctSign(mine.accuracy) + " (" + mine.attack + ")";
    for (const char* other : {"median", "trimmed_mean", "multikrum"}) {
      if (!Has(plan.protocol.aggregators, other)) continue;
      const WorstCase w = Worst(plan, index, f, other);
      complete = complete && w.complete;
      detail += ", " + std::string(other) + " " + PctSign(w.accuracy) + " (" +
                w.attack + ")";
      beaten = beaten && mine.accuracy > w.accuracy;
    }
    out << "- **"
        << (!complete ? "NOT EVALUATED"
            : beaten  ? "MET"
                      : "MISSED")
        << "**: at " << FractionText(f)
        << " malicious the filter's worst-case final accuracy over the "
           "attacks is higher than median's, trimmed mean's and "
           "Multi-Krum's: "
        << detail << ".\n";
  }
}

void DetectionTarget(const Plan& plan, const RunIndex& index,
                     std::ostream& out) {
  const Targets& t = plan.protocol.targets;
  if (t.detection_attacks.empty()) return;
  std::vector<std::string> shapes = {kBaseShape};
  shapes.insert(shapes.end(), plan.protocol.detection_shapes.begin(),
                plan.protocol.detection_shapes.end());
  Verdict v;
  size_t cells = 0;
  for (const std::string& shape : shapes) {
    for (const std::string& a : t.detection_attacks) {
      ++cells;
      if (!index.Complete(shape, t.fraction, a, "filter")) {
        ++v.missing;
        continue;
      }
      const Stat tpr = index.Of(shape, t.fraction, a, "filter", Tpr);
      const Stat fpr = index.Of(shape, t.fraction, a, "filter", HonestFlagged);
      if (tpr.mean < t.min_tpr || fpr.mean > t.max_fpr) {
        v.misses.push_back(shape + "/" + a + " TPR " + Fixed(tpr.mean, "%.3f") +
                           " FPR " + Fixed(fpr.mean, "%.3f"));
      }
    }
  }
  std::string shape_list;
  for (const std::string& s : shapes) {
    const ShapeInfo* info = plan.Shape(s);
    shape_list +=
        (shape_list.empty() ? "" : " and ") + s +
        (info ? " (" + std::to_string(info->clients) + " clients, " +
                    std::to_string(info->clients_per_round) + " a round)"
              : "");
  }
  out << "- **" << v.Word() << "**: at " << FractionText(t.fraction)
      << " malicious the filter detects every listed attack with TPR >= "
      << Fixed(t.min_tpr, "%.2f") << " at FPR <= " << Fixed(t.max_fpr, "%.2f")
      << " (FPR over honest updates after the warm-up), in " << shape_list
      << v.Detail(cells) << ".\n";
}

}  // namespace

void TargetsSection(const Plan& plan, const RunIndex& index,
                    std::ostream& out) {
  out << "## Targets\n\nEach measured as the mean over the cell's seeds.\n\n";
  if (!Has(plan.protocol.aggregators, "filter")) {
    out << "The plan has no filter runs.\n\n";
    return;
  }
  if (!plan.protocol.honest_shapes.empty()) HonestTarget(plan, index, out);
  AccuracyTargets(plan, index, out);
  WorstCaseTargets(plan, index, out);
  DetectionTarget(plan, index, out);
  out << "\n";
}

}  // namespace flsentry::bench
