// replay_table.h — what `flsentry replay` prints on the terminal: a compact
// per-round table (several policies side by side) and a progress bar on
// stderr while rounds are replayed.
#ifndef FLSENTRY_REPLAY_REPLAY_TABLE_H_
#define FLSENTRY_REPLAY_REPLAY_TABLE_H_

#include <cstdio>
#include <span>
#include <string>

#include "replay/replay_runner.h"

namespace flsentry::cli {

// The per-round table of one or more runs of the same archive, side by side:
// per policy accept / down-weight / drop / quarantined counts and, when the
// archive has labels, tp / fp / fn; then a totals row, one line of
// overall rates per policy, and "<label>: note: ..." per line of RunNotes
// (rounds refused by the plugin, all rounds warm-up, a flat folder's id
// sources). REQUIRES: all runs replayed the same rounds.
std::string FormatReplayTable(std::span<const PolicyRun> runs);

// A one-line progress bar redrawn in place on `stream` ("\r"). Draws only
// when `enabled` (callers pass isatty(fileno(stream))). Not thread-safe.
class ProgressBar {
 public:
  ProgressBar(std::FILE* stream, bool enabled)
      : stream_(stream), enabled_(enabled) {}
  ~ProgressBar() { Clear(); }
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // Redraws: "[#####.....] 3/8 rounds  <label>".
  void Update(size_t done, size_t total, const std::string& label);
  // Prints a full line (e.g. an error) without garbling the bar.
  void PrintLine(const std::string& line);
  // Erases the bar.
  void Clear();

 private:
  std::FILE* stream_;
  bool enabled_;
  std::string last_;  // the bar as last drawn; empty when not shown
};

}  // namespace flsentry::cli

#endif  // FLSENTRY_REPLAY_REPLAY_TABLE_H_
