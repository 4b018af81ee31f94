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
//   * a window of the last refresh.window_rounds rounds, at most
//     refresh.max_rows rows of each (evenly spaced over the round's clean
//     updates), of which a refresh trains on at most refresh.max_rows rows,
//     evenly spaced (its cost and the window's size are bounded whatever
//     the round's size),
//   * refresh.enabled = false freezes the detector (audited weights);
//   * the first refresh.warmup_rounds rounds are trusted: every well-formed
//     update of them is learned from.
// The refreshed weights, the window and the client references are part of
// SaveState, so a restarted server or a replay continues exactly where it
// left off.
//
// Learning a round has two parts: the bookkeeping (window, references,
// counters: cheap, LearnDeferred) and the fine-tune of the autoencoder on
// the window (the expensive part, RunPendingRefresh). LearnFromRound does
// both; the engine does the first before it commits the round and the
// second after it has returned the decisions, on a background thread
// (filter_engine.h). Between the two the detector has a pending refresh
// (refresh_pending()): SaveState records it ("pending_refresh": the round
// and its epochs) next to the window that already holds the round's rows and
// the weights from before the fine-tune, so a detector restored from that
// state redoes exactly the fine-tune that was due (it is deterministic), and
// decides the next round as if it had never stopped.
//
// Threading: not thread-safe; one thread at a time. RunPendingRefresh may
// run on another thread than the other calls, as long as nothing else calls
// the detector (const members included) until it has returned. Scores and
// refreshes are the same bits on every x86-64 CPU and for every `threads`
// (autoencoder.h).
#ifndef FLSENTRY_DETECTOR_DETECTOR_H_
#define FLSENTRY_DETECTOR_DETECTOR_H_

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "detector/client_references.h"
#include "detector/detector_config.h"
#include "detector/detector_file.h"
#include "features/feature_extractor.h"
#include "features/round_input.h"
#include "features/scoring.h"

namespace flsentry {

class Autoencoder;

// What LearnFromRound (or LearnDeferred) did.
struct LearnReport {
  // Rows added to the window (at most refresh.max_rows); every client
  // learned from has its reference renewed, kept in the window or not.
  size_t rows_learned = 0;
  bool gated = false;  // the round gate held the round back
  std::string note;    // why, when gated; "" otherwise
};

// A fine-tune that is due: of the round learned last, for `epochs` epochs
// over the window as it is (the seed derives from the round).
struct PendingRefresh {
  uint64_t round = 0;
  int epochs = 0;  // in [1, kMaxRefreshEpochs]
};
// The most epochs a saved pending refresh may ask for (the policy's largest
// refresh.warmup_epochs).
inline constexpr int64_t kMaxRefreshEpochs = 100000;

// What RunPendingRefresh did.
struct RefreshReport {
  bool ran = false;  // false: nothing was pending
  uint64_t round = 0;
  int epochs = 0;
  int64_t rows = 0;  // window rows trained on
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
  // The same from the layout reference alone (`reference`: the round's
  // global model, or an update of the round's layout), for a round whose
  // updates arrive one at a time. Errors: kInvalidArgument when nothing
  // can be selected.
  static Result<std::unique_ptr<Detector>> Bootstrap(
      uint64_t round, std::span<const TensorView> reference,
      const DetectorConfig& config);

  // A bootstrapped detector restored from SaveState's output (which holds
  // its metadata). Errors: kState naming what is wrong.
  static Result<std::unique_ptr<Detector>> FromBootstrapState(
      const nlohmann::json& state, const DetectorConfig& config);

  // A copy to learn a round on, keeping this detector until the round
  // commits: window, references, counters and the scores of the round last
  // scored are the copy's own; the network is shared (it is immutable: a
  // refresh replaces it in the detector it runs on, never in place), and so
  // are the window's embeddings. Errors: kInternal when the feature
  // extractor cannot be rebuilt (a bug).
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
  // detector, and kInternal while a refresh is pending (run it first).
  // Caches the round's embeddings for LearnFromRound.
  // REQUIRES: every index in `eligible` < round.updates.size().
  Result<std::vector<UpdateScore>> ScoreRound(const RoundInput& round,
                                              std::span<const size_t> eligible);

