#include "engine/round_intake.h"

#include <algorithm>
#include <exception>

#include "base/parallel.h"

namespace flsentry {
namespace {

// Norm and non-finite count of the floating tensors the detector does not
// read (its layer selection left them out): the host averages them all the
// same.
UpdateStats StatsOutside(const UpdateInput& update,
                         const std::vector<TensorView>& global,
                         const TensorNames& selected) {
  UpdateInput rest;
  rest.kind = update.kind;
  for (const TensorView& t : update.tensors) {
    if (IsFloating(t.dtype) && !selected.count(t.name))
      rest.tensors.push_back(t);
  }
  if (rest.tensors.empty()) return UpdateStats{};
  return ComputeUpdateStats(rest, global);
}

}  // namespace

TensorNames DetectorTensors(const Detector& detector) {
  TensorNames names;
  for (const auto& entry : detector.metadata().layout.tensors) {
    names.insert(entry.name);
  }
  return names;
}

RoundIntake::RoundIntake(uint64_t round, std::vector<TensorView> global,
                         const Detector* engine_detector, IntakeRules rules)
    : round_(round),
      global_(std::move(global)),
      global_meta_(MetasOf(global_)),
      global_layout_(global_.empty() ? "" : LayoutSignature(global_meta_)),
      engine_detector_(engine_detector),
      rules_(rules) {
  if (!global_.empty()) (void)EmbedderFor(global_layout_, global_);
}

Embedder* RoundIntake::FindEmbedder(const std::string& layout) {
  for (Embedder& e : embedders_) {
    if (e.layout == layout) return &e;
  }
  return nullptr;
}

// The embedder of `layout`, set up from `reference` (tensors of that
// layout) the first time the layout is seen; -1 when the layout is not
// one to embed (not the global model's).
int RoundIntake::EmbedderFor(const std::string& layout,
                             std::span<const TensorView> reference) {
  if (!global_.empty() && layout != global_layout_) return -1;
  for (size_t e = 0; e < embedders_.size(); ++e) {
    if (embedders_[e].layout == layout) return static_cast<int>(e);
  }
  Embedder embedder;
  embedder.layout = layout;
  if (engine_detector_) {
    Status fits = engine_detector_->CheckLayout(reference);
    if (fits.ok()) {
      embedder.detector = engine_detector_;
    } else {
      embedder.layout_error = fits.message();
    }
  }
  const bool may_bootstrap =
      rules_.bootstrap &&
      (!engine_detector_ || engine_detector_->bootstrapped());
  if (!embedder.detector && may_bootstrap) {
    if (bootstrapped_count_ >= kMaxBootstrapLayouts) {
      embedder.bootstrap_error = "more than " +
                                 std::to_string(kMaxBootstrapLayouts) +
                                 " model layouts in one round";
    } else {
      ++bootstrapped_count_;
      auto built = Detector::Bootstrap(round_, reference, *rules_.config);
      if (built.ok()) {
        embedder.bootstrapped = std::move(built).value();
        embedder.detector = embedder.bootstrapped.get();
      } else {
        embedder.bootstrap_error = built.status().message();
      }
    }
  }
  if (embedder.detector) embedder.tensors = DetectorTensors(*embedder.detector);
  embedders_.push_back(std::move(embedder));
  return static_cast<int>(embedders_.size() - 1);
}

size_t RoundIntake::Describe(const UpdateInput& update) {
  UpdateDigest digest;
  digest.client_id = update.client_id;
  digest.num_examples = update.num_examples;
  digest.kind = update.kind;
  digest.invalid_reason = update.invalid_reason;
  digest.tensors = MetasOf(update.tensors);
  digest.layout = LayoutSignature(digest.tensors);
  const bool usable = digest.invalid_reason.empty() &&
                      !(update.kind == UpdateKind::kWeights && global_.empty());
  if (usable) digest.embedder = EmbedderFor(digest.layout, update.tensors);
  updates_.push_back(std::move(digest));
  return updates_.size() - 1;
}

void RoundIntake::Measure(size_t index, const UpdateInput& update) {
  UpdateDigest& digest = updates_[index];
  if (digest.embedder < 0) return;  // not one to measure (Describe)
  const Embedder& embedder = embedders_[digest.embedder];
  try {
    if (embedder.detector) {
      const Detector& d = *embedder.detector;
      digest.embedded = true;
      digest.row.assign(static_cast<size_t>(d.embedding_dim()), 0.0f);
      digest.features = d.Embed(update, global_, digest.row);
      digest.outside = StatsOutside(update, global_, embedder.tensors);
    } else {
      digest.stats = ComputeUpdateStats(update, global_);
    }
  } catch (const std::exception& e) {
    digest.features =
        InternalError(std::string("measuring the update failed: ") + e.what());
  }
}

std::vector<float> RoundIntake::TakeRows(std::span<const size_t> indices,
                                         size_t dim) {
  std::vector<float> rows;
  rows.reserve(indices.size() * dim);
  for (const size_t i : indices) {
    std::vector<float>& row = updates_[i].row;
    if (row.size() == dim) {
      rows.insert(rows.end(), row.begin(), row.end());
    } else {
      rows.resize(rows.size() + dim, 0.0f);
    }
    std::vector<float>().swap(row);
  }
  return rows;
}

std::vector<Result<UpdateFeatures>> RoundIntake::TakeFeatures(
    std::span<const size_t> indices) {
  std::vector<Result<UpdateFeatures>> taken;
  taken.reserve(indices.size());
  for (const size_t i : indices) {
    Result<UpdateFeatures>& features = updates_[i].features;
    if (!features.ok()) {
      taken.push_back(features);
      continue;
    }
    std::vector<float> energy = std::move(features->column_energy);
    features->column_energy.clear();  // moved-from: make it empty
    taken.push_back(features);
    taken.back()->column_energy = std::move(energy);
  }
  return taken;
}

void RoundIntake::AddAll(std::span<const UpdateInput> updates, int threads) {
  const size_t first = updates_.size();
  for (const UpdateInput& u : updates) (void)Describe(u);
  (void)ParallelFor(updates.size(), std::max(1, threads),
                    [&](size_t i) { Measure(first + i, updates[i]); });
}

}  // namespace flsentry
