// Tests of detector.h, detector_file.h and detector_train.h's training on
// the fixtures made by tests/fixtures/make_seed_autoencoder.py (real
// PyTorch); import-seed is in detector_train_test.cc.
#include "detector/detector.h"

#include <doctest/doctest.h>
#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/base64.h"
#include "detector/detector_train.h"
#include "synthetic_round.h"
#include "tensor/tensor_file.h"

namespace flsentry {
namespace {

namespace fs = std::filesystem;
using testing::BootstrapSmall;
using testing::Direction;
using testing::SyntheticRound;

const Status& StatusOf(const Status& s) { return s; }
template <typename T>
const Status& StatusOf(const Result<T>& r) {
  return r.status();
}
// REQUIRE that a Status / Result is OK, showing its message when not.
#define REQUIRE_OK(expr)               \
  do {                                 \
    const auto& req_ok_ = (expr);      \
    INFO(StatusOf(req_ok_).message()); \
    REQUIRE(StatusOf(req_ok_).ok());   \
  } while (0)
const std::string kFixtures = std::string(FLSENTRY_FIXTURES) + "/detector";

std::string TempDir() {
  std::string pattern =
      (fs::temp_directory_path() / "flsentry_detector_XXXXXX").string();
  REQUIRE(mkdtemp(pattern.data()) != nullptr);
  return pattern;
}

DetectorTrainConfig SmallConfig() {
  DetectorTrainConfig c;
  c.features.sketch_dim = 64;
  c.hidden = {16, 4};
  c.train.max_epochs = 200;
  c.train.patience = 50;
  c.train.validation_fraction = 0.25;
  return c;
}

// Loaded update files kept alive with the round that borrows them.
struct LoadedRound {
  std::vector<TensorSet> sets;
  RoundInput round;
  std::vector<size_t> all;
};

LoadedRound LoadFiles(const std::vector<std::string>& files,
                      uint64_t number = 1) {
  LoadedRound r;
  r.round.round = number;
  for (const std::string& f : files) {
    auto set = ReadTensorFile(kFixtures + "/" + f);
    REQUIRE_OK(set);
    r.sets.push_back(std::move(set).value());
  }
  for (size_t i = 0; i < r.sets.size(); ++i) {
    UpdateInput u;
    u.client_id = files[i];
    u.tensors = r.sets[i].Views();
    r.round.updates.push_back(std::move(u));
    r.all.push_back(i);
  }
  return r;
}

// Points every tensor of `update` at zeros kept in *store (same shapes).
void MakeZero(UpdateInput& update, std::vector<std::vector<float>>* store) {
  store->reserve(store->size() + update.tensors.size());
  for (TensorView& t : update.tensors) {
    store->emplace_back(t.numel(), 0.0f);
    t.data = store->back().data();
    t.dtype = DType::kF32;
    t.strides = {};
  }
}

std::vector<std::string> BenignFiles() {
  std::vector<std::string> f;
  for (int i = 0; i < 12; ++i)
    f.push_back("updates/update_" + std::string(i < 10 ? "0" : "") +
                std::to_string(i) + ".pth");
  return f;
}

// One trained detector shared by the cases below (training takes a moment).
const std::string& TrainedDetector() {
  static const std::string dir = [] {
    std::string d = TempDir() + "/det";
    auto summary =
        TrainDetector(kFixtures + "/updates", SmallConfig(), d, false);
    REQUIRE_OK(summary);
    return d;
  }();
  return dir;
}

TEST_CASE("train writes a detector whose metadata reads back") {
  auto files = ReadDetectorDir(TrainedDetector());
  REQUIRE_OK(files);
  const DetectorMetadata& m = files->metadata;
  CHECK(m.layer_sizes == std::vector<int64_t>{64, 16, 4, 16, 64});
  CHECK(m.layout.num_coordinates == 75);
  CHECK(m.layout.signature ==
        "fc1.bias[6];fc1.weight[6,8];fc2.bias[3];fc2.weight[3,6]");
  CHECK(m.calibration.count == 12);  // fewer than 20 held out: every row
  CHECK(m.provenance["validation_rows"] == 3);
  CHECK(m.calibration.Quantile(1.0) >= m.calibration.Quantile(0.5));
  CHECK(m.provenance["updates_used"] == 12);
  CHECK(m.provenance["seed"] == 1);
  CHECK(files->weights.tensors.size() == 8);
}

TEST_CASE(
    "scores: benign low, sign-flip and noise high, scaling in the norm "
    "signal") {
  auto d = Detector::Load(TrainedDetector(), DetectorConfig{});
  REQUIRE_OK(d);
  std::vector<std::string> files = BenignFiles();
  files.insert(files.end(),
               {"odd/odd_00.pth", "odd/odd_01.pth", "odd/odd_02.pth"});
  LoadedRound r = LoadFiles(files);
  auto scores = (*d)->ScoreRound(r.round, r.all);
  REQUIRE_OK(scores);
  REQUIRE(scores->size() == 15);
  double max_benign = 0;
  for (int i = 0; i < 12; ++i) {
    CHECK((*scores)[i].scored);
    CHECK(std::fabs((*scores)[i].log_norm_ratio) < 0.5);
    max_benign = std::max(max_benign, (*scores)[i].score);
  }
  CHECK((*scores)[12].score > max_benign);               // sign flip
  CHECK((*scores)[13].score > max_benign);               // noise
  CHECK((*scores)[14].log_norm_ratio > std::log(10.0));  // x20 scaled
}

TEST_CASE("column shares: energy in a column the round leaves quiet") {
  auto d = Detector::Load(TrainedDetector(), DetectorConfig{});
  REQUIRE_OK(d);
  LoadedRound r = LoadFiles(BenignFiles());
  // Update 11's fc1.weight [6 x 8] (the profiled tensor) gets 10 x its
  // largest value added down input column 0.
  TensorView& w = r.round.updates[11].tensors[0];
  REQUIRE(w.name == "fc1.weight");
  REQUIRE(w.dtype == DType::kF32);
  const auto* src = static_cast<const float*>(w.data);
  std::vector<float> trigger(src, src + w.numel());
  float largest = 0;
  for (float v : trigger) largest = std::max(largest, std::fabs(v));
  for (size_t row = 0; row < 6; ++row) trigger[row * 8] += 10 * largest;
  w.data = trigger.data();
  auto scores = (*d)->ScoreRound(r.round, r.all);
  REQUIRE_OK(scores);
  for (size_t i = 0; i < 11; ++i) {
    CAPTURE(i);
    CHECK((*scores)[i].column_share < 0.3);  // false for NaN
    CHECK((*scores)[i].column_peak_share <= (*scores)[i].column_share);
  }
  CHECK((*scores)[11].column_share > 0.5);
  // 8 columns, fewer than kPeakColumns: the peak is all of the share.
  CHECK((*scores)[11].column_peak_share == (*scores)[11].column_share);
  SUBCASE("not measured where the column guard is off") {
    DetectorConfig off;
    off.column_energy = false;  // ParsePolicyYaml: guards.columns.enabled
    auto without = Detector::Load(TrainedDetector(), off);
    REQUIRE_OK(without);
    auto unmeasured = (*without)->ScoreRound(r.round, r.all);
    REQUIRE_OK(unmeasured);
    for (const UpdateScore& s : *unmeasured) {
      CHECK(std::isnan(s.column_share));
      CHECK(std::isnan(s.column_peak_share));
    }
  }
  SUBCASE("fewer than kMinColumnRound updates: no share") {
    const std::vector<size_t> four = {0, 1, 2, 11};
    auto few = (*d)->ScoreRound(r.round, four);
    REQUIRE_OK(few);
    for (size_t i : four) CHECK(std::isnan((*few)[i].column_share));
  }
}

TEST_CASE("only eligible updates are scored; bad updates get a reason") {
  auto d = Detector::Load(TrainedDetector(), DetectorConfig{});
  REQUIRE_OK(d);
  LoadedRound r = LoadFiles({"updates/update_00.pth", "updates/update_01.pth",
                             "updates/update_02.pth"});
  std::vector<float> nan_data(48, NAN), zeros(48, 0.0f);
  // Update 1 with a NaN-filled fc1.weight, update 2 all zeros (same layout).
  UpdateInput& nan_update = r.round.updates[1];
  for (TensorView& t : nan_update.tensors) {
    if (t.name == "fc1.weight") {
      t.data = nan_data.data();
      t.dtype = DType::kF32;
    }
  }
  std::vector<std::vector<float>> zero_store;
  MakeZero(r.round.updates[2], &zero_store);
  const std::vector<size_t> eligible = {1, 2};
  auto scores = (*d)->ScoreRound(r.round, eligible);
  REQUIRE_OK(scores);
  CHECK(std::isnan((*scores)[0].score));
  CHECK((*scores)[0].error.empty());
  CHECK((*scores)[1].nonfinite == 48);
  CHECK((*scores)[1].error.find("nonfinite") == 0);
  CHECK_FALSE((*scores)[1].scored);
  CHECK((*scores)[2].norm == 0.0);
  CHECK((*scores)[2].error.find("zero update") == 0);
}

TEST_CASE(
    "an update that cannot be embedded leaves the others' scores as they are") {
  // The scored rows are compacted in place past the zero update: each
  // keeps its own row, so its scores equal those of a round without it.
  auto with = Detector::Load(TrainedDetector(), DetectorConfig{});
  auto without = Detector::Load(TrainedDetector(), DetectorConfig{});
  REQUIRE_OK(with);
  REQUIRE_OK(without);
  std::vector<std::string> files = BenignFiles();
  files.resize(5);
  LoadedRound r = LoadFiles(files);
  LoadedRound kept = LoadFiles({files[0], files[2], files[3], files[4]});
  std::vector<std::vector<float>> zero_store;
  MakeZero(r.round.updates[1], &zero_store);
  auto scores = (*with)->ScoreRound(r.round, r.all);
  auto expected = (*without)->ScoreRound(kept.round, kept.all);
  REQUIRE_OK(scores);
  REQUIRE_OK(expected);
  CHECK((*scores)[1].error.find("zero update") == 0);
  const size_t in_round[] = {0, 2, 3, 4};
  for (size_t k = 0; k < 4; ++k) {
    const UpdateScore& got = (*scores)[in_round[k]];
    CHECK(got.scored);
    CHECK(got.score == (*expected)[k].score);
    CHECK(got.max_similarity == (*expected)[k].max_similarity);
    CHECK(got.embedding_hash == (*expected)[k].embedding_hash);
  }
}

TEST_CASE("a round of another model is refused with both layouts named") {
  auto d = Detector::Load(TrainedDetector(), DetectorConfig{});
  REQUIRE_OK(d);
  std::vector<float> w(10, 0.5f);
  const std::vector<int64_t> shape = {10};
  RoundInput round;
  UpdateInput u;
  u.tensors.push_back({"other.weight", DType::kF32, shape, {}, w.data()});
  round.updates.push_back(u);
  const std::vector<size_t> eligible = {0};
  auto scores = (*d)->ScoreRound(round, eligible);
  REQUIRE_FALSE(scores.ok());
  CHECK(scores.status().code() == ErrorCode::kInvalidArgument);
  CHECK(scores.status().message().find("does not match the detector's") !=
        std::string::npos);
  CHECK(scores.status().message().find("fc1.weight[6,8]") != std::string::npos);
}

TEST_CASE("refresh learns from accepted updates; saved state resumes exactly") {
  DetectorConfig config;
  config.refresh.epochs = 2;
  auto a = Detector::Load(TrainedDetector(), config);
  auto b = Detector::Load(TrainedDetector(), config);
  REQUIRE_OK(a);
  REQUIRE_OK(b);
  LoadedRound r1 = LoadFiles(BenignFiles(), 1);
  LoadedRound r2 = LoadFiles(BenignFiles(), 2);
  std::vector<size_t> accepted = {0, 1, 2, 3};
  std::vector<std::string> ids = {"a", "b", "c", "d"};

  auto before = (*a)->ScoreRound(r1.round, r1.all);
  REQUIRE_OK(before);
  REQUIRE_OK((*a)->LearnFromRound(1, accepted, ids));
  CHECK((*a)->rounds_learned() == 1);
  // b starts from a's saved state, as a restarted server would.
  const nlohmann::json saved = (*a)->SaveState();
  CHECK(saved["window"].size() == 4);
  REQUIRE_OK((*b)->LoadState(saved));
  CHECK((*b)->SaveState() == saved);
  auto sa = (*a)->ScoreRound(r2.round, r2.all);
  auto sb = (*b)->ScoreRound(r2.round, r2.all);
  REQUIRE_OK(sa);
  REQUIRE_OK(sb);
  bool changed = false;
  for (size_t i = 0; i < sa->size(); ++i) {
    CHECK((*sa)[i].score == (*sb)[i].score);
    changed |= (*sa)[i].score != (*before)[i].score;
  }
  CHECK(changed);  // the refresh moved the weights
  REQUIRE_OK((*a)->LearnFromRound(2, accepted, ids));
  REQUIRE_OK((*b)->LearnFromRound(2, accepted, ids));
  CHECK((*a)->SaveState() == (*b)->SaveState());

  SUBCASE("learning from a round other than the last scored is refused") {
    CHECK_FALSE((*a)->LearnFromRound(7, accepted, ids).ok());
  }
  SUBCASE(
      "state of another layout or corrupt state is refused, detector "
      "unchanged") {
    nlohmann::json bad = saved;
    bad["layout_signature"] = "x[1]";
    CHECK((*b)->LoadState(bad).code() == ErrorCode::kState);
    bad = saved;
    bad["weights"][0]["data"] = "@@@@";
    CHECK_FALSE((*b)->LoadState(bad).ok());
    // A window row with a NaN would poison every later fine-tune.
    bad = saved;
    const std::string text = saved["window"][0]["embedding"];
    const size_t padding =
        static_cast<size_t>(std::count(text.end() - 2, text.end(), '='));
    auto row = Base64ToFloats(text, (text.size() / 4 * 3 - padding) / 4);
    REQUIRE_OK(row);
    (*row)[3] = NAN;
    bad["window"][0]["embedding"] = FloatsToBase64(*row);
    Status nan_row = (*b)->LoadState(bad);
    CHECK(nan_row.code() == ErrorCode::kState);
    CHECK(nan_row.message() ==
          "detector state: window row with non-finite values");
    CHECK((*b)->SaveState() == (*a)->SaveState());
  }
}

TEST_CASE("a copy keeps the detector's per-layer activations") {
  const std::string dir = TempDir() + "/linear_latent";
  fs::copy(TrainedDetector(), dir);
  std::ifstream in(dir + "/detector.json");
  nlohmann::json meta = nlohmann::json::parse(in);
  meta["architecture"]["activation"] = "per_layer";
  meta["architecture"]["activations"] = {"relu", "none", "relu", "none"};
  std::ofstream(dir + "/detector.json") << meta.dump();
  auto d = Detector::Load(dir, DetectorConfig{});
  REQUIRE_OK(d);
  auto copy = (*d)->Clone();
  REQUIRE_OK(copy);
  LoadedRound r = LoadFiles(BenignFiles());
  auto want = (*d)->ScoreRound(r.round, r.all);
  auto got = (*copy)->ScoreRound(r.round, r.all);
  REQUIRE_OK(want);
  REQUIRE_OK(got);
  for (size_t i = 0; i < want->size(); ++i) {
    CAPTURE(i);
    CHECK((*got)[i].score == (*want)[i].score);  // was ReLU on every layer
  }
}

TEST_CASE("a copy that learns and refreshes leaves the detector as it was") {
  // The copy shares the network until its refresh replaces it: the
  // original's weights, window and scores must not move.
  DetectorConfig config;
  config.refresh.epochs = 2;
  auto d = Detector::Load(TrainedDetector(), config);
  REQUIRE_OK(d);
  LoadedRound r1 = LoadFiles(BenignFiles(), 1);
  LoadedRound r2 = LoadFiles(BenignFiles(), 2);
  REQUIRE_OK((*d)->ScoreRound(r1.round, r1.all));
  const nlohmann::json before = (*d)->SaveState();
  auto copy = (*d)->Clone();
  REQUIRE_OK(copy);
  const std::vector<size_t> accepted = {0, 1, 2, 3};
  const std::vector<std::string> ids = {"a", "b", "c", "d"};
  REQUIRE_OK((*copy)->LearnDeferred(1, accepted, ids));
  auto refreshed = (*copy)->RunPendingRefresh();
  REQUIRE_OK(refreshed);
  REQUIRE(refreshed->ran);
  CHECK((*copy)->SaveState()["weights"] != before["weights"]);
  CHECK((*d)->SaveState() == before);
  auto original = (*d)->ScoreRound(r2.round, r2.all);
  auto fresh = Detector::Load(TrainedDetector(), config);
  REQUIRE_OK(fresh);
  auto expected = (*fresh)->ScoreRound(r2.round, r2.all);
  REQUIRE_OK(original);
  REQUIRE_OK(expected);
  for (size_t i = 0; i < original->size(); ++i) {
    CAPTURE(i);
    CHECK((*original)[i].score == (*expected)[i].score);
  }
}

TEST_CASE("a deferred refresh is saved pending and redone to the same bits") {
  DetectorConfig config;
  config.refresh.epochs = 2;
  auto a = Detector::Load(TrainedDetector(), config);
  auto b = Detector::Load(TrainedDetector(), config);
  auto blocking = Detector::Load(TrainedDetector(), config);
  REQUIRE_OK(a);
  REQUIRE_OK(b);
  REQUIRE_OK(blocking);
  LoadedRound r1 = LoadFiles(BenignFiles(), 1);
  LoadedRound r2 = LoadFiles(BenignFiles(), 2);
  const std::vector<size_t> accepted = {0, 1, 2, 3};
  const std::vector<std::string> ids = {"a", "b", "c", "d"};
  const nlohmann::json fresh = (*a)->SaveState();

  REQUIRE_OK((*a)->ScoreRound(r1.round, r1.all));
  REQUIRE_OK((*a)->LearnDeferred(1, accepted, ids));
  REQUIRE((*a)->pending_refresh().has_value());
  CHECK((*a)->pending_refresh()->round == 1);
  CHECK((*a)->pending_refresh()->epochs == 2);
  const nlohmann::json saved = (*a)->SaveState();
  CHECK(saved["pending_refresh"] ==
        nlohmann::json({{"round", 1}, {"epochs", 2}}));
  CHECK(saved["weights"] == fresh["weights"]);  // not fine-tuned yet
  CHECK(saved["window"].size() == 4);
  auto early = (*a)->ScoreRound(r2.round, r2.all);
  CHECK(early.status().code() == ErrorCode::kInternal);

  // b restarts from the state with the refresh pending.
  REQUIRE_OK((*b)->LoadState(saved));
  CHECK((*b)->SaveState() == saved);
  auto ran_a = (*a)->RunPendingRefresh();
  auto ran_b = (*b)->RunPendingRefresh();
  REQUIRE_OK(ran_a);
  REQUIRE_OK(ran_b);
  CHECK(ran_a->ran);
  CHECK(ran_a->rows == 4);
  CHECK_FALSE((*a)->pending_refresh().has_value());
  CHECK_FALSE((*a)->RunPendingRefresh()->ran);  // nothing left to do
  const nlohmann::json refreshed = (*a)->SaveState();
  CHECK_FALSE(refreshed.contains("pending_refresh"));
  CHECK(refreshed["weights"] != fresh["weights"]);
  CHECK((*b)->SaveState() == refreshed);
  // The same bits as learning and fine-tuning in one call.
  REQUIRE_OK((*blocking)->ScoreRound(r1.round, r1.all));
  REQUIRE_OK((*blocking)->LearnFromRound(1, accepted, ids));
  CHECK((*blocking)->SaveState() == refreshed);

  for (const nlohmann::json& bad_pending :
       {nlohmann::json({{"round", 1}, {"epochs", 0}}),
        nlohmann::json({{"round", -1}, {"epochs", 2}}),
        nlohmann::json({{"round", 1}}), nlohmann::json("soon")}) {
    CAPTURE(bad_pending.dump());
    nlohmann::json bad = saved;
    bad["pending_refresh"] = bad_pending;
    CHECK((*b)->LoadState(bad).code() == ErrorCode::kState);
    CHECK((*b)->SaveState() == refreshed);  // unchanged
  }
}

TEST_CASE(
    "a frozen detector does not change; the window honours the client share") {
  DetectorConfig frozen;
  frozen.refresh.enabled = false;
  auto d = Detector::Load(TrainedDetector(), frozen);
  LoadedRound r = LoadFiles(BenignFiles());
  REQUIRE_OK((*d)->ScoreRound(r.round, r.all));
  const nlohmann::json before = (*d)->SaveState();
  std::vector<size_t> accepted = {0, 1};
  std::vector<std::string> ids = {"a", "b"};
  REQUIRE_OK((*d)->LearnFromRound(1, accepted, ids));
  CHECK((*d)->SaveState() == before);

  DetectorConfig window;
  window.refresh.window_rounds = 2;
  auto w = Detector::Load(TrainedDetector(), window);
  for (uint64_t round = 1; round <= 4; ++round) {
    LoadedRound rr = LoadFiles(BenignFiles(), round);
    REQUIRE_OK((*w)->ScoreRound(rr.round, rr.all));
    // The same client twice in one round counts once: 11 distinct clients.
    std::vector<size_t> acc;
    std::vector<std::string> who;
    for (size_t i = 0; i < rr.all.size(); ++i) {
      acc.push_back(i);
      who.push_back(i == 1 ? "c0" : "c" + std::to_string(i));
    }
    auto learned = (*w)->LearnFromRound(round, acc, who);
    REQUIRE_OK(learned);
    CHECK_FALSE(learned->gated);
    CHECK(learned->rows_learned == 11);
  }
  const nlohmann::json state = (*w)->SaveState();
  REQUIRE(state["window"].size() == 22);  // 2 rounds x 11 distinct clients
  CHECK(state["window"][0]["round"] == 3);
  CHECK(state["references"].size() == 11);
}

TEST_CASE("a round adds, and a refresh trains on, at most max_rows rows") {
  std::vector<std::string> ids = {"c0", "c1", "c2", "c3", "c4", "c5"};
  std::vector<std::vector<float>> rows;
  for (int c = 0; c < 6; ++c) rows.push_back(Direction(c, 1, 1));
  SyntheticRound r1(1, rows, ids);
  DetectorConfig config = testing::SmallConfig();
  config.refresh.warmup_epochs = 2;
  config.refresh.max_rows = 4;
  std::unique_ptr<Detector> d = BootstrapSmall(r1, config);
  REQUIRE_OK(d->ScoreRound(r1.round, r1.all));
  auto learned = d->LearnDeferred(1, {}, {});  // warm-up: all 6 clients
  REQUIRE_OK(learned);
  CHECK(learned->rows_learned == 4);
  const nlohmann::json state = d->SaveState();
  // Evenly spaced over the round: updates 0, 1, 3 and 4 of 6.
  REQUIRE(state["window"].size() == 4);
  std::vector<std::string> kept;
  for (const auto& row : state["window"]) kept.push_back(row["client"]);
  CHECK(kept == std::vector<std::string>{"c0", "c1", "c3", "c4"});
  CHECK(state["references"].size() == 6);  // every client's reference
  auto ran = d->RunPendingRefresh();
  REQUIRE_OK(ran);
  CHECK(ran->rows == 4);
}

TEST_CASE(
    "round gate: a round scoring far above what was learned teaches "
    "nothing") {
  std::vector<std::string> ids = {"c0", "c1", "c2", "c3", "c4", "c5"};
  auto round_of = [&](uint64_t number, int offset, uint64_t seed) {
    std::vector<std::vector<float>> rows;
    for (int c = 0; c < 6; ++c) rows.push_back(Direction(c + offset, 1, seed));
    return SyntheticRound(number, rows, ids);
  };
  SyntheticRound r1 = round_of(1, 0, 1);
  std::unique_ptr<Detector> d = BootstrapSmall(r1);
  REQUIRE_OK(d->ScoreRound(r1.round, r1.all));
  REQUIRE_OK(d->LearnFromRound(1, {}, {}));
  // Round 2 as learned: clean updates teach (scored rows enter the window).
  SyntheticRound r2 = round_of(2, 0, 2);
  REQUIRE_OK(d->ScoreRound(r2.round, r2.all));
  auto learned = d->LearnFromRound(2, r2.all, r2.ids);
  REQUIRE_OK(learned);
  CHECK_FALSE(learned->gated);
  CHECK(learned->rows_learned == 6);
  // Round 3: every client sends a direction never seen: held back.
  SyntheticRound r3 = round_of(3, 50, 3);
  REQUIRE_OK(d->ScoreRound(r3.round, r3.all));
  const nlohmann::json before = d->SaveState();
  auto gated = d->LearnFromRound(3, r3.all, r3.ids);
  REQUIRE_OK(gated);
  CHECK(gated->gated);
  CHECK(gated->rows_learned == 0);
  CHECK(gated->note.find("round 3 not learned") == 0);
  CHECK(d->SaveState()["references"] == before["references"]);
  CHECK(d->SaveState()["weights"] == before["weights"]);
}

TEST_CASE("detector directories with problems give errors naming them") {
  const std::string dir = TempDir();
  auto missing = Detector::Load(dir + "/nope", DetectorConfig{});
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == ErrorCode::kNotFound);
  CHECK(missing.status().message().find(dir + "/nope") == 0);

