// benchmark_report_svg.h — small, self-contained SVG charts for the
// benchmark report: no scripts, no external fonts or links, one <svg>
// document per string (readable by browsers and `xmllint`).
//
// Values are shares in [0, 1] drawn as percent; NaN is a gap (line charts)
// or an empty, labelled cell (heat map, bars). Labels are XML-escaped here;
// callers pass plain text.
#ifndef FLSENTRY_INTEGRATION_BENCHMARK_BENCHMARK_REPORT_SVG_H_
#define FLSENTRY_INTEGRATION_BENCHMARK_BENCHMARK_REPORT_SVG_H_

#include <string>
#include <vector>

namespace flsentry::bench {

// Escapes &, <, >, " and ' for XML text and attribute values.
std::string XmlEscape(const std::string& text);

struct Series {
  std::string label;
  std::string color;      // any SVG colour, e.g. "#1c7ed6"
  std::vector<double> y;  // y[i] is the value at x = i + 1; NaN: gap
  bool dashed = false;
  bool emphasis = false;  // a thicker line
};

struct Panel {
  std::string title;
  std::vector<Series> series;
};

// Line charts in a grid of `columns` panels sharing the axes (x = round
// 1..max series length, y from 0 to 100%), one legend on top for the series
// labels of the first panel. REQUIRES: columns >= 1.
std::string SmallMultiplesSvg(const std::string& title,
                              const std::vector<Panel>& panels, int columns);

struct HeatMap {
  std::string title;
  std::string caption = "final test accuracy (%)";  // under the table
  std::vector<std::string> row_labels;
  std::vector<std::string> col_labels;
  std::vector<std::vector<double>> values;  // [row][col], shares; NaN: missing
};

// A table of coloured cells (red at 0%, green at the highest value) with the
// value printed in each. REQUIRES: values is rows x cols.
std::string HeatMapSvg(const HeatMap& map);

// Bars at x = 1..values.size() up to y_max, labelled by x_labels[i] (by
// the index i + 1 when x_labels is empty), with a dashed horizontal line at
// `target` labelled target_label; bars above the target are red.
// REQUIRES: y_max > 0; x_labels empty or values.size() entries.
std::string BarChartSvg(const std::string& title,
                        const std::vector<double>& values, double y_max,
                        double target, const std::string& target_label,
                        const std::string& x_label, const std::string& y_label,
                        const std::vector<std::string>& x_labels = {});

}  // namespace flsentry::bench

#endif  // FLSENTRY_INTEGRATION_BENCHMARK_BENCHMARK_REPORT_SVG_H_
