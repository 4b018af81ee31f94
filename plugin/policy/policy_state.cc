#include "policy/policy_state.h"

#include <cmath>
#include <cstdio>

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

double ClientRecord::StrikeWeight() const {
  double sum = 0;
  for (const Strike& s : strikes) sum += s.weight;
  return sum;
}

ClientStatus ClientRecord::StatusAt(uint64_t round) const {
  if (round < quarantine_end) return ClientStatus::kQuarantined;
  if (round < probation_end) return ClientStatus::kProbation;
  return ClientStatus::kNormal;
}

nlohmann::json PolicyStateToJson(const PolicyState& state) {
  nlohmann::json clients = nlohmann::json::object();
  for (const auto& [id, r] : state.clients) {
    nlohmann::json strikes = nlohmann::json::array();
    for (const Strike& s : r.strikes) {
      strikes.push_back(nlohmann::json::array({s.round, s.weight}));
    }
    clients[id] = {{"strikes", std::move(strikes)},
                   {"quarantine_end", r.quarantine_end},
                   {"probation_end", r.probation_end},
                   {"probation_strikes", r.probation_strikes},
                   {"reputation", r.reputation},
                   {"last_round", r.last_round},
                   {"rounds_seen", r.rounds_seen},
                   {"quarantines", r.quarantines},
                   {"score_ratios", r.score_ratios},
                   {"graces", r.graces},
                   {"claims", r.claims}};
  }
  nlohmann::json history = nlohmann::json::array();
  for (const RoundScores& h : state.score_history) {
    history.push_back({{"round", h.round}, {"scores", h.scores}});
  }
  nlohmann::json norms = nlohmann::json::array();
  for (const RoundNorm& n : state.norm_history) {
    norms.push_back({{"round", n.round}, {"median_norm", n.median_norm}});
  }
  nlohmann::json out = {{"clients", std::move(clients)},
                        {"score_history", std::move(history)},
                        {"norm_history", std::move(norms)}};
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

// A non-negative number at most `max`.
Status GetWeight(const nlohmann::json& obj, const std::string& key,
                 const std::string& path, double max, double* out) {
  auto it = obj.find(key);
  if (it == obj.end()) return Bad(path + "." + key, "missing");
  if (!it->is_number()) return Bad(path + "." + key, "must be a number");
  const double v = it->get<double>();
  if (!(v >= 0.0 && v <= max)) {
    char text[32];
    std::snprintf(text, sizeof text, "must be in [0, %g]", max);
    return Bad(path + "." + key, text);
  }
  *out = v;
  return Status::Ok();
}

// "strikes": rounds (weight 1, the format before strike weights) or
// [round, weight] pairs, rounds strictly ascending, weights in (0, 1].
Status StrikesFromJson(const nlohmann::json& j, const std::string& path,
                       std::vector<Strike>* out) {
  auto strikes = j.find("strikes");
  if (strikes == j.end() || !strikes->is_array()) {
    return Bad(path + ".strikes", "must be an array of strikes");
  }
  if (strikes->size() > kMaxStoredStrikes) {
    return Bad(path + ".strikes", "more than 10000 entries");
  }
  for (const auto& s : *strikes) {
    Strike strike;
    if (IsNonNegativeInteger(s)) {
      strike.round = s.get<uint64_t>();
    } else if (s.is_array() && s.size() == 2 && IsNonNegativeInteger(s[0]) &&
               s[1].is_number() && s[1].get<double>() > 0 &&
               s[1].get<double>() <= 1) {
      strike.round = s[0].get<uint64_t>();
      strike.weight = s[1].get<double>();
    } else {
      return Bad(path + ".strikes",
                 "entries must be rounds or [round, weight in (0, 1]]");
    }
    if (!out->empty() && strike.round <= out->back().round) {
      return Bad(path + ".strikes", "rounds must be strictly ascending");
    }
    out->push_back(strike);
  }
  return Status::Ok();
}

// Optional (absent in states written before they existed).
Status OptionalRatios(const nlohmann::json& j, const std::string& path,
                      std::vector<double>* out) {
  auto it = j.find("score_ratios");
  if (it == j.end()) return Status::Ok();
  if (!it->is_array() ||
      it->size() > static_cast<size_t>(kMaxClientBaselineRounds)) {
    return Bad(path + ".score_ratios",
               "must be an array of at most 64 numbers");
  }
  for (const auto& v : *it) {
    if (!v.is_number() || !(v.get<double>() >= 0) ||
        !std::isfinite(v.get<double>())) {
      return Bad(path + ".score_ratios",
                 "entries must be finite non-negative numbers");
    }
    out->push_back(v.get<double>());
  }
  return Status::Ok();
}

Status OptionalGraces(const nlohmann::json& j, const std::string& path,
                      std::vector<uint64_t>* out) {
  auto it = j.find("graces");
  if (it == j.end()) return Status::Ok();
  if (!it->is_array() || it->size() > static_cast<size_t>(kMaxClientGrace)) {
    return Bad(path + ".graces", "must be an array of at most 64 rounds");
  }
  for (const auto& v : *it) {
    if (!IsNonNegativeInteger(v) ||
        (!out->empty() && v.get<uint64_t>() <= out->back())) {
      return Bad(path + ".graces",
                 "entries must be strictly ascending round numbers");
    }
    out->push_back(v.get<uint64_t>());
  }
  return Status::Ok();
}

Status OptionalClaims(const nlohmann::json& j, const std::string& path,
                      std::vector<uint64_t>* out) {
  auto it = j.find("claims");
  if (it == j.end()) return Status::Ok();
  if (!it->is_array() || it->size() > kMaxClaimHistory) {
    return Bad(path + ".claims", "must be an array of at most 8 integers");
  }
  for (const auto& v : *it) {
    if (!IsNonNegativeInteger(v)) {
      return Bad(path + ".claims", "entries must be non-negative integers");
    }
    out->push_back(v.get<uint64_t>());
  }
  return Status::Ok();
}

Result<ClientRecord> ClientFromJson(const nlohmann::json& j,
                                    const std::string& path) {
  if (!j.is_object()) return Bad(path, "must be an object");
  ClientRecord r;
  FLS_RETURN_IF_ERROR(StrikesFromJson(j, path, &r.strikes));
  FLS_RETURN_IF_ERROR(GetU64(j, "quarantine_end", path, &r.quarantine_end));
  FLS_RETURN_IF_ERROR(GetU64(j, "probation_end", path, &r.probation_end));
  FLS_RETURN_IF_ERROR(GetWeight(j, "probation_strikes", path,
                                static_cast<double>(kMaxStoredStrikes),
                                &r.probation_strikes));
  FLS_RETURN_IF_ERROR(GetUnitDouble(j, "reputation", path, &r.reputation));
  FLS_RETURN_IF_ERROR(GetU64(j, "last_round", path, &r.last_round));
  FLS_RETURN_IF_ERROR(GetU64(j, "rounds_seen", path, &r.rounds_seen));
  FLS_RETURN_IF_ERROR(GetU64(j, "quarantines", path, &r.quarantines));
  if (r.probation_end != 0 && r.probation_end < r.quarantine_end) {
    return Bad(path + ".probation_end", "must not be before quarantine_end");
  }
  FLS_RETURN_IF_ERROR(OptionalRatios(j, path, &r.score_ratios));
  FLS_RETURN_IF_ERROR(OptionalClaims(j, path, &r.claims));
  FLS_RETURN_IF_ERROR(OptionalGraces(j, path, &r.graces));
  return r;
}

// "norm_history" is optional: state written before the norm guard had a
// history anchor has none.
Status NormHistoryFromJson(const nlohmann::json& json,
                           std::deque<RoundNorm>* out) {
  auto norms = json.find("norm_history");
  if (norms == json.end()) return Status::Ok();
  if (!norms->is_array()) return Bad("norm_history", "must be an array");
  if (norms->size() > kMaxHistoryRounds) {
    return Bad("norm_history", "more than 100 rounds");
  }
  for (size_t i = 0; i < norms->size(); ++i) {
    const nlohmann::json& n = (*norms)[i];
    const std::string path = "norm_history[" + std::to_string(i) + "]";
    if (!n.is_object()) return Bad(path, "must be an object");
    RoundNorm entry;
    FLS_RETURN_IF_ERROR(GetU64(n, "round", path, &entry.round));
    auto median = n.find("median_norm");
    if (median == n.end() || !median->is_number() ||
        !std::isfinite(median->get<double>()) || median->get<double>() <= 0) {
      return Bad(path + ".median_norm", "must be a finite number > 0");
    }
    entry.median_norm = median->get<double>();
    out->push_back(entry);
  }
  return Status::Ok();
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
  FLS_RETURN_IF_ERROR(NormHistoryFromJson(json, &state.norm_history));
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
