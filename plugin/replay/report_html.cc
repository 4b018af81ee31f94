#include "replay/report_html.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <vector>

#include "replay/replay_metrics.h"
#include "replay/replay_summary.h"

namespace flsentry::cli {
namespace {

// Chart geometry, in CSS pixels.
constexpr double kWidth = 1100;
constexpr double kLeft = 80, kRight = 20, kTop = 40, kBottom = 40;
constexpr double kPlotHeight = 320;
constexpr double kRowHeight = 14;
constexpr double kLabelWidth = 170;
constexpr double kRocSize = 360;

const char* ActionColor(aggf_action action) {
  switch (action) {
    case AGGF_ACTION_ACCEPT:
      return "#2b8a3e";
    case AGGF_ACTION_DOWNWEIGHT:
      return "#e8890c";
    default:
      return "#c92a2a";
  }
}

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string Value(double v) {
  if (std::isnan(v)) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

// A y axis mapping scores to pixels, linear or log10.
class ScoreAxis {
 public:
  ScoreAxis(double lo, double hi, double top, double height)
      : top_(top), height_(height) {
    log_ = lo > 0 && hi / lo >= 100;
    if (log_) {
      lo_ = std::floor(std::log10(lo));
      hi_ = std::ceil(std::log10(hi));
      if (hi_ <= lo_) hi_ = lo_ + 1;
    } else {
      lo_ = std::min(0.0, lo);
      hi_ = hi > lo_ ? hi * 1.05 : lo_ + 1;
    }
  }
  double Y(double score) const {
    double v = log_ ? std::log10(std::max(score, 1e-300)) : score;
    double t = (v - lo_) / (hi_ - lo_);
    return top_ + height_ * (1 - std::clamp(t, 0.0, 1.0));
  }
  // (pixel y, label) pairs.
  std::vector<std::pair<double, std::string>> Ticks() const {
    std::vector<std::pair<double, std::string>> ticks;
    if (log_) {
      for (double e = lo_; e <= hi_; e += 1) {
        ticks.emplace_back(Y(std::pow(10.0, e)), "1e" + std::to_string(int(e)));
      }
    } else {
      for (int i = 0; i <= 5; ++i) {
        double v = lo_ + (hi_ - lo_) * i / 5;
        ticks.emplace_back(Y(v), Value(v));
      }
    }
    return ticks;
  }
  bool log() const { return log_; }

 private:
  double lo_ = 0, hi_ = 1, top_, height_;
  bool log_ = false;
};

// A marker: a circle for benign/unlabelled updates, an X for malicious ones.
std::string Marker(double x, double y, const ReplayDecision& d) {
  const std::string color = ActionColor(d.decision.action);
  std::string title = "<title>" + HtmlEscape(d.client) +
                      " \xE2\x80\x94 round " + std::to_string(d.round) + ": " +
                      aggfilter::action_name(d.decision.action) + " (" +
                      HtmlEscape(d.decision.reason) + "), score " +
                      Value(d.decision.score) + ", threshold " +
                      Value(d.decision.threshold);
  if (d.label != ArchiveLabel::kUnknown) {
    title += ", " + std::string(ArchiveLabelName(d.label));
  }
  if (!d.attack.empty()) title += " (" + HtmlEscape(d.attack) + ")";
  title += "</title>";
  if (d.label == ArchiveLabel::kMalicious) {
    const double r = 4.5;
    return "<g class=\"mal\" stroke=\"" + color + "\" stroke-width=\"2.2\">" +
           title + "<line x1=\"" + Num(x - r) + "\" y1=\"" + Num(y - r) +
           "\" x2=\"" + Num(x + r) + "\" y2=\"" + Num(y + r) +
           "\"/><line x1=\"" + Num(x - r) + "\" y1=\"" + Num(y + r) +
           "\" x2=\"" + Num(x + r) + "\" y2=\"" + Num(y - r) + "\"/></g>";
  }
  return "<circle cx=\"" + Num(x) + "\" cy=\"" + Num(y) +
         "\" r=\"3.5\" fill=\"" + color + "\" fill-opacity=\"0.75\">" + title +
         "</circle>";
}

std::string XAxisLabels(const std::vector<ReplayRound>& rounds, double left,
                        double band, double y) {
  std::string out;
  const size_t step = std::max<size_t>(1, rounds.size() / 25 + 1);
  for (size_t i = 0; i < rounds.size(); i += step) {
    out += "<text x=\"" + Num(left + (i + 0.5) * band) + "\" y=\"" + Num(y) +
           "\" text-anchor=\"middle\">" + std::to_string(rounds[i].number) +
           "</text>";
  }
  return out;
}

std::string ScoresChart(const PolicyRun& run) {
  const std::vector<ReplayRound>& rounds = run.rounds;
  double lo = INFINITY, hi = -INFINITY;
  for (const ReplayRound& r : rounds) {
    for (const ReplayDecision& d : r.decisions) {
      for (double v : {d.decision.score, d.decision.threshold}) {
        if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
      }
    }
  }
  const double strip = 22;  // band above the plot for updates with no score
  const double plot_top = kTop + strip;
  const double height = plot_top + kPlotHeight + kBottom;
  const double plot_w = kWidth - kLeft - kRight;
  const double band = rounds.empty() ? plot_w : plot_w / rounds.size();
  std::string svg =
      "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"scores\" width=\"" +
      Num(kWidth) + "\" height=\"" + Num(height) + "\" viewBox=\"0 0 " +
      Num(kWidth) + " " + Num(height) + "\" font-size=\"11\">";
  svg += "<rect x=\"0\" y=\"0\" width=\"" + Num(kWidth) + "\" height=\"" +
         Num(height) + "\" fill=\"#ffffff\"/>";
  if (!std::isfinite(lo)) {
    lo = 0;
    hi = 1;
    svg += "<text x=\"" + Num(kWidth / 2) + "\" y=\"" + Num(plot_top + 40) +
           "\" text-anchor=\"middle\">no update was scored</text>";
  }
  ScoreAxis axis(lo, hi, plot_top, kPlotHeight);
  // Axes, grid and tick labels.
  svg += "<rect x=\"" + Num(kLeft) + "\" y=\"" + Num(plot_top) + "\" width=\"" +
         Num(plot_w) + "\" height=\"" + Num(kPlotHeight) +
         "\" fill=\"#f8f9fa\" stroke=\"#868e96\"/>";
  svg += "<rect x=\"" + Num(kLeft) + "\" y=\"" + Num(kTop) + "\" width=\"" +
         Num(plot_w) + "\" height=\"" + Num(strip - 4) +
         "\" fill=\"#fff4e6\" stroke=\"#ced4da\"/>";
  svg += "<text x=\"" + Num(kLeft - 6) + "\" y=\"" + Num(kTop + 13) +
         "\" text-anchor=\"end\">no score</text>";
  for (const auto& [y, label] : axis.Ticks()) {
    svg += "<line x1=\"" + Num(kLeft) + "\" x2=\"" + Num(kWidth - kRight) +
           "\" y1=\"" + Num(y) + "\" y2=\"" + Num(y) +
           "\" stroke=\"#dee2e6\"/>";
    svg += "<text x=\"" + Num(kLeft - 6) + "\" y=\"" + Num(y + 4) +
           "\" text-anchor=\"end\">" + HtmlEscape(label) + "</text>";
  }
  svg += "<text x=\"14\" y=\"" + Num(plot_top + kPlotHeight / 2) +
         "\" transform=\"rotate(-90 14 " + Num(plot_top + kPlotHeight / 2) +
         ")\" text-anchor=\"middle\">score" +
         (axis.log() ? " (log scale)" : "") + "</text>";
  svg += XAxisLabels(rounds, kLeft, band, plot_top + kPlotHeight + 16);
  svg += "<text x=\"" + Num(kLeft + plot_w / 2) + "\" y=\"" + Num(height - 6) +
         "\" text-anchor=\"middle\">round</text>";
  // Per round: threshold segments, then one marker per decision.
  for (size_t i = 0; i < rounds.size(); ++i) {
    const double x0 = kLeft + i * band;
    std::set<double> thresholds;
    for (const ReplayDecision& d : rounds[i].decisions) {
      if (std::isfinite(d.decision.threshold))
        thresholds.insert(d.decision.threshold);
    }
    for (double t : thresholds) {
      svg += "<line class=\"threshold\" x1=\"" + Num(x0 + band * 0.1) +
             "\" x2=\"" + Num(x0 + band * 0.9) + "\" y1=\"" + Num(axis.Y(t)) +
             "\" y2=\"" + Num(axis.Y(t)) +
             "\" stroke=\"#212529\" stroke-width=\"1.5\" "
             "stroke-dasharray=\"4 2\"><title>threshold " +
             Value(t) + "</title></line>";
    }
    const size_t n = rounds[i].decisions.size();
    for (size_t k = 0; k < n; ++k) {
      const ReplayDecision& d = rounds[i].decisions[k];
      const double jitter =
          n > 1 ? (double(k) / (n - 1) - 0.5) * band * 0.6 : 0;
      const double x = x0 + band / 2 + jitter;
      const double y = std::isfinite(d.decision.score)
                           ? axis.Y(d.decision.score)
                           : kTop + (strip - 4) / 2;
      svg += Marker(x, y, d);
    }
  }
  svg += "</svg>";
  return svg;
}

struct ClientRow {
  std::string id;
  bool malicious = false;
  bool flagged = false;                              // any non-accept decision
  std::map<size_t, const ReplayDecision*> by_round;  // round index -> decision
};

std::vector<ClientRow> TimelineRows(const PolicyRun& run, size_t* total) {
  std::map<std::string, ClientRow> rows;
  for (size_t i = 0; i < run.rounds.size(); ++i) {
    for (const ReplayDecision& d : run.rounds[i].decisions) {
      ClientRow& row = rows[d.client];
      row.id = d.client;
      row.malicious = row.malicious || d.label == ArchiveLabel::kMalicious;
      row.flagged = row.flagged || d.decision.action != AGGF_ACTION_ACCEPT ||
                    d.decision.has_flag(AGGF_FLAG_QUARANTINED) ||
                    d.decision.has_flag(AGGF_FLAG_PROBATION);
      row.by_round[i] = &d;
    }
  }
  std::vector<ClientRow> out;
  for (auto& [id, row] : rows) out.push_back(std::move(row));
  std::stable_sort(out.begin(), out.end(),
                   [](const ClientRow& a, const ClientRow& b) {
                     return a.flagged > b.flagged;
                   });
  *total = out.size();
  if (out.size() > kMaxTimelineClients) out.resize(kMaxTimelineClients);
  return out;
}

// Bars over consecutive round indices whose decision carries `flag`.
std::string Spans(const ClientRow& row, uint32_t flag, const char* color,
                  const char* what, const std::vector<ReplayRound>& rounds,
                  double left, double band, double y) {
  std::string out;
  auto it = row.by_round.begin();
  while (it != row.by_round.end()) {
    if (!it->second->decision.has_flag(flag)) {
      ++it;
      continue;
    }
    const size_t first = it->first;
    size_t last = first;
    ++it;
    while (it != row.by_round.end() && it->first == last + 1 &&
           it->second->decision.has_flag(flag)) {
      last = it->first;
      ++it;
    }
    out += "<rect class=\"" + std::string(what) + "\" x=\"" +
           Num(left + first * band) + "\" y=\"" + Num(y) + "\" width=\"" +
           Num((last - first + 1) * band) + "\" height=\"4\" fill=\"" + color +
           "\"><title>" + what + ": rounds " +
           std::to_string(rounds[first].number) + "\xE2\x80\x93" +
           std::to_string(rounds[last].number) + "</title></rect>";
  }
  return out;
}

std::string Timeline(const PolicyRun& run, size_t* shown, size_t* total) {
  std::vector<ClientRow> rows = TimelineRows(run, total);
  *shown = rows.size();
  const size_t n_rounds = std::max<size_t>(run.rounds.size(), 1);
  const double left = kLabelWidth;
  const double plot_w = kWidth - left - kRight;
  const double band = plot_w / n_rounds;
  const double height = 30 + rows.size() * kRowHeight + 30;
  std::string svg =
      "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"timeline\" width=\"" +
      Num(kWidth) + "\" height=\"" + Num(height) + "\" viewBox=\"0 0 " +
      Num(kWidth) + " " + Num(height) + "\" font-size=\"10\">";
  svg += "<rect x=\"0\" y=\"0\" width=\"" + Num(kWidth) + "\" height=\"" +
         Num(height) + "\" fill=\"#ffffff\"/>";
  svg += XAxisLabels(run.rounds, left, band, 20);
  for (size_t r = 0; r < rows.size(); ++r) {
    const ClientRow& row = rows[r];
    const double y = 30 + r * kRowHeight;
    svg += "<text x=\"" + Num(left - 6) + "\" y=\"" + Num(y + 10) +
           "\" text-anchor=\"end\"" +
           (row.malicious ? " fill=\"#c92a2a\" font-weight=\"bold\"" : "") +
           ">" +
           HtmlEscape(row.id.size() > 28 ? row.id.substr(0, 27) + "\xE2\x80\xA6"
                                         : row.id) +
           "</text>";
    svg += "<rect x=\"" + Num(left) + "\" y=\"" + Num(y) + "\" width=\"" +
           Num(plot_w) + "\" height=\"" + Num(kRowHeight - 2) +
           "\" fill=\"#f1f3f5\"/>";
    for (const auto& [i, d] : row.by_round) {
      svg += "<rect class=\"cell\" x=\"" + Num(left + i * band + 0.5) +
             "\" y=\"" + Num(y) + "\" width=\"" + Num(std::max(band - 1, 0.5)) +
             "\" height=\"" + Num(kRowHeight - 6) + "\" fill=\"" +
             ActionColor(d->decision.action) + "\"><title>" +
             HtmlEscape(row.id) + " \xE2\x80\x94 round " +
             std::to_string(d->round) + ": " +
             aggfilter::action_name(d->decision.action) + " (" +
             HtmlEscape(d->decision.reason) + ")</title></rect>";
    }
    svg += Spans(row, AGGF_FLAG_QUARANTINED, "#7048e8", "quarantine",
                 run.rounds, left, band, y + kRowHeight - 6);
    svg += Spans(row, AGGF_FLAG_PROBATION, "#fab005", "probation", run.rounds,
                 left, band, y + kRowHeight - 6);
  }
  svg += "<text x=\"" + Num(left + plot_w / 2) + "\" y=\"" + Num(height - 8) +
         "\" text-anchor=\"middle\">round</text></svg>";
  return svg;
}

std::string RocChart(const std::vector<RocPoint>& curve, double auc) {
  const double m = 50, side = kRocSize - 2 * m + 20;
  auto X = [&](double fpr) { return m + fpr * side; };
  auto Y = [&](double tpr) { return m - 20 + (1 - tpr) * side; };
  std::string svg =
      "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"roc\" width=\"" +
      Num(kRocSize) + "\" height=\"" + Num(kRocSize) + "\" viewBox=\"0 0 " +
      Num(kRocSize) + " " + Num(kRocSize) + "\" font-size=\"11\">";
  svg += "<rect x=\"0\" y=\"0\" width=\"" + Num(kRocSize) + "\" height=\"" +
         Num(kRocSize) + "\" fill=\"#ffffff\"/>";
  svg += "<rect x=\"" + Num(X(0)) + "\" y=\"" + Num(Y(1)) + "\" width=\"" +
         Num(side) + "\" height=\"" + Num(side) +
         "\" fill=\"#f8f9fa\" stroke=\"#868e96\"/>";
  svg += "<line x1=\"" + Num(X(0)) + "\" y1=\"" + Num(Y(0)) + "\" x2=\"" +
         Num(X(1)) + "\" y2=\"" + Num(Y(1)) +
         "\" stroke=\"#adb5bd\" stroke-dasharray=\"4 3\"/>";
  std::string points;
  for (const RocPoint& p : curve)
    points += Num(X(p.fpr)) + "," + Num(Y(p.tpr)) + " ";
  svg += "<polyline class=\"roc\" points=\"" + points +
         "\" fill=\"none\" stroke=\"#1971c2\" stroke-width=\"2\"/>";
  for (int i = 0; i <= 4; ++i) {
    const double v = i / 4.0;
    svg += "<text x=\"" + Num(X(v)) + "\" y=\"" + Num(Y(0) + 15) +
           "\" text-anchor=\"middle\">" + Value(v) + "</text>";
    svg += "<text x=\"" + Num(X(0) - 5) + "\" y=\"" + Num(Y(v) + 4) +
           "\" text-anchor=\"end\">" + Value(v) + "</text>";
  }
  svg += "<text x=\"" + Num(X(0.5)) + "\" y=\"" + Num(kRocSize - 8) +
         "\" text-anchor=\"middle\">false positive rate</text>";
  svg += "<text x=\"12\" y=\"" + Num(Y(0.5)) + "\" transform=\"rotate(-90 12 " +
         Num(Y(0.5)) + ")\" text-anchor=\"middle\">true positive rate</text>";
  svg += "<text x=\"" + Num(X(0.6)) + "\" y=\"" + Num(Y(0.1)) + "\">AUC " +
         Value(auc) + "</text></svg>";
  return svg;
}

std::string CountsRow(const std::string& head, const DecisionCounts& c,
                      bool labels) {
  std::string row = "<tr><th>" + head + "</th>";
  for (int64_t v : {c.clients, c.accepted, c.downweighted, c.dropped,
                    c.quarantined, c.probation, c.unreadable}) {
    row += "<td>" + std::to_string(v) + "</td>";
  }
  if (labels) {
    for (int64_t v :
         {c.confusion.tp, c.confusion.fp, c.confusion.fn, c.confusion.tn}) {
      row += "<td>" + std::to_string(v) + "</td>";
    }
    for (double v : {c.confusion.tpr(), c.confusion.fpr(),
                     c.confusion.precision(), c.auc}) {
      row += "<td>" + Value(v) + "</td>";
    }
  }
  return row + "</tr>\n";
}

std::string CountsTable(const PolicyRun& run, const DecisionCounts& overall) {
  const bool labels = overall.has_labels;
  std::string t =
      "<table><tr><th>round</th><th>clients</th><th>accepted</th>"
      "<th>down-weighted</th><th>dropped</th><th>quarantined</th>"
      "<th>probation</th><th>unreadable</th>";
  if (labels) {
    t += "<th>tp</th><th>fp</th><th>fn</th><th>tn</th><th>tpr</th><th>fpr</th>"
         "<th>precision</th><th>auc</th>";
  }
  t += "</tr>\n";
  for (const ReplayRound& r : run.rounds) {
    if (r.failed) {
      t += "<tr><th>" + std::to_string(r.number) +
           "</th><td colspan=\"15\">refused by the plugin</td></tr>\n";
      continue;
    }
    t += CountsRow(std::to_string(r.number), CountDecisions(r.decisions),
                   labels);
  }
  t += CountsRow("all", overall, labels);
  return t + "</table>\n";
}

constexpr const char* kStyle = R"(<style>
body{font-family:system-ui,-apple-system,"DejaVu Sans",sans-serif;margin:24px;color:#212529;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.meta{color:#495057;font-size:13px}.meta code{font-size:12px}
table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #dee2e6;padding:2px 7px;text-align:right}
th{background:#f1f3f5}pre{background:#f8f9fa;border:1px solid #dee2e6;padding:10px;font-size:12px;overflow:auto}
.legend span{display:inline-block;margin-right:16px;font-size:12px}
.sw{display:inline-block;width:11px;height:11px;vertical-align:middle;margin-right:4px}
.errors li{color:#c92a2a;font-size:12px}
</style>
)";

std::string Legend(bool with_spans) {
  std::string l =
      "<p class=\"legend\">"
      "<span><i class=\"sw\" style=\"background:#2b8a3e\"></i>accepted</span>"
      "<span><i class=\"sw\" "
      "style=\"background:#e8890c\"></i>down-weighted</span>"
      "<span><i class=\"sw\" style=\"background:#c92a2a\"></i>dropped</span>";
  if (with_spans) {
    l += "<span><i class=\"sw\" "
         "style=\"background:#7048e8;height:4px\"></i>quarantine</span>"
         "<span><i class=\"sw\" "
         "style=\"background:#fab005;height:4px\"></i>probation</span>"
         "<span style=\"color:#c92a2a;font-weight:bold\">client id</span>"
         "<span>= labelled malicious in some round</span>";
  } else {
    l += "<span>&#9679; benign or unlabelled</span><span>&#10005; labelled "
         "malicious</span>"
         "<span>- - threshold</span>";
  }
  return l + "</p>\n";
}

}  // namespace

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  for (size_t i = 0; i < n;) {
    const unsigned char c = s[i];
    if (c < 0x80) {
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
          out += "&#39;";
          break;
        default:
          if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f)
            out += "\xEF\xBF\xBD";
          else
            out += static_cast<char>(c);
      }
      ++i;
      continue;
    }
    // A well-formed UTF-8 sequence (no overlongs, no surrogates) is copied.
    size_t len = 0;
    uint32_t cp = 0, min = 0;
    if ((c & 0xE0) == 0xC0)
      len = 2, cp = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0)
      len = 3, cp = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0)
      len = 4, cp = c & 0x07, min = 0x10000;
    bool ok = len > 0 && i + len <= n;
    for (size_t k = 1; ok && k < len; ++k) {
      ok = (s[i + k] & 0xC0) == 0x80;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    ok = ok && cp >= min && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    if (ok) {
      out.append(text.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

std::string RenderReportHtml(const PolicyRun& run,
                             std::string_view archive_path,
                             std::string_view plugin_description) {
  const std::vector<ReplayDecision> all = AllDecisions(run);
  const DecisionCounts overall = CountDecisions(all);
  std::string h =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<title>flsentry replay: " +
      HtmlEscape(run.label) + "</title>\n";
  h += kStyle;
  h += "</head><body>\n<h1>flsentry replay \xE2\x80\x94 " +
       HtmlEscape(run.label) + "</h1>\n";
  h += "<p class=\"meta\">archive <code>" + HtmlEscape(archive_path) +
       "</code> &middot; policy <code>" + HtmlEscape(run.config_path) +
       "</code> &middot; plugin <code>" + HtmlEscape(plugin_description) +
       "</code> &middot; " + std::to_string(run.rounds.size()) + " rounds, " +
       std::to_string(overall.clients) + " decisions</p>\n";

  h += "<h2>Scores per round</h2>\n" + Legend(false) + ScoresChart(run) + "\n";

  size_t shown = 0, total = 0;
  std::string timeline = Timeline(run, &shown, &total);
  h += "<h2>Clients over time</h2>\n" + Legend(true);
  if (shown < total) {
    h += "<p class=\"meta\">Showing " + std::to_string(shown) + " of " +
         std::to_string(total) +
         " clients: those ever not accepted first.</p>\n";
  }
  h += timeline + "\n";

  if (overall.has_labels) {
    const std::vector<ScoredCall> calls = ToScoredCalls(all);
    const std::vector<RocPoint> curve = RocCurve(calls);
    h += "<h2>ROC curve</h2>\n";
    if (curve.empty()) {
      h += "<p>Needs both malicious and benign labelled updates.</p>\n";
    } else {
      h += "<p class=\"meta\">Malicious is the positive class; updates ranked "
           "by " +
           std::string(run.ranked_by == "suspicion"
                           ? "the policy's suspicion (audit log: every "
                             "signal over its limit) "
                           : "score ") +
           "(unscored updates that were dropped or down-weighted rank "
           "highest).</p>\n" +
           RocChart(curve, overall.auc) + "\n";
    }
  }

  h += "<h2>Per round</h2>\n" + CountsTable(run, overall);
  std::vector<std::string> errors;
  for (const ReplayRound& r : run.rounds)
    errors.insert(errors.end(), r.errors.begin(), r.errors.end());
  if (!errors.empty()) {
    h += "<h2>Problems</h2>\n<ul class=\"errors\">";
    for (const std::string& e : errors) h += "<li>" + HtmlEscape(e) + "</li>";
    h += "</ul>\n";
  }
  h += "<h2>Policy</h2>\n<pre>" + HtmlEscape(run.policy_text) + "</pre>\n";
  if (!run.redirects.empty()) {
    h += "<p class=\"meta\">Replay redirected, so as not to touch a live "
         "server's files:</p><ul>";
    for (const std::string& r : run.redirects)
      h += "<li><code>" + HtmlEscape(r) + "</code></li>";
    h += "</ul>\n";
  }
  h += "</body></html>\n";
  return h;
}

}  // namespace flsentry::cli
