// round_intake.h — a round as the engine takes it in, one update at a time:
// what it keeps of each update once the update's bytes may be gone (its
// identity, its tensors' names and shapes, one pass of measurements: the
// detector's embedding, or the norm when nothing embeds it), and the
// detectors that embed them. Both ways of giving a round (all at once, and
// on arrival: filter_engine.h) go through it, so both decide from the same
// values.
//
// Which detector embeds an update is settled when the update arrives, by
// its layout: the engine's detector when the layout is the one it embeds;
// otherwise, where the engine may bootstrap one (no detector, or a
// bootstrapped one meeting a new model; not for a retry), a detector
// bootstrapped from the first update of that layout (or the round's global
// model), so that whichever layout the round turns out to be trained on
// (the global model's, or the majority's: layout_check.h), its updates were
// embedded by the detector the round is then scored with. At most
// kMaxBootstrapLayouts layouts get one; an update of a further layout is
// measured by norm only (a round of many layouts is malformed anyway).
//
// Memory: per update O(embedding_dim + its number of tensors), never its
// bytes. Threading: not thread-safe; Measure may run concurrently for
// different updates once Describe has run for all of them.
#ifndef FLSENTRY_ENGINE_ROUND_INTAKE_H_
#define FLSENTRY_ENGINE_ROUND_INTAKE_H_

#include <cstdint>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "detector/detector.h"
#include "features/layout_check.h"
#include "features/round_input.h"
#include "features/update_stats.h"

namespace flsentry {

using TensorNames = std::set<std::string, std::less<>>;

// The names of the tensors `detector` embeds.
TensorNames DetectorTensors(const Detector& detector);

// Most layouts of one round that get a bootstrapped detector each.
inline constexpr size_t kMaxBootstrapLayouts = 4;

// What the engine keeps of one update.
struct UpdateDigest {
  std::string client_id;
  uint64_t num_examples = 0;
  UpdateKind kind = UpdateKind::kDelta;
  std::string invalid_reason;       // UpdateInput's
  std::vector<TensorMeta> tensors;  // in the host's order
  std::string layout;               // LayoutSignature(tensors)
  // Index into RoundIntake::embedders(); -1 for an update not to be
  // measured (invalid, full weights without a global model, or not the
  // global model's layout), which the guards drop.
  int embedder = -1;
  // Set when its embedder has a detector (`embedded`): the embedding (row:
  // embedding_dim floats, until TakeRows) and the norm and non-finite count
  // of the floating tensors the detector does not read.
  bool embedded = false;
  Result<UpdateFeatures> features = InternalError("not embedded");
  std::vector<float> row;
  UpdateStats outside;
  // Set when its embedder has no detector: every floating tensor's norm and
  // non-finite count (what is judged without a detector).
  UpdateStats stats;
};

// A detector that embeds the round's updates of one layout.
struct Embedder {
  std::string layout;                  // the full layout signature it serves
  const Detector* detector = nullptr;  // null: none could be had
  std::unique_ptr<Detector> bootstrapped;  // owns `detector` when built here
  TensorNames tensors;                     // DetectorTensors(*detector)
  // Why the engine's detector does not embed this layout ("" when it does
  // or there is none), and why bootstrapping failed ("" when not tried or
  // it worked).
  std::string layout_error;
  std::string bootstrap_error;
};

// When an intake may bootstrap detectors for layouts the engine's detector
// does not embed.
struct IntakeRules {
  bool bootstrap = false;  // detector.bootstrap.enabled, and not a retry
  const DetectorConfig* config = nullptr;  // REQUIRED when bootstrap
};

class RoundIntake {
 public:
  // global: the round's global model (may be empty). OWNERSHIP: borrowed
  // until the intake is destroyed; the caller keeps the bytes alive and
  // unchanged. engine_detector: may be null; borrowed likewise and not
  // changed meanwhile.
  RoundIntake(uint64_t round, std::vector<TensorView> global,
              const Detector* engine_detector, IntakeRules rules);

  // Both parts of taking an update, in order (Add does both). Describe
  // records its identity and layout and picks (or bootstraps) its
  // embedder; Measure makes the one pass over its bytes. OWNERSHIP:
  // `update` is read during the call only. Describe returns the update's
  // index. Measure REQUIRES: `index` from Describe of this `update`.
  size_t Describe(const UpdateInput& update);
  void Measure(size_t index, const UpdateInput& update);
  void Add(const UpdateInput& update) { Measure(Describe(update), update); }
  // Every update of `updates`, measured on up to `threads` threads.
  void AddAll(std::span<const UpdateInput> updates, int threads);

  uint64_t round() const { return round_; }
  const std::vector<TensorMeta>& global() const { return global_meta_; }
  bool has_global() const { return !global_.empty(); }
  const std::vector<UpdateDigest>& updates() const { return updates_; }
  // The rows of updates[indices[r]] as one (indices.size() x dim, row-major)
  // block; zeros for an update without a row of `dim` floats. Each copied
  // row is released from its digest (row empty afterwards), so that the
  // round's embeddings are held once, not twice. REQUIRES: every index <
  // updates().size().
  std::vector<float> TakeRows(std::span<const size_t> indices, size_t dim);
  // The features of updates[indices[r]], in that order; each one's column
  // energies are moved out of its digest (column_energy empty afterwards;
  // the norm and non-finite count stay). REQUIRES: every index <
  // updates().size().
  std::vector<Result<UpdateFeatures>> TakeFeatures(
      std::span<const size_t> indices);
  const std::vector<Embedder>& embedders() const { return embedders_; }
  // The embedder of `layout`; null when none was set up for it.
  Embedder* FindEmbedder(const std::string& layout);

 private:
  int EmbedderFor(const std::string& layout,
                  std::span<const TensorView> reference);

  uint64_t round_;
  std::vector<TensorView> global_;
  std::vector<TensorMeta> global_meta_;
  std::string global_layout_;
  const Detector* engine_detector_;
  IntakeRules rules_;
  size_t bootstrapped_count_ = 0;
  std::vector<Embedder> embedders_;
  std::vector<UpdateDigest> updates_;
};

}  // namespace flsentry

#endif  // FLSENTRY_ENGINE_ROUND_INTAKE_H_