  // ScoreRound in its two parts, for a round given one update at a time
  // (filter_engine.h, "Rounds on arrival"); ScoreRound is CheckLayout,
  // Embed of every eligible update, then ScoreEmbedded.
  //
  // Ok when `reference` (a model's tensors) selects the layout this
  // detector embeds; else kInvalidArgument naming both layouts.
  Status CheckLayout(std::span<const TensorView> reference) const;
  // The length of an embedding (floats per row).
  int64_t embedding_dim() const;
  // Embeds one update into `out` (embedding_dim() floats; REQUIRES that
  // size), reading its tensors once in place (the profiled tensor twice
  // with DetectorConfig::column_energy); `global` is subtracted
  // from kWeights updates. Thread-safe: const, and may run concurrently on
  // different outputs. Errors: the update's (missing tensor, a shape that
  // is not the detector's), kInternal when embedding throws (e.g. out of
  // memory). Never throws.
  Result<UpdateFeatures> Embed(const UpdateInput& update,
                               std::span<const TensorView> global,
                               std::span<float> out) const;
  // Scores a round's embedded updates as ScoreRound does. client_ids: one
  // per update of the round (n = client_ids.size()); eligible: indices
  // into it; measured[r] and row r of `rows` (eligible.size() x
  // embedding_dim(), row-major) are Embed's result for update eligible[r].
  // `rows` is taken (the scored rows are compacted in it, not copied: at
  // 2^20 updates each copy would be 4 GB). Returns n UpdateScores. Errors:
  // kInvalidArgument for mismatched sizes or an index out of range,
  // kInternal while a refresh is pending.
  Result<std::vector<UpdateScore>> ScoreEmbedded(
      uint64_t round, std::span<const std::string> client_ids,
      std::span<const size_t> eligible,
      std::span<const Result<UpdateFeatures>> measured,
      std::vector<float> rows);

  // After the policy decided the round last scored: adds the clean updates
  // (indices into that round, client ids alongside; kept without any flag)
  // to the refresh window, makes them their clients' references and
  // fine-tunes per config.refresh — unless the round gate holds the round
  // back (report.gated, with a note saying why). During warm-up every
  // embedded update of the round is learned from. Nothing is learned when
  // refresh is disabled. Errors: kInvalidArgument when `round` is not the
  // round last scored, the spans differ in length or an index is out of
  // range; the autoencoder's on a failed fine-tune (the rows stay learned,
  // the weights stay as before it). Same as LearnDeferred, then
  // RunPendingRefresh.
  Result<LearnReport> LearnFromRound(uint64_t round,
                                     std::span<const size_t> clean,
                                     std::span<const std::string> client_ids);

  // After the policy decided the round last scored, before LearnDeferred:
  // the updates it dropped for a severe signal (indices into that round,
  // client ids alongside) become their clients' rejected directions, for
  // the clients without a reference (client_references.h). Done whether or
  // not refresh is enabled. Errors: kInvalidArgument when `round` is not
  // the round last scored, the spans differ in length or an index is out
  // of range; on error nothing changed.
  Status RememberRejected(uint64_t round, std::span<const size_t> rejected,
                          std::span<const std::string> client_ids);

  // After the policy decided the round last scored: the clients of the
  // updates it dropped pointing their rejected direction's way (policy.h
  // PointsRejectedWay; indices into that round, client ids alongside) have
  // that direction renewed, lapsed or not, as of
  // `round` (ClientReferences::Renew). Errors as RememberRejected's; on
  // error nothing changed.
  Status RenewRejected(uint64_t round, std::span<const size_t> repeated,
                       std::span<const std::string> client_ids);

