// flsentry detect DIR --detector DETECTOR [--json] [--threshold X]
//                 [--quantile Q] [--round-ratio K] [--max-norm-ratio R]
//
// Scores every update under DIR (flat folder = one round, or a round
// archive) with the detector, like the original detect_anomalies.py: one
// line per update
//   <file>  score <s>  threshold <t>  ANOMALY|ok
// after a line saying which threshold judged each round. The threshold is,
// in this order:
//   --threshold X     a fixed score;
//   --quantile Q      the detector's calibrated quantile Q (as the original
//                     tool's 99th percentile);
//   round-relative    (the default) K x the median score of the round's
//                     scored updates (K = --round-ratio, 3), when the round
//                     has at least 3 of them: benign scores drift as
//                     training goes on, so a threshold fixed on the training
//                     rounds flags more and more later benign updates;
//   the calibrated quantile 0.99, for a round with fewer than 3 scores.
// An update is also anomalous when its norm is more than R times (default
// 5) away from the median norm of its round (reason "norm": the score sees
// the update's direction only, so scaling is the norm's to catch), or when
// it cannot be scored (NaN/Inf, all zeros, missing tensors; reason
// "error"). --json prints an array of {"file", "score", "threshold",
// "threshold_kind", "norm_ratio", "suspicion", "anomaly"} (plus "reason"
// when anomalous and "error" when the update could not be scored; score is
// null then); suspicion = max(score / threshold, norm ratio / R) ranks
// updates for either signal. Exit code 0 whether or not anomalies are
// found.
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "archive/round_archive.h"
#include "base/robust_stats.h"
#include "cli/commands.h"
#include "detector/detector.h"
#include "tensor/tensor_file.h"

