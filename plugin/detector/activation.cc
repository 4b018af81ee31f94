#include "detector/activation.h"

#include <cctype>
#include <cstdint>
#include <string>

namespace flsentry {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return s;
}

// A Linear layer's place in an nn.Sequential: "<container>.<index>.weight".
struct SequentialPlace {
  std::string module;     // the name without ".weight"
  std::string container;  // the module name without ".<index>"
  int64_t index = -1;     // -1: the name carries no index
};

SequentialPlace PlaceOf(const std::string& weight_name) {
  SequentialPlace p;
  std::string_view m = weight_name;
  if (m.ends_with(".weight")) m.remove_suffix(7);
  p.module = std::string(m);
  const size_t dot = m.rfind('.');
  const std::string_view last =
      dot == std::string_view::npos ? m : m.substr(dot + 1);
  if (last.empty() || last.size() > 9) return p;
  for (char c : last) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return p;
  }
  p.index = std::stoll(std::string(last));
  p.container =
      dot == std::string_view::npos ? "" : std::string(m.substr(0, dot));
  return p;
}

}  // namespace

const char* ActivationName(Activation a) {
  return a == Activation::kRelu ? "relu" : "none";
}

std::vector<Activation> DefaultActivations(size_t layers) {
  std::vector<Activation> out(layers, Activation::kRelu);
  if (!out.empty()) out.back() = Activation::kNone;
  return out;
}

Result<std::vector<Activation>> ParseActivationList(std::string_view text,
                                                    size_t layers) {
  std::vector<Activation> out;
  while (true) {
    const size_t comma = text.find(',');
    const std::string_view name = Trim(text.substr(0, comma));
    if (name == "relu") {
      out.push_back(Activation::kRelu);
    } else if (name == "none") {
      out.push_back(Activation::kNone);
    } else {
      return InvalidArgument("activation " + std::to_string(out.size() + 1) +
                             " is '" + std::string(name) +
                             "'; expected relu or none");
    }
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  if (layers > 0 && out.size() != layers) {
    return InvalidArgument(std::to_string(out.size()) +
                           " activations given for " + std::to_string(layers) +
                           " Linear layers (one per Linear, e.g. " +
                           FormatActivations(DefaultActivations(layers)) + ")");
  }
  return out;
}

std::string FormatActivations(const std::vector<Activation>& activations) {
  std::string out;
  for (Activation a : activations) {
    if (!out.empty()) out += ',';
    out += ActivationName(a);
  }
  return out;
}

InferredActivations InferActivations(
    const std::vector<std::string>& weight_names) {
  InferredActivations r;
  const size_t n = weight_names.size();
  std::vector<SequentialPlace> places;
  r.from_indices = n > 0;
  for (const std::string& name : weight_names) {
    places.push_back(PlaceOf(name));
    if (places.back().index < 0) r.from_indices = false;
  }
  if (!r.from_indices) {
    r.activations = DefaultActivations(n);
    if (n > 1) {
      r.assumptions.push_back(
          "the keys carry no nn.Sequential indices (e.g. '" +
          weight_names.front() +
          "'): assumed ReLU after every Linear but the last");
    }
    return r;
  }
  r.activations.assign(n, Activation::kNone);
  for (size_t i = 0; i + 1 < n; ++i) {
    const SequentialPlace& a = places[i];
    const SequentialPlace& b = places[i + 1];
    if (a.container != b.container) {
      r.assumptions.push_back("no activation between '" + a.module + "' and '" +
                              b.module + "' (the last Linear of '" +
                              a.container +
                              "' and the next: the keys cannot show a module "
                              "after it)");
    } else if (b.index > a.index + 1) {
      r.activations[i] = Activation::kRelu;
      if (b.index > a.index + 2) {
        r.assumptions.push_back(std::to_string(b.index - a.index - 1) +
                                " modules without parameters between '" +
                                a.module + "' and '" + b.module +
                                "' read as one ReLU");
      }
    } else {
      r.activations[i] = Activation::kRelu;
      r.assumptions.push_back(
          "'" + a.module + "' and '" + b.module +
          (b.index == a.index + 1 ? "' are adjacent" : "' are out of order") +
          " (a ModuleList whose forward() applies the activation, or two "
          "Linear in a row): assumed a ReLU between");
    }
  }
  return r;
}

}  // namespace flsentry
