// WritePlots (declared in benchmark_report_results.h): the report's SVGs.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "benchmark_report_results.h"
#include "benchmark_report_svg.h"

namespace flsentry::bench {
namespace {

namespace fs = std::filesystem;

std::string ColorOf(const std::string& aggregator) {
  static const std::map<std::string, std::string> kColors = {
      {"fedavg", "#495057"},    {"filter", "#e03131"},
      {"median", "#1c7ed6"},    {"trimmed_mean", "#2f9e44"},
      {"multikrum", "#f08c00"}, {"normclip", "#7048e8"}};
  const auto it = kColors.find(aggregator);
  return it == kColors.end() ? "#000000" : it->second;
}

std::vector<double> AccuracyByRound(const RunMetrics* m, int rounds) {
  std::vector<double> y(static_cast<size_t>(rounds), std::nan(""));
  if (m == nullptr) return y;
  for (size_t i = 0; i < m->rounds.size() && i < y.size(); ++i)
    y[i] = m->rounds[i].accuracy;
  return y;
}

Status WriteFile(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.flush();
  if (!out) return IoError(path.string() + ": write failed");
  return Status::Ok();
}

std::string PercentLabel(double fraction) {
  return std::to_string(static_cast<int>(std::lround(fraction * 100.0))) + "%";
}

std::string TargetText(double share) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g%%", 100.0 * share);
  return buf;
}

}  // namespace

Result<std::vector<std::string>> WritePlots(const Plan& plan,
                                            const RunIndex& index,
                                            const std::string& svg_dir) {
  std::error_code ec;
  fs::create_directories(svg_dir, ec);
  if (ec) return IoError(svg_dir + ": " + ec.message());
  const Protocol& p = plan.protocol;
  std::vector<std::string> files;

  // Accuracy by round: one panel per attack, one line per aggregator, and
  // no-attack FedAvg dashed for reference.
  const RunMetrics* reference = index.Find(0.0, "none", "fedavg");
  for (const double f : p.fractions) {
    std::vector<Panel> panels;
    for (const std::string& attack : AttackRows(plan)) {
      Panel panel;
      panel.title = attack;
      panel.series.push_back({"fedavg, no attack", "#adb5bd",
                              AccuracyByRound(reference, p.rounds), true,
                              false});
      // The filter is drawn last (on top) and thicker.
      std::vector<std::string> order;
      for (const std::string& agg : p.aggregators) {
        if (agg != "filter") order.push_back(agg);
      }
      if (order.size() < p.aggregators.size()) order.push_back("filter");
      for (const std::string& agg : order) {
        panel.series.push_back(
            {agg, ColorOf(agg),
             AccuracyByRound(index.Find(f, attack, agg), p.rounds), false,
             agg == "filter"});
      }
      panels.push_back(std::move(panel));
    }
    const std::string name = "accuracy_by_round_" + FractionTag(f) + ".svg";
    FLS_RETURN_IF_ERROR(WriteFile(
        fs::path(svg_dir) / name,
        SmallMultiplesSvg("Test accuracy by round, " + PercentLabel(f) +
                              " malicious (attacks from round " +
                              std::to_string(p.start_round) + ")",
                          panels, 5)));
    files.push_back(name);
  }

  // Final accuracy heat map: rows (fraction, attack), columns aggregators.
  HeatMap map;
  map.title = "Final test accuracy (%) after round " + std::to_string(p.rounds);
  map.col_labels = p.aggregators;
  const auto add_row = [&](double f, const std::string& attack) {
    map.row_labels.push_back(PercentLabel(f) + "  " + attack);
    std::vector<double> row;
    for (const std::string& agg : p.aggregators) {
      const RunMetrics* m = index.Find(f, attack, agg);
      row.push_back(m ? m->final_accuracy : std::nan(""));
    }
    map.values.push_back(std::move(row));
  };
  add_row(0.0, "none");
  for (const double f : p.fractions) {
    for (const std::string& attack : AttackRows(plan)) add_row(f, attack);
  }
  FLS_RETURN_IF_ERROR(
      WriteFile(fs::path(svg_dir) / "final_accuracy.svg", HeatMapSvg(map)));
  files.push_back("final_accuracy.svg");

  // The filter's per-round FPR without attack against the target.
  bool has_filter = false;
  for (const std::string& agg : p.aggregators)
    has_filter = has_filter || agg == "filter";
  if (has_filter) {
    std::vector<double> fpr(static_cast<size_t>(p.rounds), std::nan(""));
    if (const RunMetrics* m = index.Find(0.0, "none", "filter")) {
      for (size_t i = 0; i < m->rounds.size() && i < fpr.size(); ++i) {
        fpr[i] = m->rounds[i].counts.Fpr();
      }
    }
    double y_max = 0.05;  // rounded up to a multiple of 5%
    for (const double v : fpr) {
      if (std::isfinite(v))
        y_max = std::max(y_max, std::ceil(v * 20.0 - 1e-9) / 20.0);
    }
    FLS_RETURN_IF_ERROR(WriteFile(
        fs::path(svg_dir) / "filter_fpr_no_attack.svg",
        BarChartSvg("Filter false-positive rate per round, no attack", fpr,
                    y_max, p.targets.max_fpr_per_round,
                    "target " + TargetText(p.targets.max_fpr_per_round),
                    "round", "benign updates flagged (%)")));
    files.push_back("filter_fpr_no_attack.svg");
  }
  return files;
}

}  // namespace flsentry::bench
