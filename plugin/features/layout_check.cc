#include "features/layout_check.h"

#include <algorithm>
#include <map>

namespace flsentry {
namespace {

using Layout = std::map<std::string_view, std::span<const int64_t>>;

Layout MakeLayout(std::span<const TensorMeta> tensors) {
  Layout layout;
  for (const TensorMeta& t : tensors) layout.emplace(t.name, t.shape);
  return layout;
}

std::string Describe(const Layout& got, const Layout& want) {
  for (const auto& [name, shape] : want) {
    auto it = got.find(name);
    if (it == got.end()) return "missing tensor '" + std::string(name) + "'";
    if (!std::equal(it->second.begin(), it->second.end(), shape.begin(),
                    shape.end())) {
      return "shape of '" + std::string(name) + "' is " +
             ShapeText(it->second) + ", expected " + ShapeText(shape);
    }
  }
  for (const auto& [name, shape] : got) {
    if (!want.count(name))
      return "unexpected tensor '" + std::string(name) + "'";
  }
  return "";
}

}  // namespace

std::string ShapeText(std::span<const int64_t> shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) text += ",";
    text += std::to_string(shape[i]);
  }
  return text + "]";
}

std::vector<TensorMeta> MetasOf(std::span<const TensorView> tensors) {
  std::vector<TensorMeta> metas;
  metas.reserve(tensors.size());
  for (const TensorView& t : tensors) {
    metas.push_back(
        TensorMeta{std::string(t.name), t.dtype,
                   std::vector<int64_t>(t.shape.begin(), t.shape.end())});
  }
  return metas;
}

std::string LayoutSignature(std::span<const TensorView> tensors) {
  return LayoutSignature(MetasOf(tensors));
}

std::string LayoutSignature(std::span<const TensorMeta> tensors) {
  std::string signature;
  for (const auto& [name, shape] : MakeLayout(tensors)) {
    if (!signature.empty()) signature += ";";
    signature += std::string(name) + ShapeText(shape);
  }
  return signature;
}

std::vector<std::string> FindLayoutMismatches(const RoundInput& round) {
  const std::vector<TensorMeta> global = MetasOf(round.global);
  std::vector<std::vector<TensorMeta>> metas(round.updates.size());
  std::vector<const std::vector<TensorMeta>*> updates(round.updates.size());
  for (size_t i = 0; i < round.updates.size(); ++i) {
    if (!round.updates[i].invalid_reason.empty()) continue;
    metas[i] = MetasOf(round.updates[i].tensors);
    updates[i] = &metas[i];
  }
  return FindLayoutMismatches(global, updates);
}

std::vector<std::string> FindLayoutMismatches(
    std::span<const TensorMeta> global,
    std::span<const std::vector<TensorMeta>* const> updates) {
  std::vector<std::string> result(updates.size());
  Layout reference;
  if (!global.empty()) {
    reference = MakeLayout(global);
  } else {
    // Majority layout among well-formed updates; ties go to the earliest.
    std::map<std::string, std::pair<int, size_t>> votes;  // count, first
    for (size_t i = 0; i < updates.size(); ++i) {
      if (updates[i] == nullptr) continue;
      auto [it, inserted] =
          votes.try_emplace(LayoutSignature(*updates[i]), 0, i);
      ++it->second.first;
    }
    if (votes.empty()) return result;
    auto best = votes.begin();
    for (auto it = votes.begin(); it != votes.end(); ++it) {
      if (it->second.first > best->second.first ||
          (it->second.first == best->second.first &&
           it->second.second < best->second.second)) {
        best = it;
      }
    }
    reference = MakeLayout(*updates[best->second.second]);
  }
  for (size_t i = 0; i < updates.size(); ++i) {
    if (updates[i] == nullptr) continue;
    result[i] = Describe(MakeLayout(*updates[i]), reference);
  }
  return result;
}

}  // namespace flsentry
