// client_references.h — each client's reference direction: the embedding of
// its last update that the policy kept without any flag (or, in the trusted
// warm-up, its last well-formed one). An honest client trains on the same
// data round after round, so its updates mostly keep pointing its way (a
// few land near orthogonal when training turns fast: the policy's drift
// rule, policy_config.h); a sign flip or an inner-product manipulation
// reverses it. Consistency() gives the cosine that
// UpdateScore::consistency reports and the policy's consistency guard and
// client baseline judge.
//
// A client without a reference may instead have a rejected direction: the
// embedding of its last update the policy dropped for a severe signal
// (Reject). RejectedSimilarity() gives the cosine with it: a client whose
// only history is a rejected update, sending an update pointing the same
// way, repeats what was rejected (a sign-flipper first seen after its
// attack began, whose first flipped update scored high and whose later
// ones do not). A clean reference replaces the rejected direction. A
// dropped update pointing the same way renews its round (Renew) but not its
// embedding: an attacker that keeps sending the rejected direction stays
// judged against it, while the direction itself stays the one first
// rejected, so that training's drift (the cosine of a client's updates with
// an old one falls round by round) still lets it lapse.
//
// Bounded: at most kMaxClientReferences clients (clean and rejected
// together); past that, the clients
// whose reference is oldest (smallest round, then smallest id) are
// forgotten first. Cross-silo federations (5-100 members) never reach it;
// cross-device clients that return rarely lose theirs.
//
// Threading: not thread-safe (the detector's own rules). Plain C++.
#ifndef FLSENTRY_DETECTOR_CLIENT_REFERENCES_H_
#define FLSENTRY_DETECTOR_CLIENT_REFERENCES_H_

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"

namespace flsentry {

inline constexpr size_t kMaxClientReferences = 4096;

// An embedding that never changes once made, shared by whoever keeps it
// (the round last scored, the refresh window, the references, a copy of
// the detector): copying one copies a pointer. Thread-safe to read.
using SharedEmbedding = std::shared_ptr<const std::vector<float>>;

class ClientReferences {
 public:
  // dim: the embedding's size (> 0).
  explicit ClientReferences(int64_t dim) : dim_(dim) {}

  // Cosine of `embedding` (dim floats) with the client's reference, in
  // [-1, 1]; NaN when the client has none or either vector is zero.
  double Consistency(const std::string& client,
                     std::span<const float> embedding) const;

  // Cosine of `embedding` with the client's rejected direction and the
  // round it was rejected in; {NaN, 0} when the client has none.
  std::pair<double, uint64_t> RejectedSimilarity(
      const std::string& client, std::span<const float> embedding) const;

  // Makes `embedding` (dim floats; another size is ignored) the client's
  // reference as of `round`. OWNERSHIP: shares `embedding`.
  void Update(const std::string& client, uint64_t round,
              SharedEmbedding embedding);

  // Makes `embedding` the client's rejected direction as of `round`, unless
  // the client has a (clean) reference. OWNERSHIP: shares `embedding`.
  void Reject(const std::string& client, uint64_t round,
              SharedEmbedding embedding);

  // Makes `round` the round of the client's rejected direction, when it has
  // one from an earlier round; the embedding stays. Nothing for a client
  // with a reference or none.
  void Renew(const std::string& client, uint64_t round);

  size_t size() const { return refs_.size(); }

  // [{"client", "round", "embedding" (base64 floats)[, "rejected": true]}],
  // sorted by client.
  nlohmann::json ToJson() const;
  // Replaces the contents. Errors: kState naming what is wrong (not an
  // array, a malformed entry, a wrong-sized embedding, a client twice, more
  // than kMaxClientReferences). Unchanged on error.
  Status FromJson(const nlohmann::json& json);

 private:
  struct Reference {
    uint64_t round = 0;
    SharedEmbedding embedding;  // never null, dim floats
    double norm = 0;            // L2 norm of `embedding`
    bool rejected = false;      // a rejected direction, not a reference
  };
  // Cosine with `ref`; NaN when a norm is 0 or the sizes differ.
  double Cosine(const Reference& ref, std::span<const float> embedding) const;
  void Set(const std::string& client, uint64_t round, SharedEmbedding embedding,
           bool rejected);
  // Forgets the first client of by_age_. O(log size).
  void EvictOldest();

  int64_t dim_;
  std::map<std::string, Reference> refs_;
  // (round, client) of every entry of refs_, oldest first: the eviction
  // order. Kept so that eviction at a few thousand clients does not scan
  // them all for each new one.
  std::set<std::pair<uint64_t, std::string>> by_age_;
};

}  // namespace flsentry

#endif  // FLSENTRY_DETECTOR_CLIENT_REFERENCES_H_
