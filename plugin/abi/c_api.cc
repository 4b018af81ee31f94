// c_api.cc — flsentry's implementation of host_api/aggfilter.h: a thin layer
// that validates the host's input, calls FilterEngine, and converts results.
// Every entry point runs inside CallGuarded; no exception crosses.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "abi/c_guard.h"
#include "abi/c_round.h"
#include "abi/c_sized.h"
#include "aggfilter.h"
#include "base/version.h"
#include "engine/filter_engine.h"

// The table layout is ABI: pin every offset so an accidental reorder fails
// the build.
static_assert(offsetof(aggf_api, struct_size) == 0);
static_assert(offsetof(aggf_api, abi_major) == 4);
static_assert(offsetof(aggf_api, abi_minor) == 8);
static_assert(offsetof(aggf_api, plugin_name) == 16);
static_assert(offsetof(aggf_api, plugin_version) == 24);
static_assert(offsetof(aggf_api, on_instance_create) == 32);
static_assert(offsetof(aggf_api, on_instance_destroy) == 40);
static_assert(offsetof(aggf_api, on_instance_last_error) == 48);
static_assert(offsetof(aggf_api, on_round_filter) == 56);
static_assert(offsetof(aggf_api, on_state_save) == 64);
static_assert(offsetof(aggf_api, on_state_load) == 72);
static_assert(offsetof(aggf_api, on_round_details) == 80);  // since 1.1
static_assert(offsetof(aggf_api, on_round_begin) == 88);    // since 1.2
static_assert(offsetof(aggf_api, on_round_add) == 96);      // since 1.2
static_assert(offsetof(aggf_api, on_round_end) == 104);     // since 1.2
static_assert(sizeof(aggf_api) == 112);
static_assert(sizeof(aggf_round_begin) == 32);
static_assert(offsetof(aggf_decision_details, suspicion) == 8);

struct aggf_instance {
  std::unique_ptr<flsentry::FilterEngine> engine;
  aggf_host_callbacks host{};
  std::string last_error;
  // The suspicion of each decision of the last round filtered with AGGF_OK
  // (on_round_details); empty before the first and after a state load.
  std::vector<double> last_suspicion;
  bool has_last_round = false;
  // The client ids added to the round open on arrival (the engine's; a
  // repeated id is dropped as in on_round_filter). Meaningful only while
  // the engine has an open round; cleared when one begins.
  std::set<std::string> open_clients;
};

