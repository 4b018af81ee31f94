// filter_client.h — how the reference server talks to an aggregation-filter
// plugin: exactly like any user's server would, through host_api/ only
// (aggfilter_host.hpp: dlopen + the C function table). Nothing of the
// plugin's C++ internals is linked into the server.
//
// Host-side harness code. Not thread-safe: one round at a time (aggfilter.h
// convention 8).
#ifndef FLSENTRY_INTEGRATION_FILTER_CLIENT_H_
#define FLSENTRY_INTEGRATION_FILTER_CLIENT_H_

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "aggfilter_host.hpp"
#include "base/status.h"
#include "models.h"

namespace flsentry::sim {

// One client's update as the server holds it.
struct ClientUpdate {
  std::string client_id;
  uint64_t num_examples = 0;
  torch::Tensor delta;  // 1-D float32 contiguous, ParameterLayout order
};

class FilterClient {
 public:
  // Loads the plugin at `plugin_path` and creates one instance from the
  // policy file at `policy_path` (its directory becomes the instance's
  // base_dir); an empty policy_path gives the plugin an empty configuration
  // (its defaults). Errors: kNotFound (policy unreadable), kConfig (the
  // plugin refused the configuration; its message included),
  // kInvalidArgument (the plugin cannot be loaded).
  static Result<std::unique_ptr<FilterClient>> Load(
      const std::string& plugin_path, const std::string& policy_path);

  // As Load, from the policy's text: `config` is the policy YAML ("" = the
  // plugin's defaults), `base_dir` resolves its relative paths, `what` names
  // the policy in errors. Errors as Load's, less kNotFound.
  static Result<std::unique_ptr<FilterClient>> FromText(
      const std::string& plugin_path, const std::string& config,
      const std::string& base_dir, const std::string& what);

  // Sends one round as aggf_round: every update as kind delta, one float32
  // tensor per named parameter, plus the global model the clients started
  // from. Returns one decision per update, in order. Errors:
  // kUnsupported when the plugin refuses the round (AGGF_ERR_ROUND_FAILED:
  // the server then skips aggregation), kInternal for any other failure.
  // REQUIRES: every delta and `global` have layout.total elements.
  Result<std::vector<aggfilter::Decision>> FilterRound(
      uint64_t round, const ParameterLayout& layout,
      const torch::Tensor& global, const std::vector<ClientUpdate>& updates);

  // The same round given on arrival (ABI 1.2): BeginRound, AddUpdate as
  // each client's update arrives (the update may be freed once it
  // returns), EndRound for one decision per update added. `global` is
  // borrowed until EndRound returns. Errors as FilterRound's; kUnsupported
  // also when the plugin predates ABI 1.2.
  Status BeginRound(uint64_t round, const ParameterLayout& layout,
                    const torch::Tensor& global);
  Status AddUpdate(const ParameterLayout& layout, const ClientUpdate& update);
  Result<std::vector<aggfilter::Decision>> EndRound();

  // The instance's whole state as the plugin serialises it (on_state_save,
  // opaque bytes), and its restoration (on_state_load; on failure the state
  // is unchanged). Errors: kInternal with the plugin's message.
  Result<std::vector<uint8_t>> SaveState();
  Status LoadState(const std::vector<uint8_t>& bytes);

  std::string PluginDescription() const;

 private:
  FilterClient() = default;

  std::unique_ptr<aggfilter::Plugin> plugin_;
  aggfilter::Instance instance_;
  aggf_host_callbacks callbacks_{};
  uint64_t open_round_ = 0;
  std::vector<aggf_tensor> open_global_;  // borrowed by the open round
};

}  // namespace flsentry::sim

#endif  // FLSENTRY_INTEGRATION_FILTER_CLIENT_H_
