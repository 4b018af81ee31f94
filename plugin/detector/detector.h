// detector.h — the learned detector inside the plugin: embeds each update of
// a round (feature_extractor.h), scores all of them in one batched forward
// pass of the autoencoder, measures each update's cosine with its client's
// own reference direction (client_references.h), and keeps learning from
// what the policy kept cleanly (continual refresh):
//   * outside the trusted warm-up it learns exactly the updates the engine
//     passes as clean: kept without any flag (never quarantined, clipped,
//     down-weighted, restored or flagged ones). An honest client with
//     unusual data is learned like any other, so it does not drift away
//     from what the detector knows (an earlier rule learned only updates
//     near the round's median, and with every client in every round the
//     ones it left out ended up quarantined);
//   * a round whose median score is more than kRoundGate (2) times the
//     median score the window's rows had when they were learned teaches
//     nothing, neither rows nor references: when attackers are most of a
//     round its median is theirs, and it must not become "normal". The
//     window still ages, so a lasting shift is learned after window_rounds;
//   * at most refresh.max_client_share of a refresh's rows from one client,
//   * a window of the last refresh.window_rounds rounds,
//   * refresh.enabled = false freezes the detector (audited weights);
//   * the first refresh.warmup_rounds rounds are trusted: every well-formed
//     update of them is learned from.
// The refreshed weights, the window and the client references are part of
// SaveState, so a restarted server or a replay continues exactly where it
// left off.
//
// Threading: not thread-safe; the engine calls it from one thread per round.
// Scores and refreshes are the same bits on every x86-64 CPU and for every
// `threads` (autoencoder.h).
#ifndef FLSENTRY_DETECTOR_DETECTOR_H_
#define FLSENTRY_DETECTOR_DETECTOR_H_

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "detector/client_references.h"
#include "detector/detector_config.h"
#include "detector/detector_file.h"
#include "features/round_input.h"
#include "features/scoring.h"

namespace flsentry {

class Autoencoder;

// What LearnFromRound did.
struct LearnReport {
  size_t rows_learned = 0;  // rows added to the window (and references)
  bool gated = false;       // the round gate held the round back
  std::string note;         // why, when gated; "" otherwise
};

// The saved-state document's "format".
inline constexpr std::string_view kDetectorStateFormat =
    "flsentry-detector-state/1";

class Detector {
 public:
  ~Detector();
  Detector(const Detector&) = delete;
  Detector& operator=(const Detector&) = delete;

  // path: detector directory (detector_file.h). Errors name the path and
  // what is wrong (missing, corrupt, weights not matching the architecture).
  static Result<std::unique_ptr<Detector>> Load(const std::string& path,
                                                const DetectorConfig& config);

  // A detector built from a round (config.bootstrap, detector_config.h):
  // the layout is the floating tensors of the round's global model, else of
  // its first eligible update; the autoencoder is freshly initialised from
  // config.seed. No calibration. Errors: kInvalidArgument when `eligible` is
  // empty or nothing can be selected.
  // REQUIRES: config.bootstrap.enabled; every index in `eligible` <
  // round.updates.size().
  static Result<std::unique_ptr<Detector>> Bootstrap(
      const RoundInput& round, std::span<const size_t> eligible,
      const DetectorConfig& config);

  // A bootstrapped detector restored from SaveState's output (which holds
  // its metadata). Errors: kState naming what is wrong.
  static Result<std::unique_ptr<Detector>> FromBootstrapState(
      const nlohmann::json& state, const DetectorConfig& config);

  // A deep copy: weights, window, counters and the scores of the round last
  // scored, so that a round can learn on the copy and keep this detector
  // until the round commits. Errors: kInternal when the weights cannot be
  // rebuilt (a bug).
  Result<std::unique_ptr<Detector>> Clone() const;

  // Ok when the round's model layout (its global model, else its first
  // eligible update) is the one this detector embeds; otherwise
  // kInvalidArgument naming both layouts (what ScoreRound fails with).
  // REQUIRES: every index in `eligible` < round.updates.size().
  Status CheckLayout(const RoundInput& round,
                     std::span<const size_t> eligible) const;

  // Embeds every update whose index is in `eligible` and scores them in one
  // batched forward pass (InferenceMode, config.threads). Returns one
  // UpdateScore per round.updates entry (NaN fields for the others). An
  // eligible update that cannot be embedded (missing tensor, all zeros,
  // non-finite values) gets `error` set and scored = false. Fails
  // (kInvalidArgument) when the round's layout (its global model, else its
  // first eligible update) does not match the layout recorded in the
  // detector. Caches the round's embeddings for LearnFromRound.
  // REQUIRES: every index in `eligible` < round.updates.size().
  Result<std::vector<UpdateScore>> ScoreRound(const RoundInput& round,
                                              std::span<const size_t> eligible);

  // After the policy decided the round last scored: adds the clean updates
  // (indices into that round, client ids alongside; kept without any flag)
  // to the refresh window, makes them their clients' references and
  // fine-tunes per config.refresh — unless the round gate holds the round
  // back (report.gated, with a note saying why). During warm-up every
  // embedded update of the round is learned from. Nothing is learned when
  // refresh is disabled. Errors: kInvalidArgument when `round` is not the
  // round last scored, the spans differ in length or an index is out of
  // range; the autoencoder's on a failed fine-tune.
  Result<LearnReport> LearnFromRound(uint64_t round,
                                     std::span<const size_t> clean,
                                     std::span<const std::string> client_ids);

  const Calibration& calibration() const;
  const DetectorMetadata& metadata() const;
  // Rounds learned from so far (LearnFromRound calls that ran).
  uint64_t rounds_learned() const;
  // True while the next round is one of the refresh.warmup_rounds trusted
  // rounds: its scores are not to be judged (the engine judges norms then).
  bool in_warmup() const;
  bool bootstrapped() const { return bootstrapped_; }

  // Weights + window + counters, deterministic (same state -> same JSON).
  nlohmann::json SaveState() const;
  // Restores SaveState's output. Errors: kState naming what is wrong (other
  // format, weights of another architecture, window of another dimension).
  // On error the detector is unchanged.
  Status LoadState(const nlohmann::json& state);

 private:
  struct WindowRow {
    uint64_t round = 0;
    std::string client;
    std::vector<float> embedding;
    double score = NAN;  // its score when learned; NaN for warm-up rows
  };
  Detector();
  // Fine-tunes for `epochs` passes over the window (after dropping rows
  // older than refresh.window_rounds).
  Status Refresh(uint64_t round, int epochs);
  // "" when the round last scored may teach; else why not (kRoundGate).
  std::string RoundGateNote(uint64_t round) const;
  // Drops window rows older than refresh.window_rounds distinct rounds.
  void AgeWindow();
  // Builds features_ from metadata_ and a fresh or given network.
  Status Init(std::unique_ptr<Autoencoder> net, const std::string& context);

  bool bootstrapped_ = false;
  DetectorConfig config_;
  DetectorMetadata metadata_;
  std::unique_ptr<Autoencoder> net_;
  std::unique_ptr<FeatureExtractor> features_;
  std::vector<WindowRow> window_;
  ClientReferences references_{0};
  uint64_t rounds_learned_ = 0;
  // The round last scored: its number, and per update index the embedding
  // (empty when not embedded).
  bool have_last_ = false;
  uint64_t last_round_ = 0;
  std::vector<std::vector<float>> last_embeddings_;
  std::vector<double> last_scores_;  // NaN when not scored
  std::vector<std::string> last_clients_;
};

}  // namespace flsentry

#endif  // FLSENTRY_DETECTOR_DETECTOR_H_
