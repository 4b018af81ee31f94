// flsentry-detector-eval — the detector's quality on recorded runs (issue 5,
// "Done when"). For each labelled round archive (e.g. recorded by
// `flsentry simulate --record`):
//   1. trains a detector on the benign updates of the rounds before the
//      first malicious one (or --train-rounds),
//   2. replays every round through Detector::ScoreRound, with continual
//      refresh (learning from the updates a simple round-robust rule
//      accepts: score <= median + 6 MAD and norm within 3x of the median)
//      and without (frozen),
//   3. reports, per attack, the ROC AUC separating its updates from the
//      benign updates of the same rounds, for three statistics:
//        raw       the autoencoder score,
//        round     the score as a robust z within its round,
//        combined  max(round z of the score, round z of |log norm ratio|),
//      plus the share of benign updates the rule above flagged.
// Output: a table; --json prints one JSON object.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "detector.h"
#include "detector_train.h"
#include "round_archive.h"
#include "tensor_file.h"

namespace {

using namespace flsentry;

double Median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

// Robust z of each value within its group: (x - median) / (1.4826 MAD).
std::vector<double> RobustZ(const std::vector<double>& x) {
  const double med = Median(x);
  std::vector<double> dev;
  for (double v : x) dev.push_back(std::fabs(v - med));
  const double mad = 1.4826 * Median(dev) + 1e-12;
  std::vector<double> z;
  for (double v : x) z.push_back((v - med) / mad);
  return z;
}

// Mann-Whitney AUC: P(positive > negative), ties count one half.
double Auroc(const std::vector<double>& pos, const std::vector<double>& neg) {
  if (pos.empty() || neg.empty()) return NAN;
  double wins = 0;
  for (double p : pos)
    for (double n : neg) wins += p > n ? 1.0 : (p == n ? 0.5 : 0.0);
  return wins / (static_cast<double>(pos.size()) * static_cast<double>(neg.size()));
}

struct Scored {
  uint64_t round;
  bool malicious;
  std::string attack;
  double raw, round_z, combined;
  bool flagged;
};

struct Options {
  std::vector<std::string> archives;
  int train_rounds = 0;  // 0: rounds before the first malicious client
  int64_t sketch_dim = 1024;
  int epochs = 3;
  int window = 3;
  int threads = 1;
  bool json = false;
  std::string dump;  // per-update rows as JSON lines, for inspection
};

Result<std::vector<Scored>> Replay(const RoundArchive& archive, const std::string& detector_dir,
                                   bool refresh, const Options& o) {
  DetectorConfig config;
  config.refresh.enabled = refresh;
  config.refresh.epochs = o.epochs;
  config.refresh.window_rounds = o.window;
  config.threads = o.threads;
  FLS_ASSIGN_OR_RETURN(std::unique_ptr<Detector> det, Detector::Load(detector_dir, config));
  std::vector<Scored> out;
  for (const ArchiveRound& r : archive.rounds) {
    FLS_ASSIGN_OR_RETURN(TensorSet global, ReadArchiveGlobal(r));
    std::vector<TensorSet> sets;
    RoundInput round;
    round.round = r.number;
    round.global = global.Views();
    std::vector<size_t> eligible;
    for (size_t i = 0; i < r.clients.size(); ++i) {
      FLS_ASSIGN_OR_RETURN(TensorSet s, ReadArchiveClient(r, i));
      sets.push_back(std::move(s));
    }
    for (size_t i = 0; i < r.clients.size(); ++i) {
      UpdateInput u;
      u.client_id = r.clients[i].id;
      u.kind = r.kind == ArchiveKind::kWeights ? UpdateKind::kWeights : UpdateKind::kDelta;
      u.tensors = sets[i].Views();
      round.updates.push_back(std::move(u));
      eligible.push_back(i);
    }
    FLS_ASSIGN_OR_RETURN(std::vector<UpdateScore> scores, det->ScoreRound(round, eligible));
    std::vector<double> raw, lnr;
    for (const UpdateScore& s : scores) {
      raw.push_back(s.scored ? s.score : 1e30);
      lnr.push_back(s.scored ? std::fabs(s.log_norm_ratio) : 1e30);
    }
    const std::vector<double> z = RobustZ(raw), zn = RobustZ(lnr);
    std::vector<size_t> accepted;
    std::vector<std::string> ids;
    for (size_t i = 0; i < scores.size(); ++i) {
      const bool flagged = !scores[i].scored || z[i] > 6.0 || lnr[i] > std::log(3.0);
      if (!flagged) {
        accepted.push_back(i);
        ids.push_back(r.clients[i].id);
      }
      out.push_back({r.number, r.clients[i].label == ArchiveLabel::kMalicious, r.clients[i].attack,
                     raw[i], z[i], std::max(z[i], zn[i]), flagged});
    }
    FLS_RETURN_IF_ERROR(det->LearnFromRound(r.number, accepted, ids));
  }
  return out;
}

nlohmann::ordered_json Evaluate(const std::vector<Scored>& rows, uint64_t first_attack_round) {
  std::map<std::string, std::vector<const Scored*>> by_attack;
  for (const Scored& s : rows)
    if (s.malicious) by_attack[s.attack.empty() ? "malicious" : s.attack].push_back(&s);
  nlohmann::ordered_json result = nlohmann::ordered_json::object();
  for (const auto& [attack, mal] : by_attack) {
    std::map<uint64_t, bool> rounds;
    for (const Scored* s : mal) rounds[s->round] = true;
    std::vector<double> pr, pz, pc, nr, nz, nc;
    for (const Scored* s : mal) {
      pr.push_back(s->raw);
      pz.push_back(s->round_z);
      pc.push_back(s->combined);
    }
    int benign = 0, benign_flagged = 0;
    for (const Scored& s : rows) {
      if (s.malicious || !rounds.count(s.round)) continue;
      nr.push_back(s.raw);
      nz.push_back(s.round_z);
      nc.push_back(s.combined);
      ++benign;
      benign_flagged += s.flagged;
    }
    int mal_flagged = 0;
    for (const Scored* s : mal) mal_flagged += s->flagged;
    result[attack] = {{"malicious", mal.size()},
                      {"benign", benign},
                      {"auroc_raw", Auroc(pr, nr)},
                      {"auroc_round", Auroc(pz, nz)},
                      {"auroc_combined", Auroc(pc, nc)},
                      {"tpr_rule", static_cast<double>(mal_flagged) / mal.size()},
                      {"fpr_rule", benign ? static_cast<double>(benign_flagged) / benign : NAN}};
  }
  // Benign updates flagged over the whole run (after training rounds).
  int b = 0, bf = 0;
  for (const Scored& s : rows) {
    if (s.malicious || s.round < first_attack_round) continue;
    ++b;
    bf += s.flagged;
  }
  result["_benign_flag_rate_after_training"] = b ? static_cast<double>(bf) / b : NAN;
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"flsentry-detector-eval: per-attack ROC AUC of the detector on recorded runs"};
  app.add_option("ARCHIVE", o.archives, "labelled round archives")->required();
  app.add_option("--train-rounds", o.train_rounds, "train on rounds 1..N (default: before the first attack)");
  app.add_option("--sketch-dim", o.sketch_dim, "k");
  app.add_option("--epochs", o.epochs, "refresh epochs per round");
  app.add_option("--window", o.window, "refresh window in rounds");
  app.add_option("--threads", o.threads, "LibTorch threads");
  app.add_flag("--json", o.json, "print JSON");
  app.add_option("--dump", o.dump, "append per-update rows (JSON lines) to this file");
  CLI11_PARSE(app, argc, argv);
  nlohmann::ordered_json all = nlohmann::ordered_json::object();
  for (const std::string& path : o.archives) {
    auto archive = OpenRoundArchive(path);
    if (!archive.ok()) {
      std::fprintf(stderr, "flsentry-detector-eval: error: %s\n", archive.status().message().c_str());
      return 1;
    }
    uint64_t first_attack = UINT64_MAX;
    for (const auto& r : archive->rounds)
      for (const auto& c : r.clients)
        if (c.label == ArchiveLabel::kMalicious) first_attack = std::min(first_attack, r.number);
    DetectorTrainConfig train;
    train.features.sketch_dim = o.sketch_dim;
    train.train.threads = o.threads;
    train.last_round = o.train_rounds > 0 ? static_cast<uint64_t>(o.train_rounds)
                                          : (first_attack == UINT64_MAX ? UINT64_MAX : first_attack - 1);
    char pattern[] = "/tmp/flsentry_eval_XXXXXX";
    if (!mkdtemp(pattern)) return 1;
    const std::string det_dir = std::string(pattern) + "/detector";
    auto summary = TrainDetector(path, train, det_dir, false);
    if (!summary.ok()) {
      std::fprintf(stderr, "flsentry-detector-eval: error: %s\n", summary.status().message().c_str());
      return 1;
    }
    nlohmann::ordered_json entry = {{"trained_on_rounds", (*summary)["rounds"]},
                                    {"training_updates", (*summary)["updates_used"]}};
    for (bool refresh : {true, false}) {
      auto rows = Replay(*archive, det_dir, refresh, o);
      if (!rows.ok()) {
        std::fprintf(stderr, "flsentry-detector-eval: error: %s\n", rows.status().message().c_str());
        return 1;
      }
      entry[refresh ? "refresh" : "frozen"] = Evaluate(*rows, train.last_round + 1);
      if (!o.dump.empty()) {
        FILE* f = std::fopen(o.dump.c_str(), "a");
        for (const Scored& s : *rows) {
          if (f) std::fprintf(f, "{\"archive\":\"%s\",\"mode\":\"%s\",\"round\":%llu,\"malicious\":%d,\"raw\":%.6g,\"z\":%.4g,\"combined\":%.4g,\"flagged\":%d}\n",
                              path.c_str(), refresh ? "refresh" : "frozen",
                              static_cast<unsigned long long>(s.round), s.malicious ? 1 : 0, s.raw,
                              s.round_z, s.combined, s.flagged ? 1 : 0);
        }
        if (f) std::fclose(f);
      }
    }
    std::filesystem::remove_all(pattern);
    all[path] = entry;
    if (!o.json) {
      std::printf("%s (trained on rounds %s, %d updates)\n", path.c_str(),
                  entry["trained_on_rounds"].dump().c_str(), entry["training_updates"].get<int>());
      std::printf("  %-16s %-8s %6s %6s %8s %8s %8s %6s %6s\n", "attack", "mode", "mal", "ben",
                  "raw", "round", "combined", "tpr", "fpr");
      for (const char* mode : {"refresh", "frozen"}) {
        for (const auto& [attack, m] : entry[mode].items()) {
          if (attack[0] == '_') continue;
          std::printf("  %-16s %-8s %6d %6d %8.4f %8.4f %8.4f %6.3f %6.3f\n", attack.c_str(), mode,
                      m["malicious"].get<int>(), m["benign"].get<int>(), m["auroc_raw"].get<double>(),
                      m["auroc_round"].get<double>(), m["auroc_combined"].get<double>(),
                      m["tpr_rule"].get<double>(), m["fpr_rule"].get<double>());
        }
        std::printf("  %-16s %-8s benign flagged after training: %.3f\n", "", mode,
                    entry[mode]["_benign_flag_rate_after_training"].get<double>());
      }
    }
  }
  if (o.json) std::printf("%s\n", all.dump(2).c_str());
  return 0;
}
