// flsentry-detector-eval — the detector's quality on recorded runs (issue 5,
// "Done when"). For each labelled round archive (e.g. recorded by
// `flsentry simulate --record`, integration/benchmark/eval/run.sh):
//   1. trains a detector on the benign updates of the rounds before the
//      first malicious one (or --train-rounds),
//   2. replays every round through Detector::ScoreRound, with continual
//      refresh and without (frozen). After each round the detector learns
//      (LearnFromRound) from the updates the default policy's score rule
//      accepts (configs/default.yaml: score <= median + 6 max(MAD, 5% of the
//      median) of the round's scores; the norm guard clips, it does not drop),
//   3. reports, per attack, the ROC AUC separating its updates from the
//      benign updates of the same rounds, for these statistics:
//        raw       the autoencoder score (direction),
//        score     the score over the round's score threshold (above),
//        policy    max(score statistic, norm / (3 x the round's median norm)):
//                  the default policy flags an update (drop or clip) exactly
//                  when this exceeds 1,
//        central   LeaveOneOutCentrality of the update's embedding
//                  (feature_extractor.h): cosine with the others' mean,
//        proposed  max(score / (ratio_k x round median score),
//                      norm / (norm_k x round median norm),
//                      central / centrality_max): the rule proposed for the
//                  policy (docs/detector.md); flags when it exceeds 1,
//      plus the true- and false-positive rates of the rule chosen by --rule
//      (current | proposed), which also decides what refresh learns from.
// Output: a table; --json prints one JSON object; --dump writes one JSON line
// per scored update.
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
#include "feature_extractor.h"
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
  int train_rounds = 0;  // 0: rounds before the first malicious client
  int64_t sketch_dim = 1024;
  int epochs = 3;
  int window = 3;
  int threads = 1;
  double score_k = 6.0;  // policy round_robust k (unscaled MADs)
  double min_relative_spread = 0.05;
  double norm_k = 3.0;   // policy norm guard: norm > norm_k x round median
  double ratio_k = 2.0;  // proposed: score > ratio_k x round median
  double centrality_max = 0.85;  // proposed: centrality above this
  std::string rule =
      "proposed";  // which rule accepts (refresh) and counts tpr/fpr
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
  double raw;         // autoencoder score; +inf when not scored
  double norm_ratio;  // norm / round median norm
  double score_stat;  // raw / (median + k spread) of the round
  double policy;      // max(score_stat, norm_ratio / norm_k)
  double central;     // leave-one-out centrality of the embedding
  double proposed;  // max(raw / (ratio_k median), norm_ratio / norm_k, central
                    // / max)
  bool dropped;  // by --rule's score part (not the norm guard), or not scored
  bool flagged;  // by --rule, norm guard included
};

// The default policy's round_robust threshold on `scores` (finite entries).
double ScoreThreshold(const std::vector<double>& scores, const Options& o) {
  std::vector<double> finite;
  for (double s : scores)
    if (std::isfinite(s)) finite.push_back(s);
  const double med = Median(finite);
  std::vector<double> dev;
  for (double s : finite) dev.push_back(std::fabs(s - med));
  const double spread =
      std::max(Median(dev), o.min_relative_spread * std::fabs(med));
  return med + o.score_k * spread;
}