  // LearnFromRound without the fine-tune: the rows, references, counters and
  // the window's ageing are done; the fine-tune, when one is due (refresh
  // enabled, the round not gated, a non-empty window and epochs > 0), is
  // left pending for RunPendingRefresh. Errors as LearnFromRound's argument
  // errors, and kInternal when a refresh is already pending (a caller's bug:
  // run it first); on error nothing changed.
  Result<LearnReport> LearnDeferred(uint64_t round,
                                    std::span<const size_t> clean,
                                    std::span<const std::string> client_ids);

  // Runs the pending fine-tune, if any, and clears the marker whatever the
  // outcome. Deterministic: the same weights, window, config and pending
  // round give the same bits on every CPU and thread count. On error
  // (diverged, out of memory...) the weights stay exactly as before it and
  // the error says why; the window keeps the round's rows. Does not throw.
  Result<RefreshReport> RunPendingRefresh();

  // The fine-tune LearnDeferred left due; nullopt when none.
  const std::optional<PendingRefresh>& pending_refresh() const {
    return pending_;
  }

  const Calibration& calibration() const;
  const DetectorMetadata& metadata() const;
  // Rounds learned from so far (LearnFromRound calls that ran).
  uint64_t rounds_learned() const;
  // True while the next round is one of the refresh.warmup_rounds trusted
  // rounds: its scores are not to be judged (the engine judges norms then).
  bool in_warmup() const;
  bool bootstrapped() const { return bootstrapped_; }

  // Weights + window + counters + the pending refresh, deterministic (same
  // state -> same JSON).
  nlohmann::json SaveState() const;
  // Restores SaveState's output, its pending refresh included (a state
  // without "pending_refresh", e.g. from an earlier version, has none).
  // Errors: kState naming what is wrong (other format, weights of another
  // architecture, window of another dimension, a malformed pending
  // refresh). On error the detector is unchanged.
  Status LoadState(const nlohmann::json& state);

 private:
  struct WindowRow {
    uint64_t round = 0;
    std::string client;
    SharedEmbedding embedding;  // never null
    double score = NAN;         // its score when learned; NaN for warm-up rows
  };
  Detector();
  // The window's rows a refresh trains on, newest first: at most
  // refresh.max_client_share of them from one client, then at most
  // refresh.max_rows, evenly spaced. Sets *rows.
  std::vector<float> RefreshRows(int64_t* rows) const;
  // A copy of the network (weights and activations).
  Result<std::unique_ptr<Autoencoder>> CopyNet() const;
  // "" when the round last scored may teach; else why not (kRoundGate).
  std::string RoundGateNote(uint64_t round) const;
  // kInvalidArgument (prefixed with `who`) unless `round` is the round last
  // scored, the spans have one length and every index is in that round.
  Status CheckRoundIndices(const char* who, uint64_t round,
                           std::span<const size_t> indices,
                           std::span<const std::string> client_ids) const;
  // Drops window rows older than refresh.window_rounds distinct rounds.
  void AgeWindow();
  // Builds features_ from metadata_ and a fresh or given network.
  Status Init(std::shared_ptr<const Autoencoder> net,
              const std::string& context);

  bool bootstrapped_ = false;
  DetectorConfig config_;
  DetectorMetadata metadata_;
  // Never changed in place: a refresh replaces it whole (RunPendingRefresh
  // fine-tunes a copy), so a Clone shares it instead of copying ~2.4 MB of
  // weights per round (4 ms at the shipped sizes).
  std::shared_ptr<const Autoencoder> net_;
  std::unique_ptr<FeatureExtractor> features_;
  std::vector<WindowRow> window_;
  ClientReferences references_{0};
  uint64_t rounds_learned_ = 0;
  std::optional<PendingRefresh> pending_;
  // The round last scored: its number, and per update index the embedding
  // (null when not embedded), shared with the window and the references
  // when learned.
  bool have_last_ = false;
  uint64_t last_round_ = 0;
  std::vector<SharedEmbedding> last_embeddings_;
  std::vector<double> last_scores_;  // NaN when not scored
  std::vector<std::string> last_clients_;
};

}  // namespace flsentry

#endif  // FLSENTRY_DETECTOR_DETECTOR_H_
