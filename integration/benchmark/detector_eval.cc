// flsentry-detector-eval — the detector's quality on recorded runs (issue 5,
// "Done when"). For each labelled round archive (e.g. recorded by
// `flsentry simulate --record`, integration/benchmark/eval/run.sh):
//   1. trains a detector on the benign updates of the rounds before the
//      first malicious one (or --train-rounds),
//   2. replays every round through Detector::ScoreRound and the policy of
//      --policy (default configs/default.yaml; its thresholds, guards and
//      quarantine, and its detector.refresh settings), with continual refresh
//      and without (frozen). As in the plugin (filter_engine.cc), refresh
//      learns from the updates the policy did not drop,
//   3. reports, per attack, the ROC AUC separating its updates from the
//      benign updates of the same rounds, for these statistics:
//        raw      the autoencoder score (the update's direction),
//        central  UpdateScore::centrality: cosine with the others' mean,
//        policy   Decision::suspicion, what the policy judges: the largest of
//                 score / round threshold, norm / norm-guard limit,
//                 similarity / duplicate limit, typicality / centrality
//                 limit; the policy flags an update when it exceeds 1,
//      plus the policy's true- and false-positive rates (an update counts
//      as flagged when it was not accepted with weight 1).
// Output: a table; --json prints one JSON object; --dump writes one JSON line
// per scored update.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "archive/round_archive.h"
#include "detector/detector.h"
#include "detector/detector_train.h"
#include "policy/policy.h"
#include "policy/policy_config.h"
#include "tensor/tensor_file.h"

namespace {

using namespace flsentry;

// Mann-Whitney AUC: P(positive > negative), ties count one half.
double Auroc(const std::vector<double>& pos, const std::vector<double>& neg) {
  if (pos.empty() || neg.empty()) return NAN;
  double wins = 0;
  for (double p : pos)
    for (double n : neg) wins += p > n ? 1.0 : (p == n ? 0.5 : 0.0);
  return wins /
         (static_cast<double>(pos.size()) * static_cast<double>(neg.size()));
}

struct Options {
  std::vector<std::string> archives;
  std::string policy = FLSENTRY_DEFAULT_POLICY;  // the source tree's
  int train_rounds = 0;  // 0: rounds before the first malicious client
  int64_t sketch_dim = 1024;
  int epochs = -1;  // refresh epochs; -1: the policy's
  int window = -1;  // refresh window; -1: the policy's
  int threads = 1;
  // MODE.STATISTIC.ATTACK=MIN: exit 3 when that AUROC is below MIN.
  std::vector<std::string> min_auroc;
  bool json = false;
  std::string dump;  // per-update rows as JSON lines, for inspection
};

struct Scored {
  uint64_t round;
  std::string client;
  bool malicious;
  std::string attack;
  double raw;          // autoencoder score; +inf when not scored
  double central;      // UpdateScore::centrality; -2 when not computed
  double policy;       // Decision::suspicion; +inf when not judged
  std::string reason;  // the policy's
  bool flagged;        // not accepted with weight 1
};

Result<PolicyConfig> LoadPolicy(const std::string& path) {
  std::ifstream in(path);
  if (!in) return IoError("cannot read the policy " + path);
  std::stringstream text;
  text << in.rdbuf();
  FLS_ASSIGN_OR_RETURN(PolicyConfig config, ParsePolicyYaml(text.str()));
  return config;
}

Result<std::vector<Scored>> Replay(const RoundArchive& archive,
                                   const std::string& detector_dir,
                                   bool refresh,
                                   const PolicyConfig& policy_config,
                                   const Options& o) {
  DetectorConfig config = policy_config.detector;
  config.path = detector_dir;
  config.bootstrap.enabled = false;
  config.refresh.enabled = refresh;
  if (o.epochs >= 0) config.refresh.epochs = o.epochs;
  if (o.window > 0) config.refresh.window_rounds = o.window;
  config.threads = o.threads;
  FLS_ASSIGN_OR_RETURN(std::unique_ptr<Detector> det,
                       Detector::Load(detector_dir, config));
  Policy policy(policy_config);
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
      u.kind = r.kind == ArchiveKind::kWeights ? UpdateKind::kWeights
                                               : UpdateKind::kDelta;
      u.tensors = sets[i].Views();
      round.updates.push_back(std::move(u));
      eligible.push_back(i);
    }
    FLS_ASSIGN_OR_RETURN(std::vector<UpdateScore> scores,
                         det->ScoreRound(round, eligible));
    std::vector<PolicyInput> inputs;
    for (size_t i = 0; i < scores.size(); ++i) {
      inputs.push_back(
          {r.clients[i].id, r.clients[i].num_examples, scores[i], 0, ""});
    }
    FLS_ASSIGN_OR_RETURN(
        RoundOutcome outcome,
        policy.DecideRound(r.number, inputs, &det->calibration()));
    std::vector<size_t> accepted;
    std::vector<std::string> ids;
    for (size_t i = 0; i < scores.size(); ++i) {
      const Decision& d = outcome.decisions[i];
      const double central = scores[i].centrality;
      out.push_back(
          {r.number, r.clients[i].id,
           r.clients[i].label == ArchiveLabel::kMalicious, r.clients[i].attack,
           scores[i].scored ? scores[i].score : INFINITY,
           std::isfinite(central) ? central : -2.0,
           std::isfinite(d.suspicion) ? d.suspicion : INFINITY, d.reason,
           !(d.action == Action::kAccept && d.weight == 1.0)});
      // What the plugin learns from (filter_engine.cc, step 4).
      if (KeptClean(d) && scores[i].scored) {
        accepted.push_back(i);
        ids.push_back(r.clients[i].id);
      }
    }
    FLS_ASSIGN_OR_RETURN(LearnReport learned,
                         det->LearnFromRound(r.number, accepted, ids));
    (void)learned;
  }
  return out;
}

