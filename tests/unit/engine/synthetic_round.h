// synthetic_round.h — test helper for the engine's tests: rounds of
// synthetic updates (a shared descent direction plus client noise) and the
// buffers they borrow.
#ifndef FLSENTRY_TESTS_UNIT_ENGINE_SYNTHETIC_ROUND_H_
#define FLSENTRY_TESTS_UNIT_ENGINE_SYNTHETIC_ROUND_H_

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "features/round_input.h"

namespace flsentry {

// A model of two tensors, w [32, 16] and b [16].
constexpr int64_t kRows = 32, kCols = 16;

// Updates of one round and the buffers they borrow.
struct SyntheticRound {
  std::vector<std::vector<float>> w, b;
  std::vector<int64_t> w_shape, b_shape;
  RoundInput round;
};

// `n` updates: a per-round common direction plus client noise; the clients
// listed in `flipped` send the negated update (a sign-flip attack).
// `shape_rows` other than kRows builds a round of another model.
inline std::unique_ptr<SyntheticRound> MakeRound(uint64_t number, int n,
                                                 std::vector<int> flipped = {},
                                                 int64_t shape_rows = kRows) {
  auto r = std::make_unique<SyntheticRound>();
  std::mt19937 rng(static_cast<uint32_t>(1000 + number));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> common_w(shape_rows * kCols), common_b(kCols);
  std::mt19937 base(7);  // the shared descent direction, the same every round
  for (float& v : common_w) v = normal(base);
  for (float& v : common_b) v = normal(base);
  r->w.resize(n);
  r->b.resize(n);
  for (int i = 0; i < n; ++i) {
    const float sign =
        std::find(flipped.begin(), flipped.end(), i) != flipped.end() ? -1.f
                                                                      : 1.f;
    const float size = 0.5f + 0.1f * static_cast<float>(i % 3);
    for (float v : common_w)
      r->w[i].push_back(sign * size * (v + 0.3f * normal(rng)));
    for (float v : common_b)
      r->b[i].push_back(sign * size * (v + 0.3f * normal(rng)));
  }
  r->round.round = number;
  r->w_shape = {shape_rows, kCols};
  r->b_shape = {kCols};
  for (int i = 0; i < n; ++i) {
    UpdateInput u;
    u.client_id = "client_" + std::to_string(i);
    u.num_examples = 100;
    u.tensors.push_back({"w", DType::kF32, r->w_shape, {}, r->w[i].data()});
    u.tensors.push_back({"b", DType::kF32, r->b_shape, {}, r->b[i].data()});
    r->round.updates.push_back(std::move(u));
  }
  return r;
}

inline double Norm(const SyntheticRound& r, size_t i) {
  double s = 0;
  for (float v : r.w[i]) s += double{v} * v;
  for (float v : r.b[i]) s += double{v} * v;
  return std::sqrt(s);
}

}  // namespace flsentry

#endif  // FLSENTRY_TESTS_UNIT_ENGINE_SYNTHETIC_ROUND_H_