namespace flsentry {
namespace {

// aggf_host_callbacks as ABI 1.0 defined it: through callback_log.
constexpr size_t kHostCallbacksSizeV1_0 = 24;
static_assert(offsetof(aggf_host_callbacks, callback_log) + sizeof(void*) ==
              kHostCallbacksSizeV1_0);

void CopyText(const std::string& text, char* buffer, uint32_t size) {
  if (buffer == nullptr || size == 0) return;
  const size_t n = std::min<size_t>(text.size(), size - 1);
  std::memcpy(buffer, text.data(), n);
  buffer[n] = '\0';
}

aggf_action ToCAction(Action action) {
  switch (action) {
    case Action::kAccept:
      return AGGF_ACTION_ACCEPT;
    case Action::kDownweight:
      return AGGF_ACTION_DOWNWEIGHT;
    case Action::kDrop:
      return AGGF_ACTION_DROP;
  }
  return AGGF_ACTION_DROP;
}

void ToCDecision(const Decision& d, aggf_decision* out) {
  std::memset(out, 0, sizeof *out);
  out->action = ToCAction(d.action);
  out->flags = d.flags;
  out->weight = std::isfinite(d.weight) ? std::clamp(d.weight, 0.0, 1.0) : 0.0;
  out->score = d.score;
  out->threshold = d.threshold;
  CopyText(d.reason, out->reason, sizeof out->reason);
}

// Copies the engine's decisions out and keeps their suspicion for
// on_round_details.
Status WriteDecisions(aggf_instance* instance,
                      const std::vector<Decision>& result,
                      aggf_decision* decisions, uint32_t num_decisions) {
  if (result.size() != num_decisions) {
    return InternalError("engine returned " + std::to_string(result.size()) +
                         " decisions for " + std::to_string(num_decisions) +
                         " updates");
  }
  std::vector<double> suspicion(num_decisions);
  for (uint32_t i = 0; i < num_decisions; ++i) {
    ToCDecision(result[i], &decisions[i]);
    suspicion[i] = result[i].suspicion;
  }
  instance->last_suspicion = std::move(suspicion);
  instance->has_last_round = true;
  return Status::Ok();
}

aggf_status Create(const char* config, uint64_t config_len,
                   const char* base_dir, const aggf_host_callbacks* host,
                   aggf_instance** out_instance, char* error_buffer,
                   uint32_t error_buffer_size) {
  std::string error;
  aggf_status status = CallGuarded(
      &error,
      [&]() -> Status {
        if (out_instance == nullptr) {
          return InvalidArgument("out_instance is null");
        }
        *out_instance = nullptr;
        if (config == nullptr && config_len > 0) {
          return InvalidArgument("config is null but config_len is " +
                                 std::to_string(config_len));
        }
        auto instance = std::make_unique<aggf_instance>();
        if (host != nullptr) {
          FLS_RETURN_IF_ERROR(ReadSizedStruct(
              host, kHostCallbacksSizeV1_0, "host callbacks", &instance->host));
        }
        const aggf_host_callbacks callbacks = instance->host;
        LogFn log;
        if (callbacks.callback_log != nullptr) {
          log = [callbacks](LogLevel level, std::string_view message) {
            callbacks.callback_log(
                callbacks.user_data, static_cast<aggf_log_level>(level),
                message.data(), static_cast<uint32_t>(message.size()));
          };
        }
        std::string_view text(config == nullptr ? "" : config,
                              static_cast<size_t>(config_len));
        FLS_ASSIGN_OR_RETURN(
            instance->engine,
            FilterEngine::Create(text, base_dir ? base_dir : "",
                                 std::move(log)));
        *out_instance = instance.release();
        return Status::Ok();
      },
      CEntry::kCreate);
  if (status != AGGF_OK) CopyText(error, error_buffer, error_buffer_size);
  return status;
}

void Destroy(aggf_instance* instance) { delete instance; }

const char* LastError(const aggf_instance* instance) {
  return instance == nullptr ? "instance is null"
                             : instance->last_error.c_str();
}

aggf_status FilterRoundC(aggf_instance* instance, const aggf_round* round,
                         aggf_decision* decisions, uint32_t num_decisions) {
  if (instance == nullptr) return AGGF_ERR_INVALID_ARGUMENT;
  return CallGuarded(
      &instance->last_error,
      [&]() -> Status {
        if (round == nullptr) return InvalidArgument("round is null");
        if (decisions == nullptr && num_decisions > 0) {
          return InvalidArgument("decisions is null");
        }
        if (num_decisions != round->num_updates) {
          return InvalidArgument(
              "num_decisions " + std::to_string(num_decisions) +
              " != round.num_updates " + std::to_string(round->num_updates));
        }
        RoundInput input;
        FLS_RETURN_IF_ERROR(ConvertRound(round, &input));
        instance->open_clients.clear();  // the engine closes an open round
        FLS_ASSIGN_OR_RETURN(std::vector<Decision> result,
                             instance->engine->FilterRound(input));
        return WriteDecisions(instance, result, decisions, num_decisions);
      },
      CEntry::kFilter);
}

aggf_status RoundBegin(aggf_instance* instance, const aggf_round_begin* begin) {
  if (instance == nullptr) return AGGF_ERR_INVALID_ARGUMENT;
  return CallGuarded(
      &instance->last_error,
      [&]() -> Status {
        uint64_t round = 0;
        std::vector<TensorView> global;
        FLS_RETURN_IF_ERROR(ConvertRoundBegin(begin, &round, &global));
        FLS_RETURN_IF_ERROR(
            instance->engine->BeginRound(round, std::move(global)));
        instance->open_clients.clear();  // of the round closed, if any
        return Status::Ok();
      },
      CEntry::kFilter);
}

aggf_status RoundAdd(aggf_instance* instance, const aggf_update* update) {
  if (instance == nullptr) return AGGF_ERR_INVALID_ARGUMENT;
  return CallGuarded(&instance->last_error, [&]() -> Status {
    if (update == nullptr) return InvalidArgument("update is null");
    const std::optional<size_t> added = instance->engine->OpenRoundUpdates();
    if (!added) {
      return InvalidArgument("no round is open: call on_round_begin first");
    }
    std::set<std::string>& ids = instance->open_clients;
    const size_t ids_before = ids.size();
    UpdateInput input;
    ConvertUpdate(*update, static_cast<uint32_t>(*added), &ids, &input);
    // The id is forgotten again unless the engine took the update (it
    // refuses one past AGGF_MAX_UPDATES).
    const bool new_id = ids.size() > ids_before;
    Status taken = InternalError("update not added");
    try {
      taken = instance->engine->AddUpdate(input);
    } catch (...) {
      if (new_id) ids.erase(input.client_id);
      throw;
    }
    if (!taken.ok() && new_id) ids.erase(input.client_id);
    return taken;
  });
}

aggf_status RoundEnd(aggf_instance* instance, aggf_decision* decisions,
                     uint32_t num_decisions) {
  if (instance == nullptr) return AGGF_ERR_INVALID_ARGUMENT;
  return CallGuarded(
      &instance->last_error,
      [&]() -> Status {
        const std::optional<size_t> added =
            instance->engine->OpenRoundUpdates();
        if (!added) {
          return InvalidArgument("no round is open: call on_round_begin first");
        }
        if (decisions == nullptr && num_decisions > 0) {
          return InvalidArgument("decisions is null");
        }
        if (num_decisions != *added) {
          return InvalidArgument("num_decisions " +
                                 std::to_string(num_decisions) + " != the " +
                                 std::to_string(*added) + " updates added");
        }
        instance->open_clients.clear();  // closed whatever the outcome
        FLS_ASSIGN_OR_RETURN(std::vector<Decision> result,
                             instance->engine->EndRound());
        return WriteDecisions(instance, result, decisions, num_decisions);
      },
      CEntry::kFilter);
}

aggf_status StateSave(aggf_instance* instance, aggf_callback_write write,
                      void* user_data) {
  if (instance == nullptr) return AGGF_ERR_INVALID_ARGUMENT;
  return CallGuarded(
      &instance->last_error,
      [&]() -> Status {
        if (write == nullptr) return InvalidArgument("write callback is null");
        FLS_ASSIGN_OR_RETURN(std::string bytes, instance->engine->SaveState());
        if (write(user_data, reinterpret_cast<const uint8_t*>(bytes.data()),
                  bytes.size()) != 0) {
          return IoError("the host's write callback failed");
        }
        return Status::Ok();
      },
      CEntry::kStateSave);
}

aggf_status StateLoad(aggf_instance* instance, const uint8_t* data,
                      uint64_t size) {
  if (instance == nullptr) return AGGF_ERR_INVALID_ARGUMENT;
  return CallGuarded(
      &instance->last_error,
      [&]() -> Status {
        if (data == nullptr && size > 0)
          return InvalidArgument("state data is null");
        FLS_RETURN_IF_ERROR(instance->engine->LoadState(std::string_view(
            reinterpret_cast<const char*>(data), static_cast<size_t>(size))));
        instance->last_suspicion.clear();
        instance->has_last_round = false;
        instance->open_clients.clear();  // the engine closed an open round
        return Status::Ok();
      },
      CEntry::kStateLoad);
}

aggf_status RoundDetails(aggf_instance* instance, uint32_t index,
                         aggf_decision_details* details) {
  if (instance == nullptr) return AGGF_ERR_INVALID_ARGUMENT;
  return CallGuarded(&instance->last_error, [&]() -> Status {
    constexpr size_t kHeader = offsetof(aggf_decision_details, suspicion);
    if (details == nullptr) return InvalidArgument("details is null");
    if (details->struct_size < kHeader) {
      return InvalidArgument("details.struct_size " +
                             std::to_string(details->struct_size) +
                             " is smaller than " + std::to_string(kHeader));
    }
    if (!instance->has_last_round) {
      return InvalidArgument("no round has been filtered yet");
    }
    if (index >= instance->last_suspicion.size()) {
      return InvalidArgument("index " + std::to_string(index) +
                             " is not below the last " + "round's " +
                             std::to_string(instance->last_suspicion.size()) +
                             " updates");
    }
    aggf_decision_details out{};
    const size_t n = std::min<size_t>(details->struct_size, sizeof out);
    out.struct_size = static_cast<uint32_t>(n);
    out.suspicion = instance->last_suspicion[index];
    std::memcpy(details, &out, n);
    return Status::Ok();
  });
}

const aggf_api kApiV1 = {
    sizeof(aggf_api), AGGF_ABI_MAJOR, AGGF_ABI_MINOR, 0,
    "flsentry",       kVersion,       &Create,        &Destroy,
    &LastError,       &FilterRoundC,  &StateSave,     &StateLoad,
    &RoundDetails,    &RoundBegin,    &RoundAdd,      &RoundEnd,
};

}  // namespace
}  // namespace flsentry

extern "C" AGGF_EXPORT const aggf_api* aggf_get_api(
    uint32_t abi_major, char* error_buffer, uint32_t error_buffer_size) {
  if (abi_major == 1) return &flsentry::kApiV1;
  char message[96];
  std::snprintf(message, sizeof message,
                "flsentry serves ABI major version 1 only, not %u",
                static_cast<unsigned>(abi_major));
  if (error_buffer != nullptr && error_buffer_size > 0) {
    std::snprintf(error_buffer, error_buffer_size, "%s", message);
  }
  return nullptr;
}
