// scoring.h — the values that pass from the detector to the policy: one
// UpdateScore per update of a round, and the detector's calibration on
// benign data. Plain values; no LibTorch.
#ifndef FLSENTRY_FEATURES_SCORING_H_
#define FLSENTRY_FEATURES_SCORING_H_

#include <cmath>
#include <cstdint>
#include <map>
#include <string>

namespace flsentry {

// Distribution of the detector's scores on held-out benign updates.
struct Calibration {
  int64_t count = 0;  // benign updates the statistics come from
  double mean = NAN;
  double stddev = NAN;
  // quantile level (e.g. 0.99) -> score. Levels stored: 0.5, 0.9, 0.95,
  // 0.99, 0.999 and the max (level 1.0).
  std::map<double, double> quantiles;

  // Linear interpolation between stored levels; NaN when none stored.
  double Quantile(double level) const;
};

// Known updates (consistency > 0) a round needs for UpdateScore::agreement.
inline constexpr int kMinKnownForAgreement = 5;

// What the detector says about one update. Fields are NaN when not computed
// (e.g. the update was invalid, or no detector is configured).
struct UpdateScore {
  // Reconstruction error of the update's direction embedding (the
  // autoencoder score). Higher is more anomalous.
  double score = NAN;
  // L2 norm of the update (of the delta from the global model).
  double norm = NAN;
  // log(norm / median norm of the round's well-formed updates).
  double log_norm_ratio = NAN;
  // Highest cosine similarity of this update's embedding to another
  // embedded update of the same round, in [-1, 1]; NaN when not embedded or
  // alone. Colluding clients that send (nearly) the same update score ~1.
  // Above 512 embedded updates the best pair found by bucketing, a lower
  // bound (detector/pairwise.h).
  double max_similarity = NAN;
  // Cosine of this update's embedding with the mean direction of the other
  // embedded updates of the round (LeaveOneOutCentrality), in [-1, 1]; NaN
  // when fewer than 3 updates were embedded. Updates crafted from the
  // round's statistics (ALIE) sit closer to the mean than any honest one.
  double centrality = NAN;
  // Share of the update's squared norm in input columns of its first dense
  // layer where it stands out of its round's band (column_outliers.h), in
  // [0, 1]; NaN when not embedded, not measured (the column guard off:
  // DetectorConfig::column_energy; an update embedded by the f64 fallback),
  // the layout has no profiled tensor, or fewer than kMinColumnRound
  // updates have a profile. A pixel-trigger
  // backdoor's updates reach 0.15-0.6 while the backdoor is not learned.
  double column_share = NAN;
  // The part of column_share in its kPeakColumns largest columns
  // (column_outliers.h), in [0, column_share]; NaN when column_share is.
  // A 3 x 3 trigger's is nearly all of it; an honest member's unusual
  // inputs spread theirs over dozens of columns.
  double column_peak_share = NAN;
  // Cosine of this update's embedding with the client's own reference: the
  // embedding of its last update kept without any flag (Detector keeps one
  // per client id), in [-1, 1]. NaN when not embedded or the client has no
  // reference yet. An honest client's updates keep pointing the same way
  // (its data does not change); a sign flip reverses them.
  double consistency = NAN;
  // Cosine of this update's embedding with the mean direction of the
  // round's *known* updates: the other embedded updates whose consistency
  // is above 0 (clients with a reference, pointing their usual way), in
  // [-1, 1], a group of near-copies among them counted as one
  // (known_direction.h); NaN when fewer than
  // kMinKnownForAgreement such updates (the mean of fewer is too noisy to
  // judge anyone by). What a client without history is compared with:
  // attackers without a reference or turned against theirs do not move it.
  double agreement = NAN;
  // Cosine of this update's embedding with the client's rejected direction
  // (ClientReferences: its last update dropped for a severe signal, kept
  // only while it has no reference), in [-1, 1], and the round of that
  // rejection; NaN and 0 when it has none.
  double rejected_similarity = NAN;
  uint64_t rejected_round = 0;
  int64_t nonfinite = 0;  // NaN/Inf elements seen
  // Hasher value of the embedding's float bits; 0 when not embedded. With
  // the norm, what a retried round is compared by (engine/round_record.h).
  uint64_t embedding_hash = 0;
  bool scored = false;  // true when `score` came from the detector
  std::string error;    // non-empty when scoring this update failed
};

}  // namespace flsentry

#endif  // FLSENTRY_FEATURES_SCORING_H_