Result<std::vector<Scored>> Replay(const RoundArchive& archive,
                                   const std::string& detector_dir,
                                   bool refresh, const Options& o) {
  DetectorConfig config;
  config.refresh.enabled = refresh;
  config.refresh.epochs = o.epochs;
  config.refresh.window_rounds = o.window;
  config.threads = o.threads;
  FLS_ASSIGN_OR_RETURN(std::unique_ptr<Detector> det,
                       Detector::Load(detector_dir, config));
  // The detector's own mapping, to measure centrality on the same embeddings.
  FLS_ASSIGN_OR_RETURN(FeatureExtractor fx,
                       FeatureExtractor::Create(det->metadata().features,
                                                det->metadata().layout));
  const bool proposed_rule = o.rule == "proposed";
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
    std::vector<double> raw, norms, finite_raw;
    std::vector<float> rows;
    std::vector<size_t> row_of(scores.size(), SIZE_MAX);
    for (size_t i = 0; i < scores.size(); ++i) {
      const UpdateScore& s = scores[i];
      raw.push_back(s.scored ? s.score : INFINITY);
      if (!s.scored) continue;
      norms.push_back(s.norm);
      finite_raw.push_back(s.score);
      row_of[i] = rows.size() / fx.dim();
      rows.resize(rows.size() + fx.dim());
      FLS_RETURN_IF_ERROR(
          fx.Embed(round.updates[i], round.global,
                   std::span<float>(rows.data() + rows.size() - fx.dim(),
                                    fx.dim()))
              .status());
    }
    const std::vector<double> central = LeaveOneOutCentrality(
        rows, static_cast<int64_t>(norms.size()), fx.dim());
    const double threshold = ScoreThreshold(raw, o);
    const double median_norm = Median(norms);
    const double median_raw = Median(finite_raw);
    std::vector<size_t> accepted;
    std::vector<std::string> ids;
    for (size_t i = 0; i < scores.size(); ++i) {
      Scored row{r.number,
                 r.clients[i].id,
                 r.clients[i].label == ArchiveLabel::kMalicious,
                 r.clients[i].attack,
                 raw[i],
                 INFINITY,
                 INFINITY,
                 INFINITY,
                 NAN,
                 INFINITY,
                 true,
                 true};
      if (scores[i].scored) {
        row.norm_ratio = scores[i].norm / median_norm;
        row.score_stat = threshold > 0 ? raw[i] / threshold : raw[i];
        row.policy = std::max(row.score_stat, row.norm_ratio / o.norm_k);
        row.central = central[row_of[i]];
        const double ratio =
            median_raw > 0 ? raw[i] / (o.ratio_k * median_raw) : raw[i];
        const double central_stat =
            std::isfinite(row.central) ? row.central / o.centrality_max : 0;
        row.proposed =
            std::max({ratio, row.norm_ratio / o.norm_k, central_stat});
        row.dropped = proposed_rule ? std::max(ratio, central_stat) > 1.0
                                    : row.score_stat > 1.0;
        row.flagged = (proposed_rule ? row.proposed : row.policy) > 1.0;
      }
      if (!row.dropped) {
        accepted.push_back(i);
        ids.push_back(r.clients[i].id);
      }
      out.push_back(std::move(row));
    }
    FLS_RETURN_IF_ERROR(det->LearnFromRound(r.number, accepted, ids));
  }
  return out;
}

nlohmann::ordered_json Evaluate(const std::vector<Scored>& rows,
                                uint64_t first_scored_round, const Options& o) {
  std::map<std::string, std::vector<const Scored*>> by_attack;
  for (const Scored& s : rows)
    if (s.malicious)
      by_attack[s.attack.empty() ? "malicious" : s.attack].push_back(&s);
  nlohmann::ordered_json result = nlohmann::ordered_json::object();
  auto flagged = [&](const Scored& s) { return s.flagged; };
  for (const auto& [attack, mal] : by_attack) {
    std::map<uint64_t, bool> rounds;
    for (const Scored* s : mal) rounds[s->round] = true;
    std::vector<double> pr, ps, pp, pc, pq, nr, ns, np, nc, nq;
    int mal_flagged = 0;
    for (const Scored* s : mal) {
      pr.push_back(s->raw);
      ps.push_back(s->score_stat);
      pp.push_back(s->policy);
      pc.push_back(std::isfinite(s->central) ? s->central : -2.0);
      pq.push_back(s->proposed);
      mal_flagged += flagged(*s);
    }
    int benign = 0, benign_flagged = 0;
    for (const Scored& s : rows) {
      if (s.malicious || !rounds.count(s.round)) continue;
      nr.push_back(s.raw);
      ns.push_back(s.score_stat);
      np.push_back(s.policy);
      nc.push_back(std::isfinite(s.central) ? s.central : -2.0);
      nq.push_back(s.proposed);
      ++benign;
      benign_flagged += flagged(s);
    }
    result[attack] = {
        {"malicious", mal.size()},
        {"benign", benign},
        {"auroc_raw", Auroc(pr, nr)},
        {"auroc_score", Auroc(ps, ns)},
        {"auroc_policy", Auroc(pp, np)},
        {"auroc_central", Auroc(pc, nc)},
        {"auroc_proposed", Auroc(pq, nq)},
        {"rule", o.rule},
        {"tpr", static_cast<double>(mal_flagged) / mal.size()},
        {"fpr", benign ? static_cast<double>(benign_flagged) / benign : NAN}};
  }
  // Benign updates the rule flagged over all rounds after training.
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
    nlohmann::json j = {
        {"archive", archive},
        {"mode", refresh ? "refresh" : "frozen"},
        {"round", s.round},
        {"client", s.client},
        {"malicious", s.malicious},
        {"attack", s.attack},
        {"raw",
         std::isfinite(s.raw) ? nlohmann::json(s.raw) : nlohmann::json()},
        {"norm_ratio", std::isfinite(s.norm_ratio)
                           ? nlohmann::json(s.norm_ratio)
                           : nlohmann::json()},
        {"score_stat", std::isfinite(s.score_stat)
                           ? nlohmann::json(s.score_stat)
                           : nlohmann::json()},
        {"central", std::isfinite(s.central) ? nlohmann::json(s.central)
                                             : nlohmann::json()},
        {"proposed", std::isfinite(s.proposed) ? nlohmann::json(s.proposed)
                                               : nlohmann::json()},
        {"dropped", s.dropped}};
    std::fprintf(f, "%s\n", j.dump().c_str());
  }
  std::fclose(f);
}