nlohmann::ordered_json Evaluate(const std::vector<Scored>& rows,
                                uint64_t first_scored_round) {
  std::map<std::string, std::vector<const Scored*>> by_attack;
  for (const Scored& s : rows)
    if (s.malicious)
      by_attack[s.attack.empty() ? "malicious" : s.attack].push_back(&s);
  nlohmann::ordered_json result = nlohmann::ordered_json::object();
  for (const auto& [attack, mal] : by_attack) {
    std::map<uint64_t, bool> rounds;
    for (const Scored* s : mal) rounds[s->round] = true;
    std::vector<double> pr, pc, pp, nr, nc, np;
    int mal_flagged = 0;
    for (const Scored* s : mal) {
      pr.push_back(s->raw);
      pc.push_back(s->central);
      pp.push_back(s->policy);
      mal_flagged += s->flagged;
    }
    int benign = 0, benign_flagged = 0;
    for (const Scored& s : rows) {
      if (s.malicious || !rounds.count(s.round)) continue;
      nr.push_back(s.raw);
      nc.push_back(s.central);
      np.push_back(s.policy);
      ++benign;
      benign_flagged += s.flagged;
    }
    result[attack] = {
        {"malicious", mal.size()},
        {"benign", benign},
        {"auroc_raw", Auroc(pr, nr)},
        {"auroc_central", Auroc(pc, nc)},
        {"auroc_policy", Auroc(pp, np)},
        {"tpr", static_cast<double>(mal_flagged) / mal.size()},
        {"fpr", benign ? static_cast<double>(benign_flagged) / benign : NAN}};
  }
  // Benign updates the policy flagged over all rounds after training.
  int b = 0, bf = 0;
  for (const Scored& s : rows) {
    if (s.malicious || s.round < first_scored_round) continue;
    ++b;
    bf += s.flagged;
  }
  result["_benign_flagged_after_training"] =
      b ? static_cast<double>(bf) / b : NAN;
  return result;
}

nlohmann::json NumberOrNull(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json();
}

