#include "features/scoring.h"

namespace flsentry {

double Calibration::Quantile(double level) const {
  if (quantiles.empty() || !(level >= 0.0 && level <= 1.0)) return NAN;
  auto upper = quantiles.lower_bound(level);
  if (upper == quantiles.end()) return std::prev(upper)->second;
  if (upper->first == level || upper == quantiles.begin()) {
    return upper->second;
  }
  auto lower = std::prev(upper);
  const double t = (level - lower->first) / (upper->first - lower->first);
  return lower->second + t * (upper->second - lower->second);
}

}  // namespace flsentry
