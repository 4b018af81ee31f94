#include "engine/round_record.h"

#include <cinttypes>
#include <cstdio>
#include <optional>
#include <string>

#include "base/hash.h"

namespace flsentry {
namespace {

constexpr size_t kMaxReasonBytes = 256;

nlohmann::json NumberOrNull(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

// A non-negative integer (parsed JSON holds them as unsigned, built JSON as
// signed), or nullopt.
std::optional<uint64_t> NonNegative(const nlohmann::json& j) {
  if (j.is_number_unsigned()) return j.get<uint64_t>();
  if (j.is_number_integer() && j.get<int64_t>() >= 0) {
    return static_cast<uint64_t>(j.get<int64_t>());
  }
  return std::nullopt;
}

Status Bad(const std::string& where, const std::string& what) {
  return StateError("retry" + where + ": " + what);
}

// One stored decision, validated.
Result<Decision> DecisionFromJson(const nlohmann::json& j, size_t index) {
  const std::string where = ".decisions[" + std::to_string(index) + "]";
  if (!j.is_array() || j.size() != 6) {
    return Bad(where,
               "expected [action, flags, weight, score, threshold, "
               "reason]");
  }
  Decision d;
  const std::string action = j[0].is_string() ? j[0].get<std::string>() : "";
  if (action == "accept") {
    d.action = Action::kAccept;
  } else if (action == "downweight") {
    d.action = Action::kDownweight;
  } else if (action == "drop") {
    d.action = Action::kDrop;
  } else {
    return Bad(where, "action must be accept, downweight or drop");
  }
  const std::optional<uint64_t> flags = NonNegative(j[1]);
  if (!flags || *flags > UINT32_MAX) {
    return Bad(where, "flags must be a 32-bit unsigned integer");
  }
  d.flags = static_cast<uint32_t>(*flags);
  if (!j[2].is_number() || !(j[2].get<double>() >= 0.0) ||
      !(j[2].get<double>() <= 1.0)) {
    return Bad(where, "weight must be a number in [0, 1]");
  }
  d.weight = j[2].get<double>();
  for (int k : {3, 4}) {
    if (!j[k].is_null() && !j[k].is_number()) {
      return Bad(where, "score and threshold must be numbers or null");
    }
  }
  d.score = j[3].is_null() ? NAN : j[3].get<double>();
  d.threshold = j[4].is_null() ? NAN : j[4].get<double>();
  if (!j[5].is_string() || j[5].get<std::string>().size() > kMaxReasonBytes) {
    return Bad(where, "reason must be a string of at most " +
                          std::to_string(kMaxReasonBytes) + " bytes");
  }
  d.reason = j[5].get<std::string>();
  return d;
}

void AddTensorMetadata(Hasher& hash, std::span<const TensorMeta> tensors) {
  hash.Add(static_cast<uint64_t>(tensors.size()));
  for (const TensorMeta& t : tensors) {
    hash.Add(t.name);
    hash.Add(static_cast<uint64_t>(t.dtype));
    hash.Add(static_cast<uint64_t>(t.shape.size()));
    for (int64_t dim : t.shape) hash.Add(static_cast<uint64_t>(dim));
  }
}

}  // namespace

uint64_t RoundFingerprint(const RoundInput& round,
                          std::span<const PolicyInput> inputs) {
  std::vector<std::vector<TensorMeta>> metas;
  std::vector<UpdateIdentity> updates;
  metas.reserve(round.updates.size());
  for (const UpdateInput& u : round.updates) {
    metas.push_back(MetasOf(u.tensors));
    updates.push_back({u.client_id, u.kind, u.num_examples, metas.back()});
  }
  return RoundFingerprint(MetasOf(round.global), updates, inputs);
}

uint64_t RoundFingerprint(std::span<const TensorMeta> global,
                          std::span<const UpdateIdentity> updates,
                          std::span<const PolicyInput> inputs) {
  Hasher hash;
  hash.Add(static_cast<uint64_t>(updates.size()));
  AddTensorMetadata(hash, global);
  for (size_t i = 0; i < updates.size() && i < inputs.size(); ++i) {
    const UpdateIdentity& u = updates[i];
    const PolicyInput& in = inputs[i];
    hash.Add(u.client_id);
    hash.Add(static_cast<uint64_t>(u.kind));
    hash.Add(u.num_examples);
    AddTensorMetadata(hash, u.tensors);
    hash.Add(static_cast<uint64_t>(in.guard_flags));
    hash.Add(in.guard_reason);
    hash.Add(static_cast<uint64_t>(in.no_record));
    hash.Add(in.score.norm);
    hash.Add(static_cast<uint64_t>(in.score.nonfinite));
    hash.Add(in.score.error);
    hash.Add(in.score.embedding_hash);
  }
  return hash.value();
}

nlohmann::json RoundRecordToJson(const RoundRecord& record) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016" PRIx64, record.fingerprint);
  nlohmann::json decisions = nlohmann::json::array();
  for (const Decision& d : record.decisions) {
    decisions.push_back({ActionName(d.action), d.flags, d.weight,
                         NumberOrNull(d.score), NumberOrNull(d.threshold),
                         d.reason});
  }
  return {{"round", record.round},
          {"fingerprint", hex},
          {"decisions", std::move(decisions)}};
}

Result<RoundRecord> RoundRecordFromJson(const nlohmann::json& json) {
  try {
    if (!json.is_object()) return Bad("", "expected an object");
    RoundRecord record;
    auto round = json.find("round");
    const std::optional<uint64_t> number =
        round == json.end() ? std::nullopt : NonNegative(*round);
    if (!number) return Bad(".round", "expected a non-negative integer");
    record.round = *number;
    auto fp = json.find("fingerprint");
    const std::string hex =
        fp != json.end() && fp->is_string() ? fp->get<std::string>() : "";
    if (hex.size() != 16 ||
        hex.find_first_not_of("0123456789abcdef") != std::string::npos) {
      return Bad(".fingerprint", "expected 16 lower-case hex digits");
    }
    record.fingerprint = std::stoull(hex, nullptr, 16);
    auto decisions = json.find("decisions");
    if (decisions == json.end() || !decisions->is_array() ||
        decisions->size() > kMaxRecordedDecisions) {
      return Bad(".decisions", "expected an array of at most " +
                                   std::to_string(kMaxRecordedDecisions) +
                                   " decisions");
    }
    record.decisions.reserve(decisions->size());
    for (size_t i = 0; i < decisions->size(); ++i) {
      FLS_ASSIGN_OR_RETURN(Decision d, DecisionFromJson((*decisions)[i], i));
      record.decisions.push_back(std::move(d));
    }
    return record;
  } catch (const std::exception& e) {
    return Bad("", e.what());
  }
}

}  // namespace flsentry
