#include "benchmark_report_results.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace flsentry::bench {
namespace {

// Percent with one decimal; "n/a" for a missing value.
std::string Pct(double share) {
  if (!std::isfinite(share)) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", 100.0 * share);
  return buf;
}

// "12.3%", or "n/a" for a missing value.
std::string PctSign(double share) {
  return std::isfinite(share) ? Pct(share) + "%" : "n/a";
}

std::string Fixed(double v, const char* format) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string FractionText(double f) { return Fixed(100.0 * f, "%.0f%%"); }

// Accuracy for comparisons: a diverged (NaN) model counts as 0.
double Comparable(double accuracy) {
  return std::isfinite(accuracy) ? accuracy : 0.0;
}

constexpr int kTailRounds = 3;

// Mean accuracy of the last n rounds (NaN rounds count as 0).
double TailMean(const RunMetrics& m, int n) {
  const size_t k = std::min(m.rounds.size(), static_cast<size_t>(n));
  if (k == 0) return std::nan("");
  double sum = 0.0;
  for (size_t i = m.rounds.size() - k; i < m.rounds.size(); ++i) {
    sum += Comparable(m.rounds[i].accuracy);
  }
  return sum / static_cast<double>(k);
}

std::string TableHeader(const std::string& first,
                        const std::vector<std::string>& cols) {
  std::string s = "| " + first + " |";
  std::string rule = "|---|";
  for (const std::string& c : cols) {
    s += " " + c + " |";
    rule += "---:|";
  }
  return s + "\n" + rule + "\n";
}

struct WorstCase {
  double accuracy = std::nan("");  // NaN: no finished run
  std::string attack;
  int missing = 0;  // attacks whose run did not finish
};

WorstCase Worst(const Plan& plan, const RunIndex& index, double fraction,
                const std::string& agg) {
  WorstCase w;
  for (const std::string& attack : AttackRows(plan)) {
    const RunMetrics* m = index.Find(fraction, attack, agg);
    if (m == nullptr) {
      ++w.missing;
      continue;
    }
    const double a = Comparable(m->final_accuracy);
    if (!std::isfinite(w.accuracy) || a < w.accuracy) {
      w.accuracy = a;
      w.attack = attack;
    }
  }
  return w;
}

bool HasAggregator(const Plan& plan, const std::string& agg) {
  const auto& a = plan.protocol.aggregators;
  return std::find(a.begin(), a.end(), agg) != a.end();
}

void AccuracyTables(const Plan& plan, const RunIndex& index,
                    std::ostream& out) {
  const auto& aggs = plan.protocol.aggregators;
  out << "## Final test accuracy (%)\n\nAfter round " << plan.protocol.rounds
      << "; n/a = the run did not finish.\n\n";
  out << "### No attack\n\n" << TableHeader("attack", aggs) << "| none |";
  for (const std::string& agg : aggs) {
    const RunMetrics* m = index.Find(0.0, "none", agg);
    out << " " << (m ? Pct(m->final_accuracy) : "n/a") << " |";
  }
  out << "\n\n";
  for (const double f : plan.protocol.fractions) {
    out << "### " << FractionText(f) << " malicious\n\n"
        << TableHeader("attack", aggs);
    for (const std::string& attack : AttackRows(plan)) {
      out << "| " << attack << " |";
      for (const std::string& agg : aggs) {
        const RunMetrics* m = index.Find(f, attack, agg);
        out << " " << (m ? Pct(m->final_accuracy) : "n/a") << " |";
      }
      out << "\n";
    }
    out << "\n";
  }
  out << "## Worst-case accuracy over all attacks (%)\n\nThe lowest final "
         "accuracy "
         "over the attacks, with the attack that caused it.\n\n"
      << TableHeader("malicious", aggs);
  for (const double f : plan.protocol.fractions) {
    out << "| " << FractionText(f) << " |";
    for (const std::string& agg : aggs) {
      const WorstCase w = Worst(plan, index, f, agg);
      out << " " << Pct(w.accuracy);
      if (!w.attack.empty()) out << " (" << w.attack << ")";
      if (w.missing > 0) out << " [" << w.missing << " missing]";
      out << " |";
    }
    out << "\n";
  }
  out << "\n";
}

void FilterTables(const Plan& plan, const RunIndex& index, std::ostream& out) {
  if (!HasAggregator(plan, "filter")) return;
  out << "## Filter false-positive rate with no attack, per round\n\n"
         "Benign updates the filter dropped or down-weighted (weight < 1, "
         "norm-guard "
         "clipping included) / benign updates sent.\n\n";
  const RunMetrics* clean = index.Find(0.0, "none", "filter");
  if (clean == nullptr) {
    out << "The no-attack filter run did not finish.\n\n";
  } else {
    double max_fpr = 0.0;
    int max_round = 0;
    out << "| round | benign sent | flagged | FPR (%) "
           "|\n|---:|---:|---:|---:|\n";
    for (const RoundMetrics& r : clean->rounds) {
      const double fpr = r.counts.Fpr();
      if (std::isfinite(fpr) && fpr > max_fpr) {
        max_fpr = fpr;
        max_round = r.round;
      }
      out << "| " << r.round << " | " << r.counts.fp + r.counts.tn << " | "
          << r.counts.fp << " | " << Pct(fpr) << " |\n";
    }
    out << "\nMaximum " << Pct(max_fpr) << "%"
        << (max_round > 0 ? " (round " + std::to_string(max_round) + ")" : "")
        << "; over all rounds " << PctSign(clean->counts.Fpr()) << ".\n\n";
  }
  out << "## Filter detection per attack\n\nTPR = malicious updates (from "
         "round "
      << plan.protocol.start_round
      << " on) dropped or down-weighted / malicious updates sent; FPR the same "
         "for "
         "benign updates, over all rounds.\n\n";
  std::vector<std::string> cols;
  for (const double f : plan.protocol.fractions) {
    cols.push_back("TPR " + FractionText(f));
    cols.push_back("FPR " + FractionText(f));
  }
  out << TableHeader("attack", cols);
  for (const std::string& attack : AttackRows(plan)) {
    out << "| " << attack << " |";
    for (const double f : plan.protocol.fractions) {
      const RunMetrics* m = index.Find(f, attack, "filter");
      out << " " << (m ? Pct(m->counts.Tpr()) : "n/a") << " | "
          << (m ? Pct(m->counts.Fpr()) : "n/a") << " |";
    }
    out << "\n";
  }
  out << "\n";
}

void BackdoorTable(const Plan& plan, const RunIndex& index, std::ostream& out) {
  const auto& attacks = plan.protocol.attacks;
  if (std::find(attacks.begin(), attacks.end(), "backdoor") == attacks.end())
    return;
  out << "## Backdoor attack success rate (%)\n\nShare of triggered test "
         "images (true "
         "class != target) classified as the target after the last round; "
         "lower is "
         "better.\n\n"
      << TableHeader("malicious", plan.protocol.aggregators);
  for (const double f : plan.protocol.fractions) {
    out << "| " << FractionText(f) << " |";
    for (const std::string& agg : plan.protocol.aggregators) {
      const RunMetrics* m = index.Find(f, "backdoor", agg);
      out << " "
          << (m && m->final_backdoor_success ? Pct(*m->final_backdoor_success)
                                             : "n/a")
          << " |";
    }
    out << "\n";
  }
  out << "\n";
}

// Each target as one line: MET / MISSED / NOT EVALUATED with the numbers.
void TargetsSection(const Plan& plan, const RunIndex& index,
                    std::ostream& out) {
  const auto& t = plan.protocol.targets;
  out << "## Targets\n\n";
  if (HasAggregator(plan, "filter")) {
    const RunMetrics* clean = index.Find(0.0, "none", "filter");
    if (clean == nullptr) {
      out << "- **NOT EVALUATED**: no-attack FPR <= "
          << Pct(t.max_fpr_per_round)
          << "% per round (the no-attack filter run did not finish).\n";
    } else {
      double max_fpr = 0.0;
      int over = 0;
      for (const RoundMetrics& r : clean->rounds) {
        const double fpr = r.counts.Fpr();
        if (std::isfinite(fpr)) max_fpr = std::max(max_fpr, fpr);
        over += std::isfinite(fpr) && fpr > t.max_fpr_per_round;
      }
      out << "- **" << (over == 0 ? "MET" : "MISSED")
          << "**: no-attack FPR <= " << Pct(t.max_fpr_per_round)
          << "% in every round: maximum " << Pct(max_fpr) << "%, " << over
          << " of " << clean->rounds.size() << " rounds above";
      if (over > 0 && !clean->rounds.empty()) {
        const long sent =
            clean->rounds.front().counts.fp + clean->rounds.front().counts.tn;
        out << " (over all rounds " << clean->counts.fp << " of "
            << clean->counts.fp + clean->counts.tn
            << " benign updates flagged, " << PctSign(clean->counts.Fpr())
            << "; with " << sent
            << " benign updates in a round a single false positive is "
            << PctSign(sent > 0 ? 1.0 / static_cast<double>(sent)
                                : std::nan(""))
            << " of that round)";
      }
      out << ".\n";
    }
  }
  const RunMetrics* base = index.Find(0.0, "none", "fedavg");
  const bool has_target_fraction = std::any_of(
      plan.protocol.fractions.begin(), plan.protocol.fractions.end(),
      [&](double f) { return FractionTag(f) == FractionTag(t.fraction); });
  if (HasAggregator(plan, "filter") && has_target_fraction) {
    if (base == nullptr) {
      out << "- **NOT EVALUATED**: accuracy at " << FractionText(t.fraction)
          << " (the no-attack FedAvg run did not finish).\n";
    } else {
      const double floor =
          Comparable(base->final_accuracy) - t.accuracy_points / 100.0;
      std::vector<std::string> misses, missing;
      for (const std::string& attack : AttackRows(plan)) {
        const RunMetrics* m = index.Find(t.fraction, attack, "filter");
        if (m == nullptr) {
          missing.push_back(attack);
        } else if (Comparable(m->final_accuracy) < floor) {
          misses.push_back(attack + " " + PctSign(m->final_accuracy) +
                           " (filter TPR " + PctSign(m->counts.Tpr()) +
                           ", FPR " + PctSign(m->counts.Fpr()) + ")");
        }
      }
      const char* verdict = !misses.empty()   ? "MISSED"
                            : missing.empty() ? "MET"
                                              : "NOT EVALUATED";
      out << "- **" << verdict << "**: at " << FractionText(t.fraction)
          << " malicious the filter's final accuracy is within "
          << t.accuracy_points << " points of no-attack FedAvg ("
          << Pct(base->final_accuracy) << "%, so >= " << Pct(floor)
          << "%) under every attack";
      if (!misses.empty()) {
        out << "; below under " << misses.size() << " of "
            << AttackRows(plan).size() << ": ";
        for (size_t i = 0; i < misses.size(); ++i)
          out << (i ? "; " : "") << misses[i];
      }
      if (!missing.empty()) out << "; " << missing.size() << " runs missing";
      out << ".\n";
      // The same with the mean of the last rounds, which damps the
      // round-to-round noise of a single final accuracy.
      const double tail_floor =
          TailMean(*base, kTailRounds) - t.accuracy_points / 100.0;
      std::vector<std::string> tail_misses;
      for (const std::string& attack : AttackRows(plan)) {
        const RunMetrics* m = index.Find(t.fraction, attack, "filter");
        if (m != nullptr && TailMean(*m, kTailRounds) < tail_floor) {
          tail_misses.push_back(attack + " " +
                                PctSign(TailMean(*m, kTailRounds)));
        }
      }
      out << "  - with the mean accuracy of the last " << kTailRounds
          << " rounds instead (no-attack FedAvg "
          << PctSign(TailMean(*base, kTailRounds)) << "): "
          << (!tail_misses.empty() ? "missed"
              : missing.empty()    ? "met"
                                   : "not evaluated (runs missing)");
      for (size_t i = 0; i < tail_misses.size(); ++i) {
        out << (i ? "; " : " under ") << tail_misses[i];
      }
      out << ".\n";
    }
  }
  if (HasAggregator(plan, "filter")) {
    for (const double f : plan.protocol.fractions) {
      const WorstCase mine = Worst(plan, index, f, "filter");
      bool all_beaten = true, complete = mine.missing == 0;
      std::string detail = "filter " + PctSign(mine.accuracy);
      for (const char* other : {"median", "trimmed_mean", "multikrum"}) {
        if (!HasAggregator(plan, other)) continue;
        const WorstCase w = Worst(plan, index, f, other);
        complete = complete && w.missing == 0;
        detail += ", " + std::string(other) + " " + PctSign(w.accuracy);
        if (!(mine.accuracy > w.accuracy)) all_beaten = false;
      }
      const char* verdict = !complete    ? "NOT EVALUATED"
                            : all_beaten ? "MET"
                                         : "MISSED";
      out << "- **" << verdict << "**: at " << FractionText(f)
          << " malicious the filter's worst-case accuracy over the attacks is "
             "higher "
             "than median's, trimmed mean's and Multi-Krum's: "
          << detail << ".\n";
    }
  }
  out << "\n";
}

void Header(const Plan& plan, const RunIndex& index, const ReportContext& ctx,
            std::ostream& out) {
  const Protocol& p = plan.protocol;
  int finished = 0;
  double simulated = 0.0;
  for (const RunOutcome& r : index.runs()) {
    if (r.metrics) {
      ++finished;
      simulated += r.metrics->total_seconds;
    }
  }
  out << "# flsentry benchmark results (protocol `" << p.name << "`)\n\n"
      << "Generated by `" << ctx.command << "` at commit `" << ctx.commit
      << "` on " << ctx.date << ".\nMachine: " << ctx.machine
      << ".\nRuns: " << finished << " of " << index.runs().size()
      << " finished (" << ctx.runs_executed
      << " simulated by this invocation, the others resumed from their "
         "summary.json); "
      << "wall time of this invocation "
      << Fixed(ctx.wall_seconds / 60.0, "%.1f")
      << " min, 2 runs at a time with 1 LibTorch thread each; sum of all runs' "
         "round "
         "times "
      << Fixed(simulated / 60.0, "%.1f") << " min.\n\n";
  out << "## Protocol\n\n"
      << "- Fashion-MNIST, " << plan.clients << " clients, "
      << plan.clients_per_round << " sampled per round, model " << plan.model
      << "; " << plan.setting << " (from `" << p.base_config << "`";
  if (!p.overrides.empty()) {
    out << " with";
    for (const auto& [k, v] : p.overrides) out << " " << k << "=" << v;
  }
  out << ").\n- " << p.rounds << " rounds. Every attack starts at round "
      << p.start_round << ". The filter runs the policy `" << p.policy
      << "` as shipped (copied into each filter run's directory); its "
         "`detector.refresh.warmup_rounds` is "
      << plan.policy_warmup_rounds << ": it trusts and learns from the first "
      << plan.policy_warmup_rounds << " rounds as warm-up";
  if (plan.policy_warmup_rounds < p.start_round) {
    out << ", so the attackers are honest during the warm-up.\n";
  } else {
    out << ". **The attacks start inside the warm-up**: the filter learns "
           "attacked updates as normal in rounds "
        << p.start_round << "-" << plan.policy_warmup_rounds << ".\n";
  }
  out << "- Malicious fractions 0%";
  for (const double f : p.fractions) out << ", " << FractionText(f);
  out << " of the clients (a fixed, seeded set; per round the number of "
         "malicious "
         "participants varies around fraction x "
      << plan.clients_per_round
      << ").\n- Attack parameters, read from "
         "`configs/sim/attack_<name>.yaml` when the plan was made:\n";
  for (const auto& [name, details] : plan.attack_details) {
    out << "  - `" << name << "`: " << details << "\n";
  }
  static const std::map<std::string, std::string> kWhat = {
      {"fedavg", "FedAvg without defence"},
      {"filter",
       "FedAvg with the flsentry plugin (not told how many clients are "
       "malicious)"},
      {"median", "coordinate-wise median"},
      {"trimmed_mean", "coordinate-wise trimmed mean"},
      {"multikrum", "Multi-Krum (told f)"},
      {"normclip", "FedAvg of norm-clipped updates"}};
  out << "- Aggregators (parameters per malicious fraction; without attack the "
         "defences keep the setting of the smallest attacked fraction):\n";
  for (const std::string& agg : p.aggregators) {
    out << "  - `" << agg << "`: " << kWhat.at(agg);
    for (const RunOutcome& r : index.runs()) {
      if (r.spec.aggregator != agg || r.spec.agg_params.empty()) continue;
      if (r.spec.attack != "none" && r.spec.attack != AttackRows(plan).front())
        continue;
      out << "; " << FractionText(r.spec.fraction) << ": " << r.spec.agg_params;
    }
    out << "\n";
  }
  out << "- Accuracy is the test accuracy after the last round (one seed). An "
         "update "
         "counts as flagged when the filter dropped it or gave it a weight "
         "below 1.\n\n";
}

// Error text from files (JSON parse errors quote the bad bytes) as printable
// ASCII for Markdown: other bytes and backticks become '?'.
std::string PrintableText(std::string text) {
  for (char& c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u > 0x7e || c == '`') c = '?';
  }
  return text;
}

