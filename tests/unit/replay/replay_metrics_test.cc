#include "replay/replay_metrics.h"

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

namespace flsentry::cli {
namespace {

ScoredCall Mal(double score, bool called = false) {
  return {score, called, true, true};
}
ScoredCall Ben(double score, bool called = false) {
  return {score, called, true, false};
}
ScoredCall Unlabelled(double score, bool called = false) {
  return {score, called, false, false};
}

TEST_CASE("ROC AUC on hand-computed cases") {
  // Perfect separation, reversed, and everything tied.
  CHECK(RocAuc(std::vector{Mal(3), Mal(2), Ben(1), Ben(0)}) == 1.0);
  CHECK(RocAuc(std::vector{Mal(0), Ben(1)}) == 0.0);
  CHECK(RocAuc(std::vector{Mal(1), Mal(1), Ben(1), Ben(1), Ben(1)}) == 0.5);
  // Pairs (mal, ben): (3,2)=1 (3,1)=1 (2,2)=1/2 (2,1)=1 -> 3.5 / 4.
  CHECK(RocAuc(std::vector{Mal(3), Mal(2), Ben(2), Ben(1)}) ==
        doctest::Approx(0.875));
  // 2 malicious x 3 benign: mal 5 beats all 3; mal 2 beats ben 1, ties ben 2,
  // loses to ben 4 -> (3 + 1.5) / 6.
  CHECK(RocAuc(std::vector{Ben(4), Mal(5), Ben(2), Mal(2), Ben(1)}) ==
        doctest::Approx(0.75));
  // Unlabelled calls are ignored.
  CHECK(RocAuc(std::vector{Mal(1), Ben(0), Unlabelled(100)}) == 1.0);
}

TEST_CASE("ROC AUC is undefined without both classes") {
  CHECK(std::isnan(RocAuc(std::vector{Mal(1), Mal(2)})));
  CHECK(std::isnan(RocAuc(std::vector{Ben(1)})));
  CHECK(std::isnan(RocAuc(std::vector<ScoredCall>{})));
  CHECK(RocCurve(std::vector{Ben(1), Unlabelled(2)}).empty());
}

TEST_CASE("unscored calls rank by what the filter did with them") {
  // A malicious update dropped by a guard before scoring ranks above every
  // score; a benign unscored accepted one ranks below.
  CHECK(RankingScore(Mal(NAN, true)) == INFINITY);
  CHECK(RankingScore(Ben(NAN, false)) == -INFINITY);
  CHECK(RankingScore(Ben(2.5, true)) == 2.5);
  CHECK(RocAuc(std::vector{Mal(NAN, true), Ben(1e300), Ben(NAN)}) == 1.0);
  CHECK(RocAuc(std::vector{Mal(NAN, false), Ben(-1e300)}) == 0.0);
}

TEST_CASE(
    "confusion counts: malicious positive, drop or down-weight is a positive "
    "call") {
  std::vector<ScoredCall> calls = {
      Mal(9, true),  Mal(8, true),  Mal(1, false), Ben(7, true),
      Ben(1, false), Ben(0, false), Ben(0, false), Unlabelled(5, true)};
  Confusion c = CountConfusion(calls);
  CHECK(c.tp == 2);
  CHECK(c.fn == 1);
  CHECK(c.fp == 1);
  CHECK(c.tn == 3);
  CHECK(c.labelled() == 7);
  CHECK(c.tpr() == doctest::Approx(2.0 / 3));
  CHECK(c.fpr() == doctest::Approx(0.25));
  CHECK(c.precision() == doctest::Approx(2.0 / 3));
  Confusion empty = CountConfusion(std::vector{Ben(1, false)});
  CHECK(std::isnan(empty.tpr()));
  CHECK(std::isnan(empty.precision()));
  CHECK(empty.fpr() == 0.0);
}

TEST_CASE("ROC curve steps through tied groups from (0,0) to (1,1)") {
  std::vector<RocPoint> curve =
      RocCurve(std::vector{Mal(3), Mal(2), Ben(2), Ben(1)});
  REQUIRE(curve.size() == 4);
  CHECK(curve[0].fpr == 0.0);
  CHECK(curve[0].tpr == 0.0);
  CHECK(curve[1].fpr == 0.0);
  CHECK(curve[1].tpr == 0.5);
  CHECK(curve[1].threshold == 3.0);
  CHECK(curve[2].fpr == 0.5);  // the tie moves both at once
  CHECK(curve[2].tpr == 1.0);
  CHECK(curve[3].fpr == 1.0);
  CHECK(curve[3].tpr == 1.0);
}

}  // namespace
}  // namespace flsentry::cli
