#include "sim_params.h"

#include <algorithm>
#include <cmath>

namespace flsentry::sim {

Status CheckParamNames(std::string_view kind, const std::string& type,
                       const std::map<std::string, double>& params,
                       std::initializer_list<std::string_view> allowed) {
  const std::string prefix = std::string(kind) + " '" + type + "': ";
  for (const auto& [name, value] : params) {
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      std::string known;
      for (auto a : allowed) {
        known += (known.empty() ? "" : ", ") + std::string(a);
      }
      return InvalidArgument(
          prefix + "unknown parameter '" + name +
          "' (accepted: " + (known.empty() ? "none" : known) + ")");
    }
    if (!std::isfinite(value)) {
      return InvalidArgument(prefix + "parameter '" + name +
                             "' must be finite");
    }
  }
  return Status::Ok();
}

const double* FindParam(const std::map<std::string, double>& params,
                        const std::string& name) {
  const auto it = params.find(name);
  return it == params.end() ? nullptr : &it->second;
}

}  // namespace flsentry::sim
