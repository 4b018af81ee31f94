// round_builder.h — test helper: owns tensors and builds an aggf_round that
// points into them, the way a host would.
#ifndef FLSENTRY_TESTS_HOST_ROUND_BUILDER_H_
#define FLSENTRY_TESTS_HOST_ROUND_BUILDER_H_

#include <deque>
#include <string>
#include <vector>

#include "aggfilter.h"

namespace testhost {

struct OwnedTensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> values;
};

// Builds rounds of f32 tensors. Pointers handed out stay valid while the
// builder lives (deques never move their elements).
class RoundBuilder {
 public:
  // Adds an update with one tensor per (name, shape, values) triple.
  aggf_update& AddUpdate(const std::string& client,
                         std::vector<OwnedTensor> tensors,
                         aggf_update_kind kind = AGGF_UPDATE_DELTA) {
    clients_.push_back(client);
    auto& owned = owned_.emplace_back(std::move(tensors));
    auto& c_tensors = c_tensors_.emplace_back();
    for (OwnedTensor& t : owned) c_tensors.push_back(ToC(t));
    aggf_update u{};
    u.client_id = clients_.back().data();
    u.client_id_len = static_cast<uint32_t>(clients_.back().size());
    u.kind = kind;
    u.num_examples = 100;
    u.tensors = c_tensors.data();
    u.num_tensors = static_cast<uint32_t>(c_tensors.size());
    updates_.push_back(u);
    return updates_.back();
  }

  void SetGlobal(std::vector<OwnedTensor> tensors) {
    global_owned_ = std::move(tensors);
    global_c_.clear();
    for (OwnedTensor& t : global_owned_) global_c_.push_back(ToC(t));
  }

  // REQUIRES: no AddUpdate after Build (the update array may move).
  aggf_round Build(uint64_t round_number = 1) {
    update_array_.assign(updates_.begin(), updates_.end());
    aggf_round r{};
    r.struct_size = sizeof r;
    r.round = round_number;
    r.updates = update_array_.empty() ? nullptr : update_array_.data();
    r.num_updates = static_cast<uint32_t>(update_array_.size());
    r.global_tensors = global_c_.empty() ? nullptr : global_c_.data();
    r.num_global_tensors = static_cast<uint32_t>(global_c_.size());
    return r;
  }

  // The C tensor of update `u`, tensor `t`, for tests that corrupt it.
  aggf_tensor& tensor(size_t u, size_t t) { return c_tensors_[u][t]; }
  aggf_update& update(size_t u) { return updates_[u]; }

 private:
  static aggf_tensor ToC(OwnedTensor& t) {
    aggf_tensor c{};
    c.name = t.name.data();
    c.name_len = static_cast<uint32_t>(t.name.size());
    c.dtype = AGGF_DTYPE_F32;
    c.rank = static_cast<int32_t>(t.shape.size());
    c.shape = t.shape.empty() ? nullptr : t.shape.data();
    c.data = t.values.empty() ? nullptr : t.values.data();
    return c;
  }

  std::deque<std::string> clients_;
  std::deque<std::vector<OwnedTensor>> owned_;
  std::deque<std::vector<aggf_tensor>> c_tensors_;
  std::deque<aggf_update> updates_;
  std::vector<aggf_update> update_array_;
  std::vector<OwnedTensor> global_owned_;
  std::vector<aggf_tensor> global_c_;
};

// A small honest-looking update: tensors "w" [2,3] and "b" [3].
inline std::vector<OwnedTensor> SmallModel(float scale = 0.1f) {
  return {{"w", {2, 3}, {scale, -scale, scale, 0, scale, -scale}},
          {"b", {3}, {scale, 0, -scale}}};
}

}  // namespace testhost

#endif  // FLSENTRY_TESTS_HOST_ROUND_BUILDER_H_
