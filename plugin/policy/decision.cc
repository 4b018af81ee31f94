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
  std::vector<std::string> names;
#define FLS_FLAG_NAME_(bit, name) \
  if (flags & (bit)) names.emplace_back(name);
  AGGF_FLAG_NAMES(FLS_FLAG_NAME_)
#undef FLS_FLAG_NAME_
  return names;
}

}  // namespace flsentry
