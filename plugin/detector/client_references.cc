#include "detector/client_references.h"

#include <algorithm>
#include <cmath>

#include "base/base64.h"

namespace flsentry {
namespace {

double Norm(std::span<const float> v) {
  double s = 0;
  for (float x : v) s += double{x} * x;
  return std::sqrt(s);
}

}  // namespace

double ClientReferences::Cosine(const Reference& ref,
                                std::span<const float> embedding) const {
  if (embedding.size() != static_cast<size_t>(dim_)) return NAN;
  const double norm = Norm(embedding);
  if (!(norm > 0) || !(ref.norm > 0)) return NAN;
  double dot = 0;
  for (size_t k = 0; k < embedding.size(); ++k) {
    dot += double{embedding[k]} * (*ref.embedding)[k];
  }
  return std::clamp(dot / (norm * ref.norm), -1.0, 1.0);
}

double ClientReferences::Consistency(const std::string& client,
                                     std::span<const float> embedding) const {
  auto it = refs_.find(client);
  if (it == refs_.end() || it->second.rejected) return NAN;
  return Cosine(it->second, embedding);
}

std::pair<double, uint64_t> ClientReferences::RejectedSimilarity(
    const std::string& client, std::span<const float> embedding) const {
  auto it = refs_.find(client);
  if (it == refs_.end() || !it->second.rejected) return {NAN, 0};
  return {Cosine(it->second, embedding), it->second.round};
}

void ClientReferences::Update(const std::string& client, uint64_t round,
                              SharedEmbedding embedding) {
  Set(client, round, std::move(embedding), /*rejected=*/false);
}

void ClientReferences::Reject(const std::string& client, uint64_t round,
                              SharedEmbedding embedding) {
  auto it = refs_.find(client);
  if (it != refs_.end() && !it->second.rejected) return;
  Set(client, round, std::move(embedding), /*rejected=*/true);
}

void ClientReferences::Renew(const std::string& client, uint64_t round) {
  auto it = refs_.find(client);
  if (it == refs_.end() || !it->second.rejected || round <= it->second.round) {
    return;
  }
  by_age_.erase({it->second.round, client});
  by_age_.emplace(round, client);
  it->second.round = round;
}

void ClientReferences::Set(const std::string& client, uint64_t round,
                           SharedEmbedding embedding, bool rejected) {
  if (!embedding || embedding->size() != static_cast<size_t>(dim_)) return;
  auto [it, inserted] = refs_.try_emplace(client);
  Reference& ref = it->second;
  if (!inserted) by_age_.erase({ref.round, client});
  by_age_.emplace(round, client);
  ref.round = round;
  ref.norm = Norm(*embedding);
  ref.embedding = std::move(embedding);
  ref.rejected = rejected;
  while (refs_.size() > kMaxClientReferences) EvictOldest();
}

void ClientReferences::EvictOldest() {
  const auto oldest = by_age_.begin();
  refs_.erase(oldest->second);
  by_age_.erase(oldest);
}

nlohmann::json ClientReferences::ToJson() const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [client, ref] : refs_) {
    out.push_back({{"client", client},
                   {"round", ref.round},
                   {"embedding", FloatsToBase64(*ref.embedding)}});
    if (ref.rejected) out.back()["rejected"] = true;
  }
  return out;
}

Status ClientReferences::FromJson(const nlohmann::json& json) {
  if (!json.is_array()) {
    return StateError("detector state: references must be an array");
  }
  if (json.size() > kMaxClientReferences) {
    return StateError("detector state: more than " +
                      std::to_string(kMaxClientReferences) + " references");
  }
  std::map<std::string, Reference> refs;
  for (const auto& r : json) {
    if (!r.is_object() || !r.contains("client") ||
        !r.at("client").is_string() || !r.contains("round") ||
        !r.at("round").is_number_unsigned() || !r.contains("embedding") ||
        !r.at("embedding").is_string()) {
      return StateError("detector state: malformed reference");
    }
    Reference ref;
    ref.round = r.at("round").get<uint64_t>();
    if (r.contains("rejected")) {
      if (!r.at("rejected").is_boolean()) {
        return StateError("detector state: reference: rejected must be a bool");
      }
      ref.rejected = r.at("rejected").get<bool>();
    }
    auto embedding = Base64ToFloats(r.at("embedding").get<std::string>(),
                                    static_cast<size_t>(dim_));
    if (!embedding.ok()) {
      return StateError("detector state: reference: " +
                        embedding.status().message());
    }
    ref.embedding = std::make_shared<const std::vector<float>>(
        std::move(embedding).value());
    ref.norm = Norm(*ref.embedding);
    if (!std::isfinite(ref.norm)) {
      return StateError("detector state: reference with non-finite values");
    }
    if (!refs.emplace(r.at("client").get<std::string>(), std::move(ref))
             .second) {
      return StateError("detector state: a client has two references");
    }
  }
  std::set<std::pair<uint64_t, std::string>> by_age;
  for (const auto& [client, ref] : refs) by_age.emplace(ref.round, client);
  refs_ = std::move(refs);
  by_age_ = std::move(by_age);
  return Status::Ok();
}

}  // namespace flsentry
