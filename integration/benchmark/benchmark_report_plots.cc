// WritePlots (declared in benchmark_report_results.h): the report's SVGs.
#include <algorithm>
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

// Accuracy by round, the mean over the cell's finished runs; NaN where none.
std::vector<double> AccuracyByRound(const std::vector<const RunMetrics*>& runs,
                                    int rounds) {
  std::vector<double> y(static_cast<size_t>(rounds), std::nan(""));
  for (size_t i = 0; i < y.size(); ++i) {
    std::vector<double> values;
    for (const RunMetrics* m : runs) {
      if (i < m->rounds.size()) values.push_back(m->rounds[i].accuracy);
    }
    y[i] = Summarize(values).mean;
  }
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

namespace {

// One panel per attack at f, one line per aggregator (mean over seeds), and
// no-attack FedAvg dashed for reference; written to dir/name.
Status AccuracyByRoundPlot(const Plan& plan, const RunIndex& index, double f,
                           const std::vector<std::string>& attacks,
                           const std::string& title, const fs::path& dir,
                           const std::string& name,
                           std::vector<std::string>* files) {
  const Protocol& p = plan.protocol;
  const auto reference =
      AccuracyByRound(index.Cell(kBaseShape, 0.0, "none", "fedavg"), p.rounds);
  // The filter is drawn last (on top) and thicker.
  std::vector<std::string> order;
  for (const std::string& agg : p.aggregators) {
    if (agg != "filter") order.push_back(agg);
  }
  if (order.size() < p.aggregators.size()) order.push_back("filter");
  std::vector<Panel> panels;
  for (const std::string& attack : attacks) {
    Panel panel;
    panel.title = attack;
    panel.series.push_back(
        {"fedavg, no attack", "#adb5bd", reference, true, false});
    for (const std::string& agg : order) {
      panel.series.push_back(
          {agg, ColorOf(agg),
           AccuracyByRound(index.Cell(kBaseShape, f, attack, agg), p.rounds),
           false, agg == "filter"});
    }
    panels.push_back(std::move(panel));
  }
  FLS_RETURN_IF_ERROR(WriteFile(
      dir / name,
      SmallMultiplesSvg(title + " (mean over seeds), " + PercentLabel(f) +
                            " malicious (attacks from round " +
                            std::to_string(p.start_round) + ")",
                        panels, 5)));
  files->push_back(name);
  return Status::Ok();
}

// accuracy_by_round_<fNN>.svg per fraction, and
// accuracy_by_round_adaptive_<fNN>.svg where adaptive attacks run.
Status AccuracyPlots(const Plan& plan, const RunIndex& index,
                     const fs::path& dir, std::vector<std::string>* files) {
  for (const double f : plan.protocol.fractions) {
    FLS_RETURN_IF_ERROR(AccuracyByRoundPlot(
        plan, index, f, plan.protocol.AttacksAt(f, false),
        "Test accuracy by round", dir,
        "accuracy_by_round_" + FractionTag(f) + ".svg", files));
    const auto adaptive = plan.protocol.AttacksAt(f, true);
    if (adaptive.empty()) continue;
    FLS_RETURN_IF_ERROR(AccuracyByRoundPlot(
        plan, index, f, adaptive, "Adaptive attacks: test accuracy by round",
        dir, "accuracy_by_round_adaptive_" + FractionTag(f) + ".svg", files));
  }
  return Status::Ok();
}

Status FinalAccuracyPlot(const Plan& plan, const RunIndex& index,
                         const fs::path& dir, std::vector<std::string>* files) {
  const Protocol& p = plan.protocol;
  HeatMap map;
  map.title = "Final test accuracy (%) after round " +
              std::to_string(p.rounds) + ", mean over seeds";
  map.col_labels = p.aggregators;
  const auto add_row = [&](double f, const std::string& attack) {
    map.row_labels.push_back(PercentLabel(f) + "  " + attack);
    std::vector<double> row;
    for (const std::string& agg : p.aggregators) {
      row.push_back(index
                        .Of(kBaseShape, f, attack, agg,
                            [](const RunMetrics& m) {
                              return Comparable(m.final_accuracy);
                            })
                        .mean);
    }
    map.values.push_back(std::move(row));
  };
  add_row(0.0, "none");
  for (const double f : p.fractions) {
    for (const std::string& attack : p.AttacksAt(f)) add_row(f, attack);
  }
  FLS_RETURN_IF_ERROR(WriteFile(dir / "final_accuracy.svg", HeatMapSvg(map)));
  files->push_back("final_accuracy.svg");
  return Status::Ok();
}

// Honest updates flagged per honest shape against the target, and each
// honest client's own-distribution accuracy with and without the filter.
Status HonestPlots(const Plan& plan, const RunIndex& index, const fs::path& dir,
                   std::vector<std::string>* files) {
  const Protocol& p = plan.protocol;
  std::vector<double> flagged;
  HeatMap map;
  map.title = "Accuracy on each honest client's own data distribution (%)";
  map.caption = "mean over seeds";
  map.col_labels = {"mean, filter", "mean, FedAvg", "worst 10%, filter",
                    "worst 10%, FedAvg"};
  for (const std::string& shape : p.honest_shapes) {
    flagged.push_back(
        index
            .Of(shape, 0.0, "none", "filter",
                [](const RunMetrics& m) { return m.after_warmup.Fpr(); })
            .mean);
    std::vector<double> row;
    for (const bool worst : {false, true}) {
      for (const char* agg : {"filter", "fedavg"}) {
        row.push_back(index
                          .Of(shape, 0.0, "none", agg,
                              [worst](const RunMetrics& m) {
                                return worst ? m.own_accuracy_worst_decile
                                             : m.own_accuracy_mean;
                              })
                          .mean);
      }
    }
    map.row_labels.push_back(shape);
    map.values.push_back(std::move(row));
  }
  double y_max = std::max(0.05, 2.0 * p.targets.max_honest_flagged);
  for (const double v : flagged) {
    if (std::isfinite(v))
      y_max = std::max(y_max, std::ceil(v * 20.0 - 1e-9) / 20.0);
  }
  FLS_RETURN_IF_ERROR(WriteFile(
      dir / "honest_flagged.svg",
      BarChartSvg("Honest updates flagged by the filter after warm-up, no "
                  "attack (mean over seeds)",
                  flagged, y_max, p.targets.max_honest_flagged,
                  "target " + TargetText(p.targets.max_honest_flagged), "shape",
                  "honest updates flagged (%)", p.honest_shapes)));
  files->push_back("honest_flagged.svg");
  FLS_RETURN_IF_ERROR(WriteFile(dir / "own_accuracy.svg", HeatMapSvg(map)));
  files->push_back("own_accuracy.svg");
  return Status::Ok();
}

}  // namespace

Result<std::vector<std::string>> WritePlots(const Plan& plan,
                                            const RunIndex& index,
                                            const std::string& svg_dir) {
  std::error_code ec;
  fs::create_directories(svg_dir, ec);
  if (ec) return IoError(svg_dir + ": " + ec.message());
  std::vector<std::string> files;
  const fs::path dir(svg_dir);
  FLS_RETURN_IF_ERROR(AccuracyPlots(plan, index, dir, &files));
  FLS_RETURN_IF_ERROR(FinalAccuracyPlot(plan, index, dir, &files));
  const auto& aggs = plan.protocol.aggregators;
  if (std::find(aggs.begin(), aggs.end(), "filter") != aggs.end() &&
      !plan.protocol.honest_shapes.empty()) {
    FLS_RETURN_IF_ERROR(HonestPlots(plan, index, dir, &files));
  }
  return files;
}

}  // namespace flsentry::bench