void RunList(const RunIndex& index, std::ostream& out) {
  std::vector<const RunOutcome*> failed;
  for (const RunOutcome& r : index.runs()) {
    if (!r.metrics) failed.push_back(&r);
  }
  if (failed.empty()) return;
  out << "## Runs that did not finish\n\n";
  for (const RunOutcome* r : failed) {
    out << "- `" << r->spec.id << "`: " << PrintableText(r->error) << "\n";
  }
  out << "\n";
}

}  // namespace

RunIndex::RunIndex(const std::vector<RunOutcome>& runs) : runs_(runs) {
  for (const RunOutcome& r : runs_) {
    by_key_[Key(r.spec.fraction, r.spec.attack, r.spec.aggregator)] = &r;
  }
}

std::string RunIndex::Key(double fraction, const std::string& attack,
                          const std::string& aggregator) {
  return FractionTag(fraction) + "/" + attack + "/" + aggregator;
}

const RunMetrics* RunIndex::Find(double fraction, const std::string& attack,
                                 const std::string& aggregator) const {
  const auto it = by_key_.find(Key(fraction, attack, aggregator));
  if (it == by_key_.end() || !it->second->metrics) return nullptr;
  return &*it->second->metrics;
}

const RunSpec* RunIndex::Spec(double fraction, const std::string& attack,
                              const std::string& aggregator) const {
  const auto it = by_key_.find(Key(fraction, attack, aggregator));
  return it == by_key_.end() ? nullptr : &it->second->spec;
}

std::vector<std::string> AttackRows(const Plan& plan) {
  return plan.protocol.attacks;
}

std::string ResultsMarkdown(const Plan& plan, const RunIndex& index,
                            const ReportContext& ctx,
                            const std::vector<std::string>& svg_files) {
  std::ostringstream out;
  Header(plan, index, ctx, out);
  TargetsSection(plan, index, out);
  if (!ctx.notes.empty()) out << "## Notes\n\n" << ctx.notes << "\n\n";
  AccuracyTables(plan, index, out);
  FilterTables(plan, index, out);
  BackdoorTable(plan, index, out);
  if (!svg_files.empty()) {
    out << "## Plots\n\n";
    for (const std::string& file : svg_files) {
      const std::string path =
          ctx.svg_rel_dir.empty() ? file : ctx.svg_rel_dir + "/" + file;
      out << "![" << file << "](" << path << ")\n\n";
    }
  }
  RunList(index, out);
  return out.str();
}

}  // namespace flsentry::bench
