#include "replay/replay_table.h"

#include <cmath>
#include <vector>

#include "replay/replay_summary.h"

namespace flsentry::cli {
namespace {

std::string Pad(const std::string& text, size_t width) {
  if (text.size() >= width) return text;
  return std::string(width - text.size(), ' ') + text;
}

std::string Rate(double v) {
  if (!std::isfinite(v)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

// Columns of one policy's group.
std::vector<std::string> GroupCells(const DecisionCounts& c, bool labels) {
  std::vector<std::string> cells = {
      std::to_string(c.accepted), std::to_string(c.downweighted),
      std::to_string(c.dropped), std::to_string(c.quarantined)};
  if (labels) {
    cells.push_back(std::to_string(c.confusion.tp));
    cells.push_back(std::to_string(c.confusion.fp));
    cells.push_back(std::to_string(c.confusion.fn));
  }
  return cells;
}

constexpr size_t kCell = 6;

}  // namespace

std::string FormatReplayTable(std::span<const PolicyRun> runs) {
  if (runs.empty()) return "";
  bool labels = false;
  for (const PolicyRun& run : runs) {
    labels = labels || CountDecisions(AllDecisions(run)).has_labels;
  }
  std::vector<std::string> group_head = {"acc", "down", "drop", "quar"};
  if (labels) group_head.insert(group_head.end(), {"tp", "fp", "fn"});
  const size_t group_width = group_head.size() * kCell;

  std::string out;
  // Line 1: policy labels over their groups (only with several policies).
  if (runs.size() > 1) {
    out += std::string(2 * kCell + 1, ' ');
    for (const PolicyRun& run : runs) {
      std::string name = run.label.substr(0, group_width - 1);
      out += " |" + name + std::string(group_width - name.size(), ' ');
    }
    out += '\n';
  }
  out += Pad("round", kCell) + Pad("n", kCell + 1);
  for (size_t i = 0; i < runs.size(); ++i) {
    out += " |";
    for (const std::string& h : group_head) out += Pad(h, kCell);
  }
  out += '\n';
  const std::vector<ReplayRound>& first = runs[0].rounds;
  for (size_t r = 0; r < first.size(); ++r) {
    out += Pad(std::to_string(first[r].number), kCell) +
           Pad(std::to_string(first[r].decisions.size()), kCell + 1);
    for (const PolicyRun& run : runs) {
      out += " |";
      if (r >= run.rounds.size() || run.rounds[r].failed) {
        out += Pad("round refused by the plugin", group_width);
        continue;
      }
      for (const std::string& cell :
           GroupCells(CountDecisions(run.rounds[r].decisions), labels)) {
        out += Pad(cell, kCell);
      }
    }
    out += '\n';
  }
  std::vector<DecisionCounts> totals;
  for (const PolicyRun& run : runs)
    totals.push_back(CountDecisions(AllDecisions(run)));
  out += Pad("all", kCell) + Pad(std::to_string(totals[0].clients), kCell + 1);
  for (const DecisionCounts& t : totals) {
    out += " |";
    for (const std::string& cell : GroupCells(t, labels))
      out += Pad(cell, kCell);
  }
  out += '\n';
  if (labels) {
    for (size_t i = 0; i < runs.size(); ++i) {
      const Confusion& c = totals[i].confusion;
      out += runs[i].label + ": tpr " + Rate(c.tpr()) + "  fpr " +
             Rate(c.fpr()) + "  precision " + Rate(c.precision()) + "  auc " +
             Rate(totals[i].auc) + "\n";
    }
  }
  // What the counts above do not cover, or cover only as warm-up.
  for (const PolicyRun& run : runs) {
    for (const std::string& note : RunNotes(run)) {
      out += run.label + ": note: " + note + "\n";
    }
  }
  return out;
}

void ProgressBar::Update(size_t done, size_t total, const std::string& label) {
  if (!enabled_ || total == 0) return;
  constexpr size_t kWidth = 30;
  const size_t filled = done * kWidth / total;
  std::string bar = "[";
  bar.append(filled, '#');
  bar.append(kWidth - filled, '.');
  bar += "] ";
  bar += std::to_string(done);
  bar += '/';
  bar += std::to_string(total);
  bar += " rounds  ";
  bar += label;
  Clear();
  std::fputs(bar.c_str(), stream_);
  std::fflush(stream_);
  last_ = bar;
}

void ProgressBar::PrintLine(const std::string& line) {
  const std::string redraw = last_;
  Clear();
  std::fprintf(stream_, "%s\n", line.c_str());
  if (!redraw.empty()) {
    std::fputs(redraw.c_str(), stream_);
    std::fflush(stream_);
    last_ = redraw;
  }
}

void ProgressBar::Clear() {
  if (last_.empty()) return;
  std::fprintf(stream_, "\r%s\r", std::string(last_.size(), ' ').c_str());
  std::fflush(stream_);
  last_.clear();
}

}  // namespace flsentry::cli
