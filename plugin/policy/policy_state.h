// policy_state.h — what the policy remembers between rounds: one record per
// client id ever seen (strikes, quarantine, probation, reputation) and the
// recent rounds' scores used by round_robust thresholds when a round is
// small. Converted to and from the "policy" member of the state file
// (docs in configs/README.md, "State file"). Plain values; thread-compatible.
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
#include "policy/thresholds.h"

namespace flsentry {

enum class ClientStatus { kNormal, kQuarantined, kProbation };

// "normal", "quarantined", "probation".
const char* ClientStatusName(ClientStatus status);

// Round numbers are the host's; ends are exclusive (the first round after).
struct ClientRecord {
  std::vector<uint64_t> strikes;  // rounds with a strike, ascending, in window
  uint64_t quarantine_end = 0;    // quarantined while round < quarantine_end
  uint64_t probation_end = 0;     // on probation while quarantine_end <= round
                                  // < probation_end
  int probation_strikes = 0;      // strikes since the current probation began
  double reputation = 1.0;        // in [0, 1]
  uint64_t last_round = 0;        // last round the client sent an update
  uint64_t rounds_seen = 0;       // rounds the client sent an update in
  uint64_t quarantines = 0;       // times the client entered quarantine

  ClientStatus StatusAt(uint64_t round) const;
};

struct PolicyState {
  std::map<std::string, ClientRecord> clients;
  std::deque<RoundScores> score_history;  // oldest first
  std::optional<uint64_t> last_round;     // last round decided
};

// Limits PolicyStateFromJson enforces on untrusted state.
inline constexpr size_t kMaxStoredClients = 10'000'000;
inline constexpr size_t kMaxStoredStrikes = 10'000;
inline constexpr size_t kMaxHistoryRounds = 100;
inline constexpr size_t kMaxHistoryScores = 1024;  // per round

// Deterministic: the same state gives the same JSON text.
nlohmann::json PolicyStateToJson(const PolicyState& state);

// Returns kState naming the offending member ("policy.clients[\"c1\"].
// reputation: ...") on any malformed or out-of-range value.
Result<PolicyState> PolicyStateFromJson(const nlohmann::json& json);

}  // namespace flsentry

#endif  // FLSENTRY_POLICY_POLICY_STATE_H_