  const std::string copy = dir + "/copy";
  fs::copy(TrainedDetector(), copy);
  fs::remove(copy + "/weights.safetensors");
  auto no_weights = Detector::Load(copy, DetectorConfig{});
  REQUIRE_FALSE(no_weights.ok());
  CHECK(no_weights.status().message().find("weights.safetensors: missing") !=
        std::string::npos);

  fs::copy(TrainedDetector() + "/weights.safetensors",
           copy + "/weights.safetensors");
  std::ofstream(copy + "/detector.json")
      << "{\"format\": \"flsentry-detector/1\", \"features\": ";
  auto corrupt = Detector::Load(copy, DetectorConfig{});
  REQUIRE_FALSE(corrupt.ok());
  CHECK(corrupt.status().message().find("not valid JSON") != std::string::npos);

  std::ofstream(copy + "/detector.json")
      << "{\"format\": \"flsentry-detector/9\"}";
  auto future = Detector::Load(copy, DetectorConfig{});
  REQUIRE_FALSE(future.ok());
  CHECK(future.status().code() == ErrorCode::kUnsupported);
}

TEST_CASE("detector.json: per-layer activations; without them, the legacy") {
  const std::string copy = TempDir() + "/copy";
  fs::copy(TrainedDetector(), copy);
  std::ifstream in(copy + "/detector.json");
  const nlohmann::json written = nlohmann::json::parse(in);
  const nlohmann::json& arch = written["architecture"];
  CHECK(arch["activation"] == "relu");
  CHECK(arch["activations"] ==
        nlohmann::json({"relu", "relu", "relu", "none"}));
  auto load = [&](const std::function<void(nlohmann::json&)>& edit) {
    nlohmann::json j = written;
    edit(j["architecture"]);
    std::ofstream(copy + "/detector.json") << j.dump();
    return ReadDetectorDir(copy);
  };
  using enum Activation;
  auto legacy = load([](nlohmann::json& a) { a.erase("activations"); });
  REQUIRE_OK(legacy);
  CHECK(legacy->metadata.activations == DefaultActivations(4));
  auto per_layer = load([](nlohmann::json& a) {
    a["activation"] = "per_layer";
    a["activations"] = {"relu", "none", "relu", "none"};
  });
  REQUIRE_OK(per_layer);
  CHECK(per_layer->metadata.activations ==
        std::vector<Activation>{kRelu, kNone, kRelu, kNone});
  CHECK(DetectorMetadataToJson(
            per_layer->metadata)["architecture"]["activation"] == "per_layer");
  auto contradiction = load([](nlohmann::json& a) {
    a["activations"] = {"relu", "none", "relu", "none"};
  });
  REQUIRE_FALSE(contradiction.ok());
  CHECK(contradiction.status().message().find("contradicts") !=
        std::string::npos);
  auto unknown = load([](nlohmann::json& a) {
    a["activation"] = "per_layer";
    a["activations"] = {"relu", "tanh", "relu", "none"};
  });
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.status().code() == ErrorCode::kUnsupported);
  CHECK(unknown.status().message().find("activations[1]: 'tanh'") !=
        std::string::npos);
  auto missing = load([](nlohmann::json& a) {
    a["activation"] = "per_layer";
    a.erase("activations");
  });
  CHECK_FALSE(missing.ok());
  auto short_list = load([](nlohmann::json& a) {
    a["activation"] = "per_layer";
    a["activations"] = {"relu", "none"};
  });
  REQUIRE_FALSE(short_list.ok());
  CHECK(short_list.status().message().find("array of 4 names") !=
        std::string::npos);
}

