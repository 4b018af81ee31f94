// sim_params.h — checks shared by the reference server's attacks
// (attacks.h) and baseline aggregators (baselines.h), whose parameters are a
// name -> number map read from a simulation config. Host-side harness code.
#ifndef FLSENTRY_INTEGRATION_SIM_PARAMS_H_
#define FLSENTRY_INTEGRATION_SIM_PARAMS_H_

#include <initializer_list>
#include <map>
#include <string>
#include <string_view>

#include "base/status.h"

namespace flsentry::sim {

// kInvalidArgument "<kind> '<type>': unknown parameter 'x' (accepted: a,
// b)" for a name outside `allowed`, or "... parameter 'x' must be finite"
// for a NaN or infinite value. `kind` is "attack" or "aggregator", `type`
// the attack or aggregator named in the message.
Status CheckParamNames(std::string_view kind, const std::string& type,
                       const std::map<std::string, double>& params,
                       std::initializer_list<std::string_view> allowed);

// The value of `name`, or nullptr when absent. The pointer borrows from
// `params` and is valid while params is neither changed nor destroyed.
const double* FindParam(const std::map<std::string, double>& params,
                        const std::string& name);

}  // namespace flsentry::sim

#endif  // FLSENTRY_INTEGRATION_SIM_PARAMS_H_
