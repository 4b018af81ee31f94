#include "benchmark_report_svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace flsentry::bench {
namespace {

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string Percent(double share) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", 100.0 * share);
  return buf;
}

std::string Open(double width, double height, const std::string& title) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
         "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" +
         Num(width) + "\" height=\"" + Num(height) + "\" viewBox=\"0 0 " +
         Num(width) + " " + Num(height) +
         "\" font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"12\">\n"
         "<title>" +
         XmlEscape(title) + "</title>\n<rect x=\"0\" y=\"0\" width=\"" +
         Num(width) + "\" height=\"" + Num(height) + "\" fill=\"#ffffff\"/>\n" +
         "<text x=\"" + Num(width / 2) +
         "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\" "
         "font-weight=\"bold\">" +
         XmlEscape(title) + "</text>\n";
}

std::string Text(double x, double y, const std::string& text,
                 const char* anchor, const std::string& extra = "") {
  return "<text x=\"" + Num(x) + "\" y=\"" + Num(y) + "\" text-anchor=\"" +
         anchor + "\"" + extra + ">" + XmlEscape(text) + "</text>\n";
}

std::string Line(double x1, double y1, double x2, double y2,
                 const std::string& stroke, const std::string& extra = "") {
  return "<line x1=\"" + Num(x1) + "\" y1=\"" + Num(y1) + "\" x2=\"" + Num(x2) +
         "\" y2=\"" + Num(y2) + "\" stroke=\"" + stroke + "\"" + extra + "/>\n";
}

// Red (0) through yellow to green (1) for a share t in [0, 1].
std::string RampColor(double t) {
  t = std::clamp(t, 0.0, 1.0);
  const double r = t < 0.5 ? 230 : 230 - (t - 0.5) * 2 * 150;
  const double g = t < 0.5 ? 80 + t * 2 * 140 : 220 - (t - 0.5) * 2 * 30;
  const double b = 80;
  char buf[16];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", static_cast<int>(r),
                static_cast<int>(g), static_cast<int>(b));
  return buf;
}

// One line chart with its frame at (x0, y0), size w x h, y from 0 to 1.
std::string PanelSvg(const Panel& panel, double x0, double y0, double w,
                     double h, size_t rounds) {
  std::string s =
      Text(x0 + w / 2, y0 - 6, panel.title, "middle", " font-weight=\"bold\"");
  s += "<rect x=\"" + Num(x0) + "\" y=\"" + Num(y0) + "\" width=\"" + Num(w) +
       "\" height=\"" + Num(h) + "\" fill=\"none\" stroke=\"#868e96\"/>\n";
  for (int pct = 0; pct <= 100; pct += 20) {
    const double y = y0 + h - h * pct / 100.0;
    if (pct > 0 && pct < 100) s += Line(x0, y, x0 + w, y, "#e9ecef");
    s += Text(x0 - 4, y + 4, std::to_string(pct), "end", " font-size=\"10\"");
  }
  const double span = rounds > 1 ? static_cast<double>(rounds - 1) : 1.0;
  const auto X = [&](size_t i) {
    return x0 + w * static_cast<double>(i) / span;
  };
  const size_t step = std::max<size_t>(1, (rounds + 4) / 5);
  for (size_t i = 0; i < rounds; i += step) {
    s += Text(X(i), y0 + h + 13, std::to_string(i + 1), "middle",
              " font-size=\"10\"");
  }
  for (const Series& series : panel.series) {
    std::string path;
    bool pen_down = false;
    for (size_t i = 0; i < series.y.size() && i < rounds; ++i) {
      const double v = series.y[i];
      if (!std::isfinite(v)) {
        pen_down = false;
        continue;
      }
      const double y = y0 + h - h * std::clamp(v, 0.0, 1.0);
      path += (pen_down ? " L" : " M") + Num(X(i)) + " " + Num(y);
      pen_down = true;
    }
    if (path.empty()) continue;
    s += "<path d=\"" + path + "\" fill=\"none\" stroke=\"" +
         XmlEscape(series.color) + "\" stroke-width=\"" +
         (series.emphasis ? "2.6" : "1.6") + "\"" +
         (series.dashed ? " stroke-dasharray=\"5 3\"" : "") + "><title>" +
         XmlEscape(panel.title + ": " + series.label) + "</title></path>\n";
  }
  return s;
}

}  // namespace

std::string XmlEscape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        // Control characters are not allowed in XML 1.0 text.
        if (static_cast<unsigned char>(c) >= 0x20 || c == '\n' || c == '\t')
          out += c;
    }
  }
  return out;
}

std::string SmallMultiplesSvg(const std::string& title,
                              const std::vector<Panel>& panels, int columns) {
  columns =
      std::clamp(columns, 1, std::max(1, static_cast<int>(panels.size())));
  const double pw = 240, ph = 150, left = 50, gap_x = 40, gap_y = 56, top = 90;
  const int rows = std::max<int>(
      1, (static_cast<int>(panels.size()) + columns - 1) / columns);
  const double width = left + columns * (pw + gap_x);
  const double height = top + rows * (ph + gap_y) + 10;
  size_t rounds = 1;
  for (const Panel& p : panels) {
    for (const Series& s : p.series) rounds = std::max(rounds, s.y.size());
  }
  std::string s = Open(width, height, title);
  // Legend: the first panel's series.
  if (!panels.empty()) {
    double x = left;
    for (const Series& series : panels.front().series) {
      s += Line(x, 44, x + 24, 44, XmlEscape(series.color),
                std::string(" stroke-width=\"2.5\"") +
                    (series.dashed ? " stroke-dasharray=\"5 3\"" : ""));
      s += Text(x + 30, 48, series.label, "start");
      x += 40 + 7.5 * static_cast<double>(series.label.size());
    }
  }
  s += Text(14, top + ph / 2, "test accuracy (%)", "middle",
            " transform=\"rotate(-90 14 " + Num(top + ph / 2) + ")\"");
  s += Text(width / 2, height - 6, "round", "middle");
  for (size_t i = 0; i < panels.size(); ++i) {
    const double x0 = left + static_cast<double>(i % columns) * (pw + gap_x);
    const double y0 = top + static_cast<double>(i / columns) * (ph + gap_y);
    s += PanelSvg(panels[i], x0, y0, pw, ph, rounds);
  }
  return s + "</svg>\n";
}

