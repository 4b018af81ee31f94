#include "benchmark_report_cells.h"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>

namespace flsentry::bench {
namespace {

TEST_CASE("Summarize gives mean and sample sd of the finite values") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Stat s = Summarize({0.7, nan, 0.8, 0.9});
  CHECK(s.n == 3);
  CHECK(s.mean == doctest::Approx(0.8));
  CHECK(s.sd == doctest::Approx(0.1));
  CHECK(s.min == 0.7);
  CHECK(s.max == 0.9);
  CHECK(std::isnan(Summarize({0.5}).sd));
  CHECK(Summarize({}).n == 0);
  CHECK(PctStat(s) == "80.0 ± 10.0");
  CHECK(PctStat(Summarize({0.5})) == "50.0");
  CHECK(PctStat(Summarize({})) == "n/a");
}

TEST_CASE("RunIndex groups a cell's seeds and knows unfinished runs") {
  std::vector<RunOutcome> runs(3);
  for (int i = 0; i < 3; ++i) {
    runs[i].spec = {"id" + std::to_string(i),
                    kBaseShape,
                    0.2,
                    "scaling",
                    "filter",
                    "",
                    true,
                    i + 1};
  }
  runs[0].metrics = RunMetrics{};
  runs[0].metrics->final_accuracy = 0.6;
  runs[1].metrics = RunMetrics{};
  runs[1].metrics->final_accuracy = std::nan("");  // diverged
  const RunIndex index(runs);
  CHECK(index.Planned(kBaseShape, 0.2, "scaling", "filter") == 3);
  CHECK(index.Cell(kBaseShape, 0.2, "scaling", "filter").size() == 2);
  CHECK_FALSE(index.Complete(kBaseShape, 0.2, "scaling", "filter"));
  const Stat s = index.Of(
      kBaseShape, 0.2, "scaling", "filter",
      [](const RunMetrics& m) { return Comparable(m.final_accuracy); });
  CHECK(s.n == 2);
  CHECK(s.mean == doctest::Approx(0.3));
  CHECK(index.Planned(kBaseShape, 0.4, "scaling", "filter") == 0);
}

}  // namespace
}  // namespace flsentry::bench
