#include "policy/policy_state.h"

#include <cmath>

namespace flsentry {

const char* ClientStatusName(ClientStatus status) {
  switch (status) {
    case ClientStatus::kNormal:
      return "normal";
    case ClientStatus::kQuarantined:
      return "quarantined";
    case ClientStatus::kProbation:
      return "probation";
  }
  return "unknown";
}

ClientStatus ClientRecord::StatusAt(uint64_t round) const {
  if (round < quarantine_end) return ClientStatus::kQuarantined;
  if (round < probation_end) return ClientStatus::kProbation;
  return ClientStatus::kNormal;
}

nlohmann::json PolicyStateToJson(const PolicyState& state) {
  nlohmann::json clients = nlohmann::json::object();
  for (const auto& [id, r] : state.clients) {
    clients[id] = {{"strikes", r.strikes},
                   {"quarantine_end", r.quarantine_end},
                   {"probation_end", r.probation_end},
                   {"probation_strikes", r.probation_strikes},
                   {"reputation", r.reputation},
                   {"last_round", r.last_round},
                   {"rounds_seen", r.rounds_seen},
                   {"quarantines", r.quarantines}};
  }
  nlohmann::json history = nlohmann::json::array();
  for (const RoundScores& h : state.score_history) {
    history.push_back({{"round", h.round}, {"scores", h.scores}});
  }
  nlohmann::json out = {{"clients", std::move(clients)},
                        {"score_history", std::move(history)}};
  out["last_round"] = state.last_round ? nlohmann::json(*state.last_round)
                                       : nlohmann::json(nullptr);
  return out;
}

namespace {

Status Bad(const std::string& path, const std::string& problem) {
  return StateError("policy." + path + ": " + problem);
}

// JSON parsed from text stores non-negative integers as unsigned; JSON built
// in C++ may hold them as signed. Both are accepted.
bool IsNonNegativeInteger(const nlohmann::json& j) {
  return j.is_number_unsigned() ||
         (j.is_number_integer() && j.get<int64_t>() >= 0);
}

Status GetU64(const nlohmann::json& obj, const std::string& key,
              const std::string& path, uint64_t* out) {
  auto it = obj.find(key);
  if (it == obj.end()) return Bad(path + "." + key, "missing");
  if (!IsNonNegativeInteger(*it)) {
    return Bad(path + "." + key, "must be a non-negative integer");
  }
  *out = it->get<uint64_t>();
  return Status::Ok();
}

Status GetUnitDouble(const nlohmann::json& obj, const std::string& key,
                     const std::string& path, double* out) {
  auto it = obj.find(key);
  if (it == obj.end()) return Bad(path + "." + key, "missing");
  if (!it->is_number()) return Bad(path + "." + key, "must be a number");
  const double v = it->get<double>();
  if (!(v >= 0.0 && v <= 1.0))
    return Bad(path + "." + key, "must be in [0, 1]");
  *out = v;
  return Status::Ok();
}

Result<ClientRecord> ClientFromJson(const nlohmann::json& j,
                                    const std::string& path) {
  if (!j.is_object()) return Bad(path, "must be an object");
  ClientRecord r;
  auto strikes = j.find("strikes");
  if (strikes == j.end() || !strikes->is_array()) {
    return Bad(path + ".strikes", "must be an array of rounds");
  }
  if (strikes->size() > kMaxStoredStrikes) {
    return Bad(path + ".strikes", "more than 10000 entries");
  }
  for (const auto& s : *strikes) {
    if (!IsNonNegativeInteger(s)) {
      return Bad(path + ".strikes", "entries must be non-negative integers");
    }
    const uint64_t round = s.get<uint64_t>();
    if (!r.strikes.empty() && round <= r.strikes.back()) {
      return Bad(path + ".strikes", "rounds must be strictly ascending");
    }
    r.strikes.push_back(round);
  }
  uint64_t probation_strikes = 0;
  FLS_RETURN_IF_ERROR(GetU64(j, "quarantine_end", path, &r.quarantine_end));
  FLS_RETURN_IF_ERROR(GetU64(j, "probation_end", path, &r.probation_end));
  FLS_RETURN_IF_ERROR(GetU64(j, "probation_strikes", path, &probation_strikes));
  if (probation_strikes > kMaxStoredStrikes) {
    return Bad(path + ".probation_strikes", "too large");
  }
  r.probation_strikes = static_cast<int>(probation_strikes);
  FLS_RETURN_IF_ERROR(GetUnitDouble(j, "reputation", path, &r.reputation));
  FLS_RETURN_IF_ERROR(GetU64(j, "last_round", path, &r.last_round));
  FLS_RETURN_IF_ERROR(GetU64(j, "rounds_seen", path, &r.rounds_seen));
  FLS_RETURN_IF_ERROR(GetU64(j, "quarantines", path, &r.quarantines));
  if (r.probation_end != 0 && r.probation_end < r.quarantine_end) {
    return Bad(path + ".probation_end", "must not be before quarantine_end");
  }
  return r;
}

}  // namespace

Result<PolicyState> PolicyStateFromJson(const nlohmann::json& json) {
  if (!json.is_object()) return StateError("policy: must be an object");
  PolicyState state;
  auto clients = json.find("clients");
  if (clients == json.end() || !clients->is_object()) {
    return Bad("clients", "must be an object keyed by client id");
  }
  if (clients->size() > kMaxStoredClients) {
    return Bad("clients", "more than 10000000 clients");
  }
  for (const auto& [id, value] : clients->items()) {
    if (id.empty()) return Bad("clients", "a client id is empty");
    const std::string path = "clients[" + nlohmann::json(id).dump() + "]";
    FLS_ASSIGN_OR_RETURN(ClientRecord record, ClientFromJson(value, path));
    state.clients.emplace(id, std::move(record));
  }
  auto history = json.find("score_history");
  if (history == json.end() || !history->is_array()) {
    return Bad("score_history", "must be an array");
  }
  if (history->size() > kMaxHistoryRounds) {
    return Bad("score_history", "more than 100 rounds");
  }
  for (size_t i = 0; i < history->size(); ++i) {
    const nlohmann::json& h = (*history)[i];
    const std::string path = "score_history[" + std::to_string(i) + "]";
    if (!h.is_object()) return Bad(path, "must be an object");
    RoundScores scores;
    FLS_RETURN_IF_ERROR(GetU64(h, "round", path, &scores.round));
    auto values = h.find("scores");
    if (values == h.end() || !values->is_array() ||
        values->size() > kMaxHistoryScores) {
      return Bad(path + ".scores", "must be an array of at most 1024 numbers");
    }
    for (const auto& v : *values) {
      if (!v.is_number() || !std::isfinite(v.get<double>())) {
        return Bad(path + ".scores", "entries must be finite numbers");
      }
      scores.scores.push_back(v.get<double>());
    }
    state.score_history.push_back(std::move(scores));
  }
  auto last = json.find("last_round");
  if (last == json.end()) return Bad("last_round", "missing");
  if (!last->is_null()) {
    if (!IsNonNegativeInteger(*last)) {
      return Bad("last_round", "must be a non-negative integer or null");
    }
    state.last_round = last->get<uint64_t>();
  }
  return state;
}

}  // namespace flsentry
