// policy_state.h — what the policy remembers between rounds: one record per
// client id ever seen (strikes, quarantine, probation, reputation), the
// recent rounds' scores used by round_robust thresholds when a round is
// small and their accepted norms that anchor the norm guard. Converted to and
// from the "policy" member of the state file (docs in configs/README.md, "State
// file"). Plain values; thread-compatible.
#ifndef FLSENTRY_POLICY_POLICY_STATE_H_
#define FLSENTRY_POLICY_POLICY_STATE_H_

#include <cstdint>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "policy/policy_config.h"
#include "policy/thresholds.h"

namespace flsentry {

enum class ClientStatus { kNormal, kQuarantined, kProbation };

// "normal", "quarantined", "probation".
const char* ClientStatusName(ClientStatus status);

// One strike: the round it came in and its weight in (0, 1]
// (QuarantineConfig::strike_weight).
struct Strike {
  uint64_t round = 0;
  double weight = 1.0;
  bool operator==(const Strike&) const = default;
};

// Round numbers are the host's; ends are exclusive (the first round after).
struct ClientRecord {
  std::vector<Strike> strikes;   // ascending rounds, inside the window
  uint64_t quarantine_end = 0;   // quarantined while round < quarantine_end
  uint64_t probation_end = 0;    // on probation while quarantine_end <= round
                                 // < probation_end
  double probation_strikes = 0;  // strike weight since probation began
  double reputation = 1.0;       // in [0, 1]
  uint64_t last_round = 0;       // last round the client sent an update
  uint64_t rounds_seen = 0;      // rounds the client sent an update in
  uint64_t quarantines = 0;      // times the client entered quarantine
  // The client's tail (policy_config.h, ClientBaselineConfig): score /
  // round median score of its last updates that pointed its usual way with
  // no guard firing (or were kept clean), in judged rounds, oldest first; at
  // most kMaxClientBaselineRounds.
  std::vector<double> score_ratios;
  // Rounds in which a score-only anomaly was accepted by
  // ClientBaselineConfig::grace, ascending, inside quarantine.window_rounds.
  std::vector<uint64_t> graces;
  // num_examples of the client's last accepted claims (the num_examples
  // guard did not fire), oldest first; at most kMaxClaimHistory.
  std::vector<uint64_t> claims;

  ClientStatus StatusAt(uint64_t round) const;
  // Sum of the weights of `strikes`.
  double StrikeWeight() const;
};

// The median norm of one decided round's accepted updates (weight 1), for
// the norm guard's history anchor (NormGuardConfig).
struct RoundNorm {
  uint64_t round = 0;
  double median_norm = 0;  // finite, > 0
  bool operator==(const RoundNorm&) const = default;
};

struct PolicyState {
  std::map<std::string, ClientRecord> clients;
  std::deque<RoundScores> score_history;  // oldest first
  // Oldest first; at most NormGuardConfig::history_rounds entries.
  std::deque<RoundNorm> norm_history;
  std::optional<uint64_t> last_round;  // last round decided
};

// Limits PolicyStateFromJson enforces on untrusted state.
inline constexpr size_t kMaxStoredClients = 10'000'000;
inline constexpr size_t kMaxStoredStrikes = 10'000;
inline constexpr size_t kMaxHistoryRounds = 100;
inline constexpr size_t kMaxHistoryScores = 1024;  // per round
inline constexpr size_t kMaxClaimHistory = 8;

// Deterministic: the same state gives the same JSON text.
nlohmann::json PolicyStateToJson(const PolicyState& state);

// Returns kState naming the offending member ("policy.clients[\"c1\"].
// reputation: ...") on any malformed or out-of-range value.
Result<PolicyState> PolicyStateFromJson(const nlohmann::json& json);

}  // namespace flsentry

#endif  // FLSENTRY_POLICY_POLICY_STATE_H_
