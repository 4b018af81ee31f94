#include "replay/replay_metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace flsentry::cli {
namespace {

double Ratio(int64_t num, int64_t den) {
  return den == 0 ? std::nan("") : static_cast<double>(num) / den;
}

struct Ranked {
  double rank_score;
  bool malicious;
};

// Labelled calls sorted by ranking score, highest first.
std::vector<Ranked> SortedLabelled(std::span<const ScoredCall> calls,
                                   int64_t* positives, int64_t* negatives) {
  std::vector<Ranked> out;
  *positives = *negatives = 0;
  for (const ScoredCall& c : calls) {
    if (!c.labelled) continue;
    out.push_back({RankingScore(c), c.malicious});
    ++(c.malicious ? *positives : *negatives);
  }
  std::sort(out.begin(), out.end(), [](const Ranked& a, const Ranked& b) {
    return a.rank_score > b.rank_score;
  });
  return out;
}

}  // namespace

double Confusion::tpr() const { return Ratio(tp, tp + fn); }
double Confusion::fpr() const { return Ratio(fp, fp + tn); }
double Confusion::precision() const { return Ratio(tp, tp + fp); }

Confusion CountConfusion(std::span<const ScoredCall> calls) {
  Confusion c;
  for (const ScoredCall& call : calls) {
    if (!call.labelled) continue;
    if (call.malicious) {
      ++(call.positive_call ? c.tp : c.fn);
    } else {
      ++(call.positive_call ? c.fp : c.tn);
    }
  }
  return c;
}

double RankingScore(const ScoredCall& call) {
  if (std::isfinite(call.score)) return call.score;
  const double inf = std::numeric_limits<double>::infinity();
  return call.positive_call ? inf : -inf;
}

double RocAuc(std::span<const ScoredCall> calls) {
  int64_t positives = 0, negatives = 0;
  std::vector<Ranked> ranked = SortedLabelled(calls, &positives, &negatives);
  if (positives == 0 || negatives == 0) return std::nan("");
  // Walk groups of tied scores from high to low. A malicious call beats
  // every benign call below its group and half of the benign calls in it.
  double wins = 0;
  int64_t benign_below = negatives;
  for (size_t i = 0; i < ranked.size();) {
    size_t j = i;
    int64_t group_pos = 0, group_neg = 0;
    while (j < ranked.size() && ranked[j].rank_score == ranked[i].rank_score) {
      ++(ranked[j].malicious ? group_pos : group_neg);
      ++j;
    }
    benign_below -= group_neg;
    wins += static_cast<double>(group_pos) *
            (static_cast<double>(benign_below) + 0.5 * group_neg);
    i = j;
  }
  return wins /
         (static_cast<double>(positives) * static_cast<double>(negatives));
}

std::vector<RocPoint> RocCurve(std::span<const ScoredCall> calls) {
  int64_t positives = 0, negatives = 0;
  std::vector<Ranked> ranked = SortedLabelled(calls, &positives, &negatives);
  std::vector<RocPoint> curve;
  if (positives == 0 || negatives == 0) return curve;
  curve.push_back({0.0, 0.0, std::numeric_limits<double>::infinity()});
  int64_t tp = 0, fp = 0;
  for (size_t i = 0; i < ranked.size();) {
    size_t j = i;
    while (j < ranked.size() && ranked[j].rank_score == ranked[i].rank_score) {
      ++(ranked[j].malicious ? tp : fp);
      ++j;
    }
    curve.push_back({static_cast<double>(fp) / negatives,
                     static_cast<double>(tp) / positives,
                     ranked[i].rank_score});
    i = j;
  }
  return curve;
}

}  // namespace flsentry::cli
