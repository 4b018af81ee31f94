// benchmark_report_cells.h — the plan's finished runs grouped into cells
// (shape, fraction, attack, aggregator) over their seeds, the statistics
// of a cell, and the Markdown number formats the report shares.
//
// Threading: none.
#ifndef FLSENTRY_INTEGRATION_BENCHMARK_BENCHMARK_REPORT_CELLS_H_
#define FLSENTRY_INTEGRATION_BENCHMARK_BENCHMARK_REPORT_CELLS_H_

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "benchmark_report_metrics.h"
#include "benchmark_report_protocol.h"

namespace flsentry::bench {

// One planned run and what became of it.
struct RunOutcome {
  RunSpec spec;
  std::optional<RunMetrics> metrics;  // empty: not finished or unreadable
  std::string error;                  // why metrics is empty
};

// Mean and spread of one metric over a cell's runs. n counts the finite
// values; sd is the sample standard deviation (NaN for n < 2).
struct Stat {
  int n = 0;
  double mean = 0.0;  // NaN when n == 0
  double sd = 0.0;
  double min = 0.0;
  double max = 0.0;
};

// Non-finite values are left out.
Stat Summarize(const std::vector<double>& values);

using Metric = std::function<double(const RunMetrics&)>;

// Accuracy for comparisons: a diverged (NaN) model counts as 0.
double Comparable(double accuracy);

// Finished runs by cell. Borrows `runs`, which must outlive the index.
class RunIndex {
 public:
  explicit RunIndex(const std::vector<RunOutcome>& runs);

  // The cell's finished runs, in plan order (empty: none finished or no
  // such cell).
  std::vector<const RunMetrics*> Cell(const std::string& shape, double fraction,
                                      const std::string& attack,
                                      const std::string& aggregator) const;
  // Runs the plan has for the cell, finished or not.
  int Planned(const std::string& shape, double fraction,
              const std::string& attack, const std::string& aggregator) const;
  // True when the cell is planned and every run of it finished.
  bool Complete(const std::string& shape, double fraction,
                const std::string& attack, const std::string& aggregator) const;
  // The metric over the cell's finished runs.
  Stat Of(const std::string& shape, double fraction, const std::string& attack,
          const std::string& aggregator, const Metric& metric) const;
  // A planned run of the cell (the first), or nullptr.
  const RunSpec* Spec(const std::string& shape, double fraction,
                      const std::string& attack,
                      const std::string& aggregator) const;
  const std::vector<RunOutcome>& runs() const { return runs_; }

 private:
  static std::string Key(const std::string& shape, double fraction,
                         const std::string& attack,
                         const std::string& aggregator);
  const std::vector<RunOutcome>& runs_;
  std::map<std::string, std::vector<const RunOutcome*>> by_key_;
};

// ---- formats ---------------------------------------------------------------

// A share as percent with one decimal, "n/a" when not finite.
std::string Pct(double share);
// Pct + "%", or "n/a".
std::string PctSign(double share);
// "78.1 ± 0.4" (percent) for n >= 2, "78.1" for n == 1, "n/a" for 0.
std::string PctStat(const Stat& s);
// A plain number with `format` (printf), "n/a" when not finite.
std::string Fixed(double v, const char* format);
// "20%" for 0.2.
std::string FractionText(double f);
// "| first | c1 | c2 |\n|---|---:|---:|\n"
std::string TableHeader(const std::string& first,
                        const std::vector<std::string>& cols);

}  // namespace flsentry::bench

#endif  // FLSENTRY_INTEGRATION_BENCHMARK_BENCHMARK_REPORT_CELLS_H_
