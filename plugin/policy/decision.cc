#include "policy/decision.h"

namespace flsentry {

const char* ActionName(Action action) {
  switch (action) {
    case Action::kAccept:
      return "accept";
    case Action::kDownweight:
      return "downweight";
    case Action::kDrop:
      return "drop";
  }
  return "unknown";
}

std::vector<std::string> FlagNames(uint32_t flags) {
  static const char* const kNames[] = {
      "nonfinite",    "shape_mismatch", "anomalous",   "norm_guard",
      "quarantined",  "probation",      "allowlisted", "denylisted",
      "score_failed", "failsafe",       "invalid",     "duplicate",
      "central"};
  std::vector<std::string> names;
  for (uint32_t bit = 0; bit < sizeof kNames / sizeof kNames[0]; ++bit) {
    if (flags & (1u << bit)) names.emplace_back(kNames[bit]);
  }
  return names;
}

}  // namespace flsentry