void PrintTable(const std::string& path, const nlohmann::ordered_json& entry,
                const Options& o) {
  std::printf(
      "%s (trained on rounds %s, %d updates; tpr/fpr and refresh: %s rule)\n",
      path.c_str(), entry["trained_on_rounds"].dump().c_str(),
      entry["training_updates"].get<int>(), o.rule.c_str());
  std::printf("  %-16s %-8s %4s %4s %8s %8s %8s %8s %8s %6s %6s\n", "attack",
              "mode", "mal", "ben", "raw", "score", "policy", "central",
              "proposed", "tpr", "fpr");
  for (const char* mode : {"refresh", "frozen"}) {
    for (const auto& [attack, m] : entry[mode].items()) {
      if (attack[0] == '_') continue;
      std::printf(
          "  %-16s %-8s %4d %4d %8.4f %8.4f %8.4f %8.4f %8.4f %6.3f %6.3f\n",
          attack.c_str(), mode, m["malicious"].get<int>(),
          m["benign"].get<int>(), m["auroc_raw"].get<double>(),
          m["auroc_score"].get<double>(), m["auroc_policy"].get<double>(),
          m["auroc_central"].get<double>(), m["auroc_proposed"].get<double>(),
          m["tpr"].get<double>(), m["fpr"].get<double>());
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
  app.add_option("--epochs", o.epochs, "refresh epochs per round")
      ->check(CLI::Range(0, 1000));
  app.add_option("--window", o.window, "refresh window in rounds")
      ->check(CLI::Range(1, 1000));
  app.add_option("--threads", o.threads, "LibTorch threads")
      ->check(CLI::Range(1, 256));
  app.add_option("--score-k", o.score_k,
                 "score rule: median + k max(MAD, 5% median)")
      ->check(CLI::PositiveNumber);
  app.add_option("--norm-k", o.norm_k,
                 "norm guard: k x the round's median norm")
      ->check(CLI::PositiveNumber);
  app.add_option("--ratio-k", o.ratio_k,
                 "proposed rule: score > k x the round's median score")
      ->check(CLI::PositiveNumber);
  app.add_option("--centrality-max", o.centrality_max,
                 "proposed rule: centrality above this is flagged")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--rule", o.rule,
                 "rule that accepts updates for refresh and gives tpr/fpr")
      ->check(CLI::IsMember({"current", "proposed"}));
  app.add_option("--min-auroc", o.min_auroc,
                 "MODE.STATISTIC.ATTACK=MIN, e.g. refresh.proposed.alie=0.95: "
                 "exit 3 below MIN");
  app.add_flag("--json", o.json, "print JSON");
  app.add_option("--dump", o.dump,
                 "append per-update rows (JSON lines) to this file");
  CLI11_PARSE(app, argc, argv);
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
      auto rows = Replay(*archive, det_dir, refresh, o);
      if (!rows.ok()) {
        std::filesystem::remove_all(pattern);
        return Fail(rows.status().message());
      }
      entry[refresh ? "refresh" : "frozen"] =
          Evaluate(*rows, train.last_round + 1, o);
      if (!o.dump.empty()) Dump(o.dump, path, refresh, *rows);
    }
    std::filesystem::remove_all(pattern);
    if (!o.json) PrintTable(path, entry, o);
    all[path] = std::move(entry);
  }
  if (o.json) std::printf("%s\n", all.dump(2).c_str());
  return CheckMinimums(all, o.min_auroc);
}
