// Detector::SaveState and LoadState: the detector's part of the state file
// (detector.h; the format is documented in configs/README.md, "State file").
#include <algorithm>
#include <cmath>

#include "base/base64.h"
#include "detector/autoencoder.h"
#include "detector/detector.h"
#include "features/feature_extractor.h"

namespace flsentry {
namespace {

// The state's "pending_refresh" ({"round", "epochs"}); nullopt when absent
// (nothing pending, or a state written before refreshes were deferred).
Result<std::optional<PendingRefresh>> PendingFromJson(
    const nlohmann::json& state) {
  auto it = state.find("pending_refresh");
  if (it == state.end() || it->is_null())
    return std::optional<PendingRefresh>();
  if (!it->is_object() || !it->contains("round") ||
      !it->at("round").is_number_unsigned() || !it->contains("epochs") ||
      !it->at("epochs").is_number_integer() ||
      it->at("epochs").get<int64_t>() < 1 ||
      it->at("epochs").get<int64_t>() > kMaxRefreshEpochs) {
    return StateError(
        "detector state: malformed pending_refresh (expected {\"round\": "
        "N, \"epochs\": 1.." +
        std::to_string(kMaxRefreshEpochs) + "})");
  }
  return std::optional<PendingRefresh>(PendingRefresh{
      it->at("round").get<uint64_t>(), it->at("epochs").get<int>()});
}

}  // namespace

nlohmann::json Detector::SaveState() const {
  nlohmann::json weights = nlohmann::json::array();
  for (const WeightArray& w : net_->ExportWeights()) {
    weights.push_back({{"name", w.name},
                       {"shape", w.shape},
                       {"data", FloatsToBase64(w.data)}});
  }
  nlohmann::json window = nlohmann::json::array();
  for (const WindowRow& r : window_) {
    nlohmann::json row = {{"round", r.round},
                          {"client", r.client},
                          {"embedding", FloatsToBase64(*r.embedding)}};
    if (std::isfinite(r.score)) row["score"] = r.score;
    window.push_back(std::move(row));
  }
  nlohmann::json state = {{"format", kDetectorStateFormat},
                          {"layout_signature", metadata_.layout.signature},
                          {"rounds_learned", rounds_learned_},
                          {"weights", weights},
                          {"window", window},
                          {"references", references_.ToJson()}};
  if (bootstrapped_) state["metadata"] = DetectorMetadataToJson(metadata_);
  if (pending_) {
    state["pending_refresh"] = {{"round", pending_->round},
                                {"epochs", pending_->epochs}};
  }
  return state;
}

Status Detector::LoadState(const nlohmann::json& state) {
  if (!state.is_object() || state.value("format", "") != kDetectorStateFormat) {
    return StateError("detector state: expected format " +
                      std::string(kDetectorStateFormat));
  }
  if (state.value("layout_signature", "") != metadata_.layout.signature) {
    return StateError("detector state: saved for another model layout");
  }
  if (!state.contains("rounds_learned") ||
      !state.at("rounds_learned").is_number_unsigned() ||
      !state.contains("weights") || !state.at("weights").is_array() ||
      !state.contains("window") || !state.at("window").is_array()) {
    return StateError(
        "detector state: missing rounds_learned, weights or window");
  }
  std::vector<WeightArray> arrays;
  for (const auto& w : state.at("weights")) {
    if (!w.is_object() || !w.contains("name") || !w.at("name").is_string() ||
        !w.contains("shape") || !w.at("shape").is_array() ||
        w.at("shape").size() > 2 || !w.contains("data") ||
        !w.at("data").is_string()) {
      return StateError("detector state: malformed weight entry");
    }
    WeightArray a;
    a.name = w.at("name").get<std::string>();
    int64_t numel = 1;
    for (const auto& d : w.at("shape")) {
      if (!d.is_number_integer() || d.get<int64_t>() < 1 ||
          d.get<int64_t>() > (1 << 24)) {
        return StateError("detector state: bad shape of '" + a.name + "'");
      }
      a.shape.push_back(d.get<int64_t>());
      numel *= d.get<int64_t>();
    }
    if (numel > (int64_t{1} << 30))
      return StateError("detector state: '" + a.name + "' too large");
    FLS_ASSIGN_OR_RETURN(
        a.data, Base64ToFloats(w.at("data").get<std::string>(), numel));
    arrays.push_back(std::move(a));
  }
  std::vector<TensorView> views;
  for (const auto& a : arrays) views.push_back(a.view());
  auto net = Autoencoder::FromWeights(views, metadata_.activations);
  if (!net.ok()) return StateError("detector state: " + net.status().message());
  if ((*net)->layer_sizes() != metadata_.layer_sizes) {
    return StateError("detector state: weights of another architecture");
  }
  std::vector<WindowRow> window;
  const int64_t dim = features_->dim();
  for (const auto& r : state.at("window")) {
    if (!r.is_object() || !r.contains("round") ||
        !r.at("round").is_number_unsigned() || !r.contains("client") ||
        !r.at("client").is_string() || !r.contains("embedding") ||
        !r.at("embedding").is_string()) {
      return StateError("detector state: malformed window row");
    }
    WindowRow row;
    row.round = r.at("round").get<uint64_t>();
    row.client = r.at("client").get<std::string>();
    FLS_ASSIGN_OR_RETURN(
        std::vector<float> embedding,
        Base64ToFloats(r.at("embedding").get<std::string>(), dim));
    if (!std::all_of(embedding.begin(), embedding.end(),
                     [](float v) { return std::isfinite(v); })) {
      return StateError("detector state: window row with non-finite values");
    }
    row.embedding =
        std::make_shared<const std::vector<float>>(std::move(embedding));
    if (r.contains("score")) {
      if (!r.at("score").is_number())
        return StateError("detector state: malformed window row");
      row.score = r.at("score").get<double>();
    }
    window.push_back(std::move(row));
  }
  FLS_ASSIGN_OR_RETURN(std::optional<PendingRefresh> pending,
                       PendingFromJson(state));
  ClientReferences references(dim);
  auto saved_references = state.find("references");
  if (saved_references != state.end()) {  // absent in older states
    FLS_RETURN_IF_ERROR(references.FromJson(*saved_references));
  }
  net_ = std::move(net).value();
  window_ = std::move(window);
  references_ = std::move(references);
  rounds_learned_ = state.at("rounds_learned").get<uint64_t>();
  pending_ = pending;
  have_last_ = false;
  return Status::Ok();
}

}  // namespace flsentry