void Dump(const std::string& file, const std::string& archive, bool refresh,
          const std::vector<Scored>& rows) {
  FILE* f = std::fopen(file.c_str(), "a");
  if (!f) {
    std::fprintf(stderr,
                 "flsentry-detector-eval: warning: cannot append to %s\n",
                 file.c_str());
    return;
  }
  for (const Scored& s : rows) {
    nlohmann::json j = {{"archive", archive},
                        {"mode", refresh ? "refresh" : "frozen"},
                        {"round", s.round},
                        {"client", s.client},
                        {"malicious", s.malicious},
                        {"attack", s.attack},
                        {"raw", NumberOrNull(s.raw)},
                        {"central", s.central >= -1 ? nlohmann::json(s.central)
                                                    : nlohmann::json()},
                        {"policy", NumberOrNull(s.policy)},
                        {"reason", s.reason},
                        {"flagged", s.flagged}};
    std::fprintf(f, "%s\n", j.dump().c_str());
  }
  std::fclose(f);
}

void PrintTable(const std::string& path, const nlohmann::ordered_json& entry) {
  std::printf("%s (trained on rounds %s, %d updates)\n", path.c_str(),
              entry["trained_on_rounds"].dump().c_str(),
              entry["training_updates"].get<int>());
  std::printf("  %-16s %-8s %4s %4s %8s %8s %8s %6s %6s\n", "attack", "mode",
              "mal", "ben", "raw", "central", "policy", "tpr", "fpr");
  for (const char* mode : {"refresh", "frozen"}) {
    for (const auto& [attack, m] : entry[mode].items()) {
      if (attack[0] == '_') continue;
      std::printf("  %-16s %-8s %4d %4d %8.4f %8.4f %8.4f %6.3f %6.3f\n",
                  attack.c_str(), mode, m["malicious"].get<int>(),
                  m["benign"].get<int>(), m["auroc_raw"].get<double>(),
                  m["auroc_central"].get<double>(),
                  m["auroc_policy"].get<double>(), m["tpr"].get<double>(),
                  m["fpr"].get<double>());
    }
    std::printf("  %-16s %-8s benign flagged after training: %.3f\n", "", mode,
                entry[mode]["_benign_flagged_after_training"].get<double>());
  }
}