std::string HeatMapSvg(const HeatMap& map) {
  const double label_w = 190, cell_w = 92, cell_h = 22, top = 70;
  const double width =
      label_w + cell_w * static_cast<double>(map.col_labels.size()) + 20;
  const double height =
      top + cell_h * static_cast<double>(map.row_labels.size()) + 40;
  double best = 0.0;
  for (const auto& row : map.values) {
    for (const double v : row) {
      if (std::isfinite(v)) best = std::max(best, v);
    }
  }
  std::string s = Open(width, height, map.title);
  for (size_t c = 0; c < map.col_labels.size(); ++c) {
    s += Text(label_w + cell_w * (static_cast<double>(c) + 0.5), top - 8,
              map.col_labels[c], "middle", " font-weight=\"bold\"");
  }
  for (size_t r = 0; r < map.row_labels.size(); ++r) {
    const double y = top + cell_h * static_cast<double>(r);
    s += Text(label_w - 8, y + 15, map.row_labels[r], "end");
    for (size_t c = 0; c < map.col_labels.size(); ++c) {
      const double v = r < map.values.size() && c < map.values[r].size()
                           ? map.values[r][c]
                           : std::nan("");
      const double x = label_w + cell_w * static_cast<double>(c);
      const bool ok = std::isfinite(v);
      s +=
          "<rect x=\"" + Num(x) + "\" y=\"" + Num(y) + "\" width=\"" +
          Num(cell_w) + "\" height=\"" + Num(cell_h) + "\" fill=\"" +
          (ok ? RampColor(best > 0 ? v / best : 0.0) : std::string("#dee2e6")) +
          "\" stroke=\"#ffffff\"/>\n";
      s += Text(x + cell_w / 2, y + 15, ok ? Percent(v) : "n/a", "middle");
    }
  }
  s += Text(width / 2, height - 12,
            map.caption + "; colour relative to the best cell", "middle",
            " font-size=\"11\"");
  return s + "</svg>\n";
}

std::string BarChartSvg(const std::string& title,
                        const std::vector<double>& values, double y_max,
                        double target, const std::string& target_label,
                        const std::string& x_label, const std::string& y_label,
                        const std::vector<std::string>& x_labels) {
  const double left = 64, top = 50, h = 220, right = 30;
  const size_t n = std::max<size_t>(1, values.size());
  const bool named = x_labels.size() == values.size() && !values.empty();
  const double per_bar = named ? 110.0 : 24.0;
  const double w = std::clamp(per_bar * static_cast<double>(n), 480.0, 1200.0);
  const double bar = w / static_cast<double>(n);
  const double width = left + w + right, height = top + h + 50;
  const auto Y = [&](double v) {
    return top + h - h * std::clamp(v / y_max, 0.0, 1.0);
  };
  std::string s = Open(width, height, title);
  s += "<rect x=\"" + Num(left) + "\" y=\"" + Num(top) + "\" width=\"" +
       Num(w) + "\" height=\"" + Num(h) +
       "\" fill=\"none\" stroke=\"#868e96\"/>\n";
  for (int i = 0; i <= 4; ++i) {
    const double v = y_max * i / 4.0;
    s += Line(left, Y(v), left + w, Y(v), "#e9ecef");
    s += Text(left - 4, Y(v) + 4, Percent(v), "end", " font-size=\"10\"");
  }
  const size_t step =
      named ? 1 : std::max<size_t>(1, (values.size() + 11) / 12);
  for (size_t i = 0; i < values.size(); ++i) {
    const double x = left + bar * static_cast<double>(i);
    const std::string label = named ? x_labels[i] : std::to_string(i + 1);
    if (std::isfinite(values[i])) {
      s += "<rect x=\"" + Num(x + 1) + "\" y=\"" + Num(Y(values[i])) +
           "\" width=\"" + Num(bar - 2) + "\" height=\"" +
           Num(top + h - Y(values[i])) + "\" fill=\"" +
           (values[i] > target ? "#e03131" : "#1c7ed6") + "\"><title>" +
           XmlEscape(x_label + " " + label + ": " + Percent(values[i]) + "%") +
           "</title></rect>\n";
    }
    if (i % step == 0) {
      s +=
          Text(x + bar / 2, top + h + 14, label, "middle", " font-size=\"10\"");
    }
  }
  s += Line(left, Y(target), left + w, Y(target), "#e03131",
            " stroke-dasharray=\"6 4\" stroke-width=\"1.5\"");
  s +=
      Text(left + 4, Y(target) - 4, target_label, "start", " fill=\"#e03131\"");
  s += Text(left + w / 2, height - 10, x_label, "middle");
  s += Text(16, top + h / 2, y_label, "middle",
            " transform=\"rotate(-90 16 " + Num(top + h / 2) + ")\"");
  return s + "</svg>\n";
}

}  // namespace flsentry::bench