TEST_CASE("training on an empty folder or a single update is a clear error") {
  const std::string dir = TempDir();
  fs::create_directories(dir + "/empty");
  auto empty =
      TrainDetector(dir + "/empty", SmallConfig(), dir + "/out", false);
  REQUIRE_FALSE(empty.ok());
  fs::create_directories(dir + "/one");
  fs::copy(kFixtures + "/updates/update_00.pth", dir + "/one/update_00.pth");
  auto one = TrainDetector(dir + "/one", SmallConfig(), dir + "/out", false);
  REQUIRE_FALSE(one.ok());
  CHECK(one.status().message().find(
            "1 usable update(s); training needs at least 2") !=
        std::string::npos);
  CHECK_FALSE(fs::exists(dir + "/out/detector.json"));
}

TEST_CASE("train.yaml: defaults, values, and errors naming the key") {
  auto defaults = ParseTrainConfigYaml("");
  REQUIRE_OK(defaults);
  CHECK(defaults->features.sketch_dim == 1024);
  CHECK(defaults->hidden == std::vector<int64_t>{256, 64});
  auto c = ParseTrainConfigYaml(
      "features:\n  mode: identity\n  exclude: ['*.bias']\nautoencoder:\n  "
      "hidden: [32, 8]\n"
      "  max_epochs: 5\ninput:\n  last_round: 6\n");
  REQUIRE_OK(c);
  CHECK(c->features.mode == EmbeddingMode::kIdentity);
  CHECK(c->features.exclude == std::vector<std::string>{"*.bias"});
  CHECK(c->hidden == std::vector<int64_t>{32, 8});
  CHECK(c->train.max_epochs == 5);
  CHECK(c->last_round == 6);
  auto unknown = ParseTrainConfigYaml("autoencoder:\n  epochz: 3\n");
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.status().message().rfind(
            "train config: autoencoder.epochz: unknown key (known here: "
            "hidden, ",
            0) == 0);
  CHECK(unknown.status().message().find("(line 2, column 3)") !=
        std::string::npos);
  // The same strict reader as the policy: keys given twice, quoted numbers
  // and lists of the wrong type are refused, naming the key.
  for (const char* bad :
       {"autoencoder:\n  max_epochs: 3\n  max_epochs: 4\n",
        "autoencoder:\n  max_epochs: \"3\"\n", "autoencoder:\n  hidden: 64\n",
        "features:\n  seed: -1\n", "features:\n  exclude: [[1]]\n",
        "a: 1\n---\nb: 2\n"}) {
    CAPTURE(bad);
    auto refused = ParseTrainConfigYaml(bad);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.status().code() == ErrorCode::kConfig);
    CHECK(refused.status().message().rfind("train config: ", 0) == 0);
  }
  auto seed = ParseTrainConfigYaml("features:\n  seed: 18446744073709551615\n");
  REQUIRE_OK(seed);
  CHECK(seed->features.seed == UINT64_MAX);
  auto range = ParseTrainConfigYaml("features:\n  sketch_dim: 3\n");
  REQUIRE_FALSE(range.ok());
  CHECK(range.status().message().find("features.sketch_dim") !=
        std::string::npos);
  CHECK_FALSE(ParseTrainConfigYaml("features: [").ok());
}

}  // namespace
}  // namespace flsentry
