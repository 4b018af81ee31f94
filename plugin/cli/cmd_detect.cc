// flsentry detect DIR --detector DETECTOR [--json] [--threshold X]
//                 [--quantile Q] [--max-norm-ratio R]
//
// Scores every update under DIR (flat folder or round archive) with the
// detector, like the original detect_anomalies.py: one line per update
//   <file>  score <s>  threshold <t>  ANOMALY|ok
// --json prints an array of {"file", "score", "threshold", "anomaly"} (plus
// "reason" when anomalous and "error" when the update could not be scored;
// score is null then). The threshold is --threshold, else the detector's
// calibrated quantile Q (default 0.99). An update is also anomalous when its
// norm is more than R times (default 5) away from the median norm of its
// round (reason "norm"), or when it cannot be scored (NaN/Inf, all zeros,
// missing tensors; reason "error"). Exit code 0 whether or not anomalies are
// found.
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "archive/round_archive.h"
#include "cli/commands.h"
#include "detector/detector.h"
#include "tensor/tensor_file.h"

namespace flsentry::cli {
namespace {

struct Options {
  std::string input, detector;
  bool json = false;
  double threshold = NAN;
  double quantile = 0.99;
  double max_norm_ratio = 5.0;
};

void RunDetect(const Options& o) {
  DetectorConfig config;
  config.refresh.enabled = false;
  auto detector = Detector::Load(o.detector, config);
  if (!detector.ok()) return Fail(detector.status().message());
  double threshold = o.threshold;
  if (std::isnan(threshold)) {
    threshold = (*detector)->calibration().Quantile(o.quantile);
    if (std::isnan(threshold)) {
      return Fail(o.detector +
                  ": the detector has no calibration; pass --threshold");
    }
  }
  auto archive = OpenRoundArchive(o.input);
  if (!archive.ok()) return Fail(archive.status().message());
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const ArchiveRound& r : archive->rounds) {
    auto global = ReadArchiveGlobal(r);
    if (!global.ok()) return Fail(global.status().message());
    std::vector<TensorSet> sets(r.clients.size());
    std::vector<std::string> read_errors(r.clients.size());
    RoundInput round;
    round.round = r.number;
    round.global = global->Views();
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
        read_errors[i] = set.status().message();
      }
      round.updates.push_back(std::move(u));
    }
    auto scores = (*detector)->ScoreRound(round, eligible);
    if (!scores.ok()) return Fail(r.dir + ": " + scores.status().message());
    const std::string prefix =
        archive->flat ? "" : (RoundDirName(r.number) + "/");
    for (size_t i = 0; i < r.clients.size(); ++i) {
      const UpdateScore& s = (*scores)[i];
      std::string error = !read_errors[i].empty() ? read_errors[i] : s.error;
      std::string reason;
      if (!error.empty()) {
        reason = "error";
      } else if (s.score > threshold) {
        reason = "score";
      } else if (std::fabs(s.log_norm_ratio) > std::log(o.max_norm_ratio)) {
        reason = "norm";
      }
      const std::string file = prefix + r.clients[i].file;
      nlohmann::ordered_json j = {
          {"file", file},
          {"score", std::isfinite(s.score) ? nlohmann::ordered_json(s.score)
                                           : nlohmann::ordered_json(nullptr)},
          {"threshold", threshold},
          {"anomaly", !reason.empty()}};
      if (!reason.empty()) j["reason"] = reason;
      if (!error.empty()) j["error"] = error;
      if (o.json) {
        out.push_back(std::move(j));
      } else {
        std::printf(
            "%s  score %.6g  threshold %.6g  %s%s\n", file.c_str(), s.score,
            threshold, reason.empty() ? "ok" : "ANOMALY",
            reason.empty()
                ? ""
                : (" (" + (error.empty() ? reason : error) + ")").c_str());
      }
    }
  }
  if (o.json) std::printf("%s\n", out.dump(2).c_str());
}

}  // namespace

void AddDetectCommand(CLI::App& app) {
  auto* cmd =
      app.add_subcommand("detect", "score updates with a trained detector");
  auto o = std::make_shared<Options>();
  cmd->add_option("DIR", o->input, "folder of updates or round archive")
      ->required();
  cmd->add_option("--detector", o->detector, "detector directory")->required();
  cmd->add_flag("--json", o->json, "print a JSON array");
  cmd->add_option("--threshold", o->threshold,
                  "score threshold (default: calibrated quantile)");
  cmd->add_option("--quantile", o->quantile,
                  "calibration quantile used as threshold")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--max-norm-ratio", o->max_norm_ratio,
                  "flag norms this many times away from the round median")
      ->check(CLI::Range(1.0, 1e300));
  cmd->callback([o] { RunDetect(*o); });
}

}  // namespace flsentry::cli
