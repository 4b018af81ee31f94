// FeatureExtractor's settings and layout (their JSON forms, the tensor
// selection) and the round's centrality; the streaming pass itself (Create,
// Embed: norm + sketch or identity embedding) is in feature_embed.cc.
#include "features/feature_extractor.h"

#include <fnmatch.h>

#include <algorithm>
#include <cmath>

#include "features/known_direction.h"
#include "features/layout_check.h"

namespace flsentry {
namespace {

bool MatchesAny(const std::vector<std::string>& patterns,
                const std::string& name) {
  for (const std::string& p : patterns) {
    if (fnmatch(p.c_str(), name.c_str(), 0) == 0) return true;
  }
  return false;
}

}  // namespace

const char* EmbeddingModeName(EmbeddingMode mode) {
  return mode == EmbeddingMode::kIdentity ? "identity" : "sketch";
}

nlohmann::json FeatureSettingsToJson(const FeatureSettings& s) {
  return {{"include", s.include},
          {"exclude", s.exclude},
          {"include_integer", s.include_integer},
          {"mode", EmbeddingModeName(s.mode)},
          {"sketch_dim", s.sketch_dim},
          {"seed", s.seed},
          {"normalize", s.normalize},
          {"sketch_version", s.sketch_version}};
}

Result<FeatureSettings> FeatureSettingsFromJson(const nlohmann::json& json) {
  if (!json.is_object()) return Corrupt("features: expected an object");
  FeatureSettings s;
  auto patterns = [&](const char* key,
                      std::vector<std::string>* out) -> Status {
    if (!json.contains(key)) return Status::Ok();
    const auto& v = json.at(key);
    if (!v.is_array())
      return Corrupt(std::string("features.") + key +
                     ": expected an array of strings");
    out->clear();
    for (const auto& p : v) {
      if (!p.is_string())
        return Corrupt(std::string("features.") + key +
                       ": expected an array of strings");
      out->push_back(p.get<std::string>());
    }
    return Status::Ok();
  };
  FLS_RETURN_IF_ERROR(patterns("include", &s.include));
  FLS_RETURN_IF_ERROR(patterns("exclude", &s.exclude));
  auto boolean = [&](const char* key, bool* out) -> Status {
    if (!json.contains(key)) return Status::Ok();
    if (!json.at(key).is_boolean())
      return Corrupt(std::string("features.") + key +
                     ": expected true or false");
    *out = json.at(key).get<bool>();
    return Status::Ok();
  };
  FLS_RETURN_IF_ERROR(boolean("include_integer", &s.include_integer));
  FLS_RETURN_IF_ERROR(boolean("normalize", &s.normalize));
  if (json.contains("mode")) {
    const auto& m = json.at("mode");
    if (m == "identity") {
      s.mode = EmbeddingMode::kIdentity;
    } else if (m == "sketch") {
      s.mode = EmbeddingMode::kSketch;
    } else {
      return Corrupt("features.mode: expected \"identity\" or \"sketch\"");
    }
  }
  if (json.contains("sketch_dim")) {
    const auto& k = json.at("sketch_dim");
    if (!k.is_number_integer() || k.get<int64_t>() < kMinSketchDim ||
        k.get<int64_t>() > kMaxSketchDim) {
      return Corrupt("features.sketch_dim: expected an integer in [" +
                     std::to_string(kMinSketchDim) + ", " +
                     std::to_string(kMaxSketchDim) + "]");
    }
    s.sketch_dim = k.get<int64_t>();
  }
  if (json.contains("seed")) {
    const auto& v = json.at("seed");
    if (!v.is_number_unsigned() &&
        !(v.is_number_integer() && v.get<int64_t>() >= 0))
      return Corrupt("features.seed: expected a non-negative integer");
    s.seed = v.get<uint64_t>();
  }
  if (json.contains("sketch_version")) {
    const auto& v = json.at("sketch_version");
    if (!v.is_number_integer() ||
        (v.get<int64_t>() != 1 && v.get<int64_t>() != 2))
      return Corrupt("features.sketch_version: expected 1 or 2");
    s.sketch_version = v.get<int>();
  }
  return s;
}

nlohmann::json FeatureLayoutToJson(const FeatureLayout& layout) {
  nlohmann::json tensors = nlohmann::json::array();
  for (const auto& e : layout.tensors) {
    tensors.push_back({{"name", e.name}, {"shape", e.shape}});
  }
  return {{"tensors", tensors},
          {"num_coordinates", layout.num_coordinates},
          {"signature", layout.signature}};
}

Result<FeatureLayout> FeatureLayoutFromJson(const nlohmann::json& json) {
  if (!json.is_object() || !json.contains("tensors") ||
      !json.at("tensors").is_array() || json.at("tensors").empty()) {
    return Corrupt(
        "layout: expected an object with a non-empty 'tensors' array");
  }
  FeatureLayout layout;
  for (const auto& t : json.at("tensors")) {
    if (!t.is_object() || !t.contains("name") || !t.at("name").is_string() ||
        !t.contains("shape") || !t.at("shape").is_array() ||
        t.at("shape").size() > 8) {
      return Corrupt(
          "layout.tensors: each entry needs a string 'name' and a 'shape' "
          "array");
    }
    FeatureLayout::Entry e;
    e.name = t.at("name").get<std::string>();
    int64_t numel = 1;
    for (const auto& d : t.at("shape")) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0 ||
          (d.get<int64_t>() > 0 &&
           numel > (int64_t{1} << 40) / d.get<int64_t>())) {
        return Corrupt("layout.tensors: bad shape of '" + e.name + "'");
      }
      e.shape.push_back(d.get<int64_t>());
      numel *= d.get<int64_t>();
    }
    e.numel = numel;
    e.offset = layout.num_coordinates;
    layout.num_coordinates += numel;
    layout.tensors.push_back(std::move(e));
  }
  std::vector<TensorView> views;
  for (const auto& e : layout.tensors)
    views.push_back({e.name, DType::kF32, e.shape, {}, nullptr});
  layout.signature = LayoutSignature(views);
  if (json.contains("signature") && json.at("signature") != layout.signature) {
    return Corrupt("layout.signature does not match layout.tensors");
  }
  return layout;
}