// Checks every MODE.STATISTIC.ATTACK=MIN against every archive holding that
// attack. Returns 0 when all hold, 2 on a malformed or unmatched check, 3 when
// an AUROC is below its minimum (each failure printed to stderr).
int CheckMinimums(const nlohmann::ordered_json& all,
                  const std::vector<std::string>& checks) {
  int rc = 0;
  for (const std::string& check : checks) {
    const size_t eq = check.find('=');
    const size_t d1 = check.find('.');
    const size_t d2 = d1 == std::string::npos ? d1 : check.find('.', d1 + 1);
    double min = NAN;
    try {
      if (eq != std::string::npos) min = std::stod(check.substr(eq + 1));
    } catch (const std::exception&) {
    }
    if (eq == std::string::npos || d2 == std::string::npos || d2 > eq ||
        !std::isfinite(min)) {
      std::fprintf(stderr,
                   "flsentry-detector-eval: error: --min-auroc %s: expected "
                   "MODE.STATISTIC.ATTACK=MIN\n",
                   check.c_str());
      return 2;
    }
    const std::string mode = check.substr(0, d1);
    const std::string key = "auroc_" + check.substr(d1 + 1, d2 - d1 - 1);
    const std::string attack = check.substr(d2 + 1, eq - d2 - 1);
    bool found = false;
    for (const auto& [path, entry] : all.items()) {
      if (!entry.contains(mode) || !entry[mode].contains(attack)) continue;
      const auto& m = entry[mode][attack];
      if (!m.contains(key)) break;
      found = true;
      const double got = m[key].is_number() ? m[key].get<double>() : NAN;
      if (!(got >= min)) {
        std::fprintf(
            stderr, "flsentry-detector-eval: %s: %s AUROC %.4f < %.4f (%s)\n",
            check.substr(0, eq).c_str(), path.c_str(), got, min, mode.c_str());
        rc = 3;
      }
    }
    if (!found) {
      std::fprintf(
          stderr,
          "flsentry-detector-eval: error: --min-auroc %s matches no result\n",
          check.c_str());
      return 2;
    }
  }
  return rc;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "flsentry-detector-eval: error: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{
      "flsentry-detector-eval: per-attack ROC AUC of the detector on recorded "
      "runs"};
  app.add_option("ARCHIVE", o.archives, "labelled round archives")->required();
  app.add_option("--train-rounds", o.train_rounds,
                 "train on rounds 1..N (default: before the first attack)");
  app.add_option("--sketch-dim", o.sketch_dim, "k")
      ->check(CLI::Range(64, 65536));
  app.add_option("--policy", o.policy,
                 "policy YAML whose thresholds, guards, quarantine and "
                 "refresh settings judge the rounds (its detector path and "
                 "bootstrap are ignored)");
  app.add_option("--epochs", o.epochs,
                 "refresh epochs per round (default: the policy's)")
      ->check(CLI::Range(0, 1000));
  app.add_option("--window", o.window,
                 "refresh window in rounds (default: the policy's)")
      ->check(CLI::Range(1, 1000));
  app.add_option("--threads", o.threads, "LibTorch threads")
      ->check(CLI::Range(1, 256));
  app.add_option("--min-auroc", o.min_auroc,
                 "MODE.STATISTIC.ATTACK=MIN, e.g. refresh.policy.alie=0.95: "
                 "exit 3 below MIN");
  app.add_flag("--json", o.json, "print JSON");
  app.add_option("--dump", o.dump,
                 "append per-update rows (JSON lines) to this file");
  CLI11_PARSE(app, argc, argv);
  auto policy_config = LoadPolicy(o.policy);
  if (!policy_config.ok())
    return Fail(o.policy + ": " + policy_config.status().message());
  nlohmann::ordered_json all = nlohmann::ordered_json::object();
  for (const std::string& path : o.archives) {
    auto archive = OpenRoundArchive(path);
    if (!archive.ok()) return Fail(archive.status().message());
    uint64_t first_attack = UINT64_MAX;
    for (const auto& r : archive->rounds)
      for (const auto& c : r.clients)
        if (c.label == ArchiveLabel::kMalicious)
          first_attack = std::min(first_attack, r.number);
    DetectorTrainConfig train;
    train.features.sketch_dim = o.sketch_dim;
    train.train.threads = o.threads;
    train.last_round =
        o.train_rounds > 0
            ? static_cast<uint64_t>(o.train_rounds)
            : (first_attack == UINT64_MAX ? UINT64_MAX : first_attack - 1);
    if (train.last_round == 0)
      return Fail(path + ": attacks start in round 1; pass --train-rounds");
    char pattern[] = "/tmp/flsentry_eval_XXXXXX";
    if (!mkdtemp(pattern)) return Fail("cannot create a temporary directory");
    const std::string det_dir = std::string(pattern) + "/detector";
    auto summary = TrainDetector(path, train, det_dir, false);
    if (!summary.ok()) {
      std::filesystem::remove_all(pattern);
      return Fail(summary.status().message());
    }
    nlohmann::ordered_json entry = {
        {"trained_on_rounds", (*summary)["rounds"]},
        {"training_updates", (*summary)["updates_used"]}};
    for (bool refresh : {true, false}) {
      auto rows = Replay(*archive, det_dir, refresh, *policy_config, o);
      if (!rows.ok()) {
        std::filesystem::remove_all(pattern);
        return Fail(rows.status().message());
      }
      entry[refresh ? "refresh" : "frozen"] =
          Evaluate(*rows, train.last_round + 1);
      if (!o.dump.empty()) Dump(o.dump, path, refresh, *rows);
    }
    std::filesystem::remove_all(pattern);
    if (!o.json) PrintTable(path, entry);
    all[path] = std::move(entry);
  }
  if (o.json) std::printf("%s\n", all.dump(2).c_str());
  return CheckMinimums(all, o.min_auroc);
}