namespace flsentry::cli {
namespace {

// A median of 3 scores stays with the majority when one update is odd; a
// detector trained on another run scores every update of a round high
// alike, which a fixed calibrated threshold would flag as a whole.
constexpr size_t kMinRoundSize = 3;

struct Options {
  std::string input, detector;
  bool json = false;
  double threshold = NAN;
  double quantile = NAN;
  double round_ratio = 3.0;
  double max_norm_ratio = 5.0;
};

// One round's updates, read and scored.
struct ScoredRound {
  std::vector<UpdateScore> scores;
  std::vector<std::string> read_errors;  // per client, "" when read
};

Result<ScoredRound> ScoreArchiveRound(Detector& detector,
                                      const ArchiveRound& r) {
  FLS_ASSIGN_OR_RETURN(TensorSet global, ReadArchiveGlobal(r));
  std::vector<TensorSet> sets(r.clients.size());
  ScoredRound out;
  out.read_errors.resize(r.clients.size());
  RoundInput round;
  round.round = r.number;
  round.global = global.Views();
  std::vector<size_t> eligible;
  for (size_t i = 0; i < r.clients.size(); ++i) {
    auto set = ReadArchiveClient(r, i);
    UpdateInput u;
    u.client_id = r.clients[i].id;
    u.kind = r.kind == ArchiveKind::kWeights ? UpdateKind::kWeights
                                             : UpdateKind::kDelta;
    if (set.ok()) {
      sets[i] = std::move(set).value();
      u.tensors = sets[i].Views();
      eligible.push_back(i);
    } else {
      out.read_errors[i] = set.status().message();
    }
    round.updates.push_back(std::move(u));
  }
  auto scores = detector.ScoreRound(round, eligible);
  if (!scores.ok()) return scores.status().WithContext(r.dir);
  out.scores = std::move(scores).value();
  return out;
}

// The round's threshold and a phrase saying where it came from.
Result<std::pair<double, std::string>> RoundThreshold(
    const Options& o, const Detector& detector, const ScoredRound& round) {
  if (std::isfinite(o.threshold))
    return std::pair{o.threshold, std::string("fixed")};
  if (std::isfinite(o.quantile)) {
    const double t = detector.calibration().Quantile(o.quantile);
    if (std::isnan(t)) {
      return InvalidArgument(o.detector + ": the detector has no calibration");
    }
    return std::pair{t, std::string("calibrated quantile")};
  }
  std::vector<double> scores;
  for (const UpdateScore& s : round.scores) {
    if (s.scored && std::isfinite(s.score)) scores.push_back(s.score);
  }
  if (scores.size() >= kMinRoundSize) {
    return std::pair{o.round_ratio * Median(scores),
                     std::string("round-relative")};
  }
  const double t = detector.calibration().Quantile(0.99);
  if (std::isnan(t)) {
    return InvalidArgument(
        "a round with fewer than 3 scored updates and a detector without "
        "calibration: pass --threshold");
  }
  return std::pair{t, std::string("calibrated quantile")};
}

nlohmann::ordered_json NumberOrNull(double v) {
  return std::isfinite(v) ? nlohmann::ordered_json(v)
                          : nlohmann::ordered_json(nullptr);
}

// Judges and prints (or appends to `out`) every update of one round.
void ReportRound(const Options& o, const std::string& prefix,
                 const ArchiveRound& r, const ScoredRound& round,
                 double threshold, const std::string& kind,
                 nlohmann::ordered_json& out) {
  if (!o.json) {
    std::printf("# %s: threshold %.6g (%s",
                prefix.empty() ? "updates" : prefix.c_str(), threshold,
                kind.c_str());
    if (kind == "round-relative") {
      std::printf(": %g x the round's median score", o.round_ratio);
    }
    std::printf(")\n");
  }
  for (size_t i = 0; i < r.clients.size(); ++i) {
    const UpdateScore& s = round.scores[i];
    const std::string error =
        !round.read_errors[i].empty() ? round.read_errors[i] : s.error;
    const double norm_ratio = std::exp(std::fabs(s.log_norm_ratio));
    const double suspicion =
        std::max(s.score / threshold, norm_ratio / o.max_norm_ratio);
    std::string reason;
    if (!error.empty()) {
      reason = "error";
    } else if (s.score > threshold) {
      reason = "score";
    } else if (norm_ratio > o.max_norm_ratio) {
      reason = "norm";
    }
    const std::string file = prefix + r.clients[i].file;
    nlohmann::ordered_json j = {{"file", file},
                                {"score", NumberOrNull(s.score)},
                                {"threshold", threshold},
                                {"threshold_kind", kind},
                                {"norm_ratio", NumberOrNull(norm_ratio)},
                                {"suspicion", NumberOrNull(suspicion)},
                                {"anomaly", !reason.empty()}};
    if (!reason.empty()) j["reason"] = reason;
    if (!error.empty()) j["error"] = error;
    if (o.json) {
      out.push_back(std::move(j));
      continue;
    }
    std::printf("%s  score %.6g  threshold %.6g  %s%s\n", file.c_str(), s.score,
                threshold, reason.empty() ? "ok" : "ANOMALY",
                reason.empty()
                    ? ""
                    : (" (" + (error.empty() ? reason : error) + ")").c_str());
  }
}

Status RunDetect(const Options& o) {
  DetectorConfig config;
  config.refresh.enabled = false;
  FLS_ASSIGN_OR_RETURN(std::unique_ptr<Detector> detector,
                       Detector::Load(o.detector, config));
  FLS_ASSIGN_OR_RETURN(RoundArchive archive, OpenRoundArchive(o.input));
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const ArchiveRound& r : archive.rounds) {
    FLS_ASSIGN_OR_RETURN(ScoredRound round, ScoreArchiveRound(*detector, r));
    FLS_ASSIGN_OR_RETURN(auto threshold, RoundThreshold(o, *detector, round));
    const std::string prefix =
        archive.flat ? "" : (RoundDirName(r.number) + "/");
    ReportRound(o, prefix, r, round, threshold.first, threshold.second, out);
  }
  if (o.json) std::printf("%s\n", out.dump(2).c_str());
  return Status::Ok();
}

}  // namespace

void AddDetectCommand(CLI::App& app, Status* result) {
  auto* cmd =
      app.add_subcommand("detect", "score updates with a trained detector");
  auto o = std::make_shared<Options>();
  cmd->add_option("DIR", o->input, "folder of updates or round archive")
      ->required();
  cmd->add_option("--detector", o->detector, "detector directory")->required();
  cmd->add_flag("--json", o->json, "print a JSON array");
  cmd->add_option("--threshold", o->threshold, "a fixed score threshold");
  cmd->add_option("--quantile", o->quantile,
                  "the detector's calibrated quantile as a fixed threshold")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--round-ratio", o->round_ratio,
                  "default threshold: this many times the round's median "
                  "score (3)")
      ->check(CLI::Range(1.0, 1e6));
  cmd->add_option("--max-norm-ratio", o->max_norm_ratio,
                  "flag norms this many times away from the round median")
      ->check(CLI::Range(1.0, 1e300));
  cmd->callback([result, o] { *result = RunDetect(*o); });
}

}  // namespace flsentry::cli