Result<FeatureLayout> SelectLayout(const FeatureSettings& settings,
                                   std::span<const TensorView> reference) {
  FeatureLayout layout;
  std::vector<TensorView> selected;
  for (const TensorView& t : reference) {
    const std::string name(t.name);
    if (!settings.include.empty() && !MatchesAny(settings.include, name))
      continue;
    if (MatchesAny(settings.exclude, name)) continue;
    if (!IsFloating(t.dtype) && !settings.include_integer) continue;
    int64_t numel = 0, extent = 0;
    FLS_RETURN_IF_ERROR(
        ValidateView(t, &numel, &extent).WithContext("tensor '" + name + "'"));
    for (const auto& e : layout.tensors) {
      if (e.name == name)
        return InvalidArgument("tensor '" + name + "' appears twice");
    }
    FeatureLayout::Entry e;
    e.name = name;
    e.shape.assign(t.shape.begin(), t.shape.end());
    e.numel = numel;
    e.offset = layout.num_coordinates;
    layout.num_coordinates += numel;
    layout.tensors.push_back(std::move(e));
    selected.push_back(t);
  }
  if (layout.tensors.empty() || layout.num_coordinates == 0) {
    return InvalidArgument(
        "the feature selection keeps no tensor with elements (" +
        std::to_string(reference.size()) + " tensors seen)");
  }
  if (settings.mode == EmbeddingMode::kIdentity &&
      layout.num_coordinates > kMaxIdentityCoordinates) {
    return InvalidArgument(
        "identity mode would embed " + std::to_string(layout.num_coordinates) +
        " coordinates (limit " + std::to_string(kMaxIdentityCoordinates) +
        "); use mode sketch");
  }
  layout.signature = LayoutSignature(selected);
  return layout;
}

std::vector<double> LeaveOneOutCentrality(std::span<const float> rows,
                                          int64_t n, int64_t dim) {
  const std::vector<double> every_row(
      static_cast<size_t>(std::max<int64_t>(n, 0)), 1.0);
  return WeightedLeaveOneOutAgreement(rows, n, dim, every_row);
}

}  // namespace flsentry
