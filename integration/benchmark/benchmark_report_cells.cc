#include "benchmark_report_cells.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace flsentry::bench {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace

Stat Summarize(const std::vector<double>& values) {
  Stat s;
  double sum = 0.0;
  s.min = kNaN;
  s.max = kNaN;
  for (const double v : values) {
    if (!std::isfinite(v)) continue;
    sum += v;
    s.min = s.n == 0 ? v : std::min(s.min, v);
    s.max = s.n == 0 ? v : std::max(s.max, v);
    ++s.n;
  }
  s.mean = s.n > 0 ? sum / s.n : kNaN;
  s.sd = kNaN;
  if (s.n >= 2) {
    double sq = 0.0;
    for (const double v : values) {
      if (std::isfinite(v)) sq += (v - s.mean) * (v - s.mean);
    }
    s.sd = std::sqrt(sq / (s.n - 1));
  }
  return s;
}

double Comparable(double accuracy) {
  return std::isfinite(accuracy) ? accuracy : 0.0;
}

RunIndex::RunIndex(const std::vector<RunOutcome>& runs) : runs_(runs) {
  for (const RunOutcome& r : runs_) {
    by_key_[Key(r.spec.shape, r.spec.fraction, r.spec.attack,
                r.spec.aggregator)]
        .push_back(&r);
  }
}

std::string RunIndex::Key(const std::string& shape, double fraction,
                          const std::string& attack,
                          const std::string& aggregator) {
  return shape + "/" + FractionTag(fraction) + "/" + attack + "/" + aggregator;
}

std::vector<const RunMetrics*> RunIndex::Cell(
    const std::string& shape, double fraction, const std::string& attack,
    const std::string& aggregator) const {
  std::vector<const RunMetrics*> out;
  const auto it = by_key_.find(Key(shape, fraction, attack, aggregator));
  if (it == by_key_.end()) return out;
  for (const RunOutcome* r : it->second) {
    if (r->metrics) out.push_back(&*r->metrics);
  }
  return out;
}

int RunIndex::Planned(const std::string& shape, double fraction,
                      const std::string& attack,
                      const std::string& aggregator) const {
  const auto it = by_key_.find(Key(shape, fraction, attack, aggregator));
  return it == by_key_.end() ? 0 : static_cast<int>(it->second.size());
}

bool RunIndex::Complete(const std::string& shape, double fraction,
                        const std::string& attack,
                        const std::string& aggregator) const {
  const int planned = Planned(shape, fraction, attack, aggregator);
  return planned > 0 &&
         static_cast<int>(Cell(shape, fraction, attack, aggregator).size()) ==
             planned;
}

Stat RunIndex::Of(const std::string& shape, double fraction,
                  const std::string& attack, const std::string& aggregator,
                  const Metric& metric) const {
  std::vector<double> values;
  for (const RunMetrics* m : Cell(shape, fraction, attack, aggregator)) {
    values.push_back(metric(*m));
  }
  return Summarize(values);
}

const RunSpec* RunIndex::Spec(const std::string& shape, double fraction,
                              const std::string& attack,
                              const std::string& aggregator) const {
  const auto it = by_key_.find(Key(shape, fraction, attack, aggregator));
  return it == by_key_.end() || it->second.empty() ? nullptr
                                                   : &it->second.front()->spec;
}

std::string Fixed(double v, const char* format) {
  if (!std::isfinite(v)) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string Pct(double share) { return Fixed(100.0 * share, "%.1f"); }

std::string PctSign(double share) {
  return std::isfinite(share) ? Pct(share) + "%" : "n/a";
}

std::string PctStat(const Stat& s) {
  if (s.n == 0) return "n/a";
  if (s.n == 1) return Pct(s.mean);
  return Pct(s.mean) + " ± " + Pct(s.sd);
}

std::string FractionText(double f) { return Fixed(100.0 * f, "%.0f%%"); }

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

}  // namespace flsentry::bench
