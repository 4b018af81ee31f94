#include "filter_client.h"

#include <cstdio>
#include <filesystem>

#include "base/file_reader.h"

namespace flsentry::sim {
namespace {

// Largest policy file read (the plugin refuses more than 1 MiB itself).
constexpr uint64_t kMaxPolicyFileBytes = 16ull << 20;

// The plugin's log lines at warning level and above go to stderr.
void LogToStderr(void* /*user_data*/, aggf_log_level level, const char* message,
                 uint32_t message_len) {
  if (level < AGGF_LOG_WARNING) return;
  std::fprintf(stderr, "filter: %.*s\n", static_cast<int>(message_len),
               message);
}

// Named float32 tensors pointing into one flat vector. OWNERSHIP: borrows
// `names`, `shapes` and the flat tensor's storage.
std::vector<aggf_tensor> TensorsOf(const ParameterLayout& layout,
                                   const torch::Tensor& flat) {
  std::vector<aggf_tensor> tensors;
  const float* base = flat.data_ptr<float>();
  for (const auto& e : layout.entries) {
    tensors.push_back(aggfilter::make_tensor(e.name, AGGF_DTYPE_F32, e.shape,
                                             base + e.offset));
  }
  return tensors;
}

// The plugin's refusal as the server reports it (see FilterRound).
Status RoundError(uint64_t round, const aggfilter::Error& e) {
  const std::string what =
      "round " + std::to_string(round) + ": filter failed: " + e.what();
  if (e.status() == AGGF_ERR_ROUND_FAILED) return Unsupported(what);
  return InternalError(what);
}

}  // namespace

Result<std::unique_ptr<FilterClient>> FilterClient::Load(
    const std::string& plugin_path, const std::string& policy_path) {
  std::string config;
  std::string base_dir;
  if (!policy_path.empty()) {
    auto text = ReadWholeFile(policy_path, kMaxPolicyFileBytes);
    if (!text.ok()) return text.status().WithContext("filter policy");
    config = std::move(text).value();
    base_dir = std::filesystem::absolute(policy_path).parent_path().string();
  }
  return FromText(
      plugin_path, config, base_dir,
      policy_path.empty() ? std::string("empty policy") : policy_path);
}

Result<std::unique_ptr<FilterClient>> FilterClient::FromText(
    const std::string& plugin_path, const std::string& config,
    const std::string& base_dir, const std::string& what) {
  std::unique_ptr<FilterClient> client(new FilterClient());
  client->callbacks_.struct_size = sizeof(aggf_host_callbacks);
  client->callbacks_.callback_log = &LogToStderr;
  try {
    client->plugin_ = std::make_unique<aggfilter::Plugin>(plugin_path);
  } catch (const aggfilter::Error& e) {
    return InvalidArgument(e.what());
  }
  try {
    client->instance_ =
        client->plugin_->create(config, base_dir, &client->callbacks_);
  } catch (const aggfilter::Error& e) {
    return ConfigError(what +
                       ": the filter refused its configuration: " + e.what());
  }
  return client;
}

Result<std::vector<uint8_t>> FilterClient::SaveState() {
  try {
    return instance_.save_state();
  } catch (const aggfilter::Error& e) {
    return InternalError(std::string("saving the filter's state: ") + e.what());
  }
}

Status FilterClient::LoadState(const std::vector<uint8_t>& bytes) {
  try {
    instance_.load_state(bytes);
  } catch (const aggfilter::Error& e) {
    return InternalError(std::string("restoring the filter's state: ") +
                         e.what());
  }
  return Status::Ok();
}

Result<std::vector<aggfilter::Decision>> FilterClient::FilterRound(
    uint64_t round, const ParameterLayout& layout, const torch::Tensor& global,
    const std::vector<ClientUpdate>& updates) {
  std::vector<std::vector<aggf_tensor>> tensors;  // one list per update
  tensors.reserve(updates.size());
  std::vector<aggf_update> c_updates;
  c_updates.reserve(updates.size());
  for (const ClientUpdate& u : updates) {
    tensors.push_back(TensorsOf(layout, u.delta));
    aggf_update c{};
    c.client_id = u.client_id.data();
    c.client_id_len = static_cast<uint32_t>(u.client_id.size());
    c.kind = AGGF_UPDATE_DELTA;
    c.num_examples = u.num_examples;
    c.tensors = tensors.back().data();
    c.num_tensors = static_cast<uint32_t>(tensors.back().size());
    c_updates.push_back(c);
  }
  const std::vector<aggf_tensor> global_tensors = TensorsOf(layout, global);
  aggf_round r{};
  r.struct_size = sizeof(aggf_round);
  r.num_updates = static_cast<uint32_t>(c_updates.size());
  r.round = round;
  r.global_tensors = global_tensors.data();
  r.num_global_tensors = static_cast<uint32_t>(global_tensors.size());
  r.updates = c_updates.data();
  try {
    return instance_.filter(r);
  } catch (const aggfilter::Error& e) {
    return RoundError(round, e);
  }
}

Status FilterClient::BeginRound(uint64_t round, const ParameterLayout& layout,
                                const torch::Tensor& global) {
  if (!instance_.has_on_arrival()) {
    return Unsupported(PluginDescription() +
                       " predates ABI 1.2: it cannot take rounds on arrival");
  }
  open_round_ = round;
  open_global_ = TensorsOf(layout, global);
  try {
    instance_.begin(round, open_global_);
  } catch (const aggfilter::Error& e) {
    return RoundError(round, e);
  }
  return Status::Ok();
}

Status FilterClient::AddUpdate(const ParameterLayout& layout,
                               const ClientUpdate& update) {
  const std::vector<aggf_tensor> tensors = TensorsOf(layout, update.delta);
  aggf_update c{};
  c.client_id = update.client_id.data();
  c.client_id_len = static_cast<uint32_t>(update.client_id.size());
  c.kind = AGGF_UPDATE_DELTA;
  c.num_examples = update.num_examples;
  c.tensors = tensors.data();
  c.num_tensors = static_cast<uint32_t>(tensors.size());
  try {
    instance_.add(c);
  } catch (const aggfilter::Error& e) {
    return RoundError(open_round_, e);
  }
  return Status::Ok();
}

Result<std::vector<aggfilter::Decision>> FilterClient::EndRound() {
  try {
    auto decisions = instance_.end();
    open_global_.clear();
    return decisions;
  } catch (const aggfilter::Error& e) {
    open_global_.clear();
    return RoundError(open_round_, e);
  }
}

std::string FilterClient::PluginDescription() const {
  return plugin_->name() + " " + plugin_->version() + " (" + plugin_->path() +
         ")";
}

}  // namespace flsentry::sim
