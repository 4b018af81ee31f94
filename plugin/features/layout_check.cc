#include "features/layout_check.h"

#include <algorithm>
#include <map>

namespace flsentry {
namespace {

using Layout = std::map<std::string_view, std::span<const int64_t>>;

Layout MakeLayout(std::span<const TensorView> tensors) {
  Layout layout;
  for (const TensorView& t : tensors) layout.emplace(t.name, t.shape);
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

std::string LayoutSignature(std::span<const TensorView> tensors) {
  std::string signature;
  for (const auto& [name, shape] : MakeLayout(tensors)) {
    if (!signature.empty()) signature += ";";
    signature += std::string(name) + ShapeText(shape);
  }
  return signature;
}

std::vector<std::string> FindLayoutMismatches(const RoundInput& round) {
  std::vector<std::string> result(round.updates.size());
  Layout reference;
  if (!round.global.empty()) {
    reference = MakeLayout(round.global);
  } else {
    // Majority layout among well-formed updates; ties go to the earliest.
    std::map<std::string, std::pair<int, size_t>> votes;  // count, first
    for (size_t i = 0; i < round.updates.size(); ++i) {
      if (!round.updates[i].invalid_reason.empty()) continue;
      auto [it, inserted] =
          votes.try_emplace(LayoutSignature(round.updates[i].tensors), 0, i);
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
    reference = MakeLayout(round.updates[best->second.second].tensors);
  }
  for (size_t i = 0; i < round.updates.size(); ++i) {
    if (!round.updates[i].invalid_reason.empty()) continue;
    result[i] = Describe(MakeLayout(round.updates[i].tensors), reference);
  }
  return result;
}

}  // namespace flsentry
