// Tests of filter_engine.h, second file (the first is filter_engine_test.cc):
// rounds as transactions, round numbers and retries, client identity, and
// inputs at the edges (huge values, a changed model, two instances on one
// file). Each case would fail on the engine before issue 13.
#include <doctest/doctest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "base/file_writer.h"
#include "detector/autoencoder.h"
#include "detector/detector_file.h"
#include "engine/engine_fixture.h"
#include "engine/filter_engine.h"
#include "engine/synthetic_round.h"
#include "features/feature_extractor.h"

namespace flsentry {
namespace {

using namespace engine_test;
using nlohmann::json;

constexpr const char* kDropOversized =
    "guards: {norm: {mode: drop}}\nquarantine: {strikes: 1, rounds: 5}\n";

std::vector<json> AuditLines(const fs::path& path) {
  std::vector<json> lines;
  std::istringstream in(ReadFile(path));
  for (std::string line; std::getline(in, line);) {
    lines.push_back(json::parse(line));  // throws on a torn or glued line
  }
  return lines;
}

json PolicyState(const FilterEngine& engine) { return Saved(engine)["policy"]; }

void CheckSame(const std::vector<Decision>& a, const std::vector<Decision>& b) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CAPTURE(i);
    CHECK(a[i].action == b[i].action);
    CHECK(a[i].flags == b[i].flags);
    CHECK(a[i].weight == b[i].weight);
    CHECK(a[i].reason == b[i].reason);
    CHECK((a[i].score == b[i].score ||
           (std::isnan(a[i].score) && std::isnan(b[i].score))));
  }
}

TEST_CASE(
    "a round whose state cannot be saved changes nothing, and its retry "
    "counts once") {
  const fs::path dir = FreshDir("engine_rounds", "unsaved");
  auto engine = MustOpen(Persisted(dir, kDropOversized));
  Filter(*engine, *MakeRound(1, 6));
  const std::string file_before = ReadFile(dir / "state.json");
  const std::string audit_before = ReadFile(dir / "audit.jsonl");
  const std::string memory_before = *engine->SaveState();
  // The save cannot create its temporary file (a directory is in the way;
  // chmod would not stop root).
  const std::string temp = TempPathFor((dir / "state.json").string());
  fs::create_directory(temp);
  auto attack = Oversized(2);
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto failed = engine->FilterRound(attack->round);
    REQUIRE_FALSE(failed.ok());
    CHECK(failed.status().code() == ErrorCode::kRoundFailed);
    CHECK(failed.status().message().find(temp) != std::string::npos);
    CHECK(ReadFile(dir / "state.json") == file_before);
    CHECK(ReadFile(dir / "audit.jsonl") == audit_before);
    CHECK(*engine->SaveState() == memory_before);
  }
  fs::remove(temp);
  const std::vector<Decision> retried = Filter(*engine, *attack);

  const fs::path straight_dir = FreshDir("engine_rounds", "unsaved_straight");
  auto straight = MustOpen(Persisted(straight_dir, kDropOversized));
  Filter(*straight, *MakeRound(1, 6));
  CheckSame(retried, Filter(*straight, *attack));
  CHECK(PolicyState(*engine) == PolicyState(*straight));
  CHECK(PolicyState(*engine)["clients"]["client_3"]["reputation"] ==
        doctest::Approx(0.8));
  CHECK(AuditLines(dir / "audit.jsonl").size() == 12);
}

TEST_CASE("an audit log that cannot be written fails the round, cut back") {
  const fs::path dir = FreshDir("engine_rounds", "audit_full");
  auto engine = MustOpen(Persisted(dir));
  Filter(*engine, *MakeRound(1, 6));
  const std::string audit_before = ReadFile(dir / "audit.jsonl");
  const std::string state_before = ReadFile(dir / "state.json");
  // The file size limit lets the round's write start, then refuses it.
  struct rlimit old {};
  REQUIRE(getrlimit(RLIMIT_FSIZE, &old) == 0);
  signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = old;
  small.rlim_cur = audit_before.size() + 100;
  REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
  auto failed = engine->FilterRound(MakeRound(2, 6)->round);
  REQUIRE(setrlimit(RLIMIT_FSIZE, &old) == 0);
  signal(SIGXFSZ, SIG_DFL);
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.status().message().find("audit log") != std::string::npos);
  CHECK(ReadFile(dir / "audit.jsonl") == audit_before);
  CHECK(ReadFile(dir / "state.json") == state_before);
  Filter(*engine, *MakeRound(2, 6));
  const std::vector<json> lines = AuditLines(dir / "audit.jsonl");
  REQUIRE(lines.size() == 12);
  CHECK(lines[11]["round"] == 2);
  CHECK(lines[11]["update"] == 5);
  CHECK(lines[11]["updates"] == 6);
}

TEST_CASE("a lower round number is refused and changes nothing") {
  const fs::path dir = FreshDir("engine_rounds", "lower");
  auto engine = MustOpen(Persisted(dir));
  Filter(*engine, *MakeRound(5, 6));
  const std::string state = ReadFile(dir / "state.json");
  auto refused = engine->FilterRound(Oversized(4)->round);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == ErrorCode::kRoundNumber);
  CHECK(refused.status().message().find(
            "round 4 is lower than the last round filtered, 5") !=
        std::string::npos);
  CHECK(refused.status().message().find("state.json") != std::string::npos);
  CHECK(ReadFile(dir / "state.json") == state);
}

TEST_CASE("a round too far ahead is refused; rounds.max_gap says how far") {
  auto engine = MustOpen("");
  Filter(*engine, *MakeRound(1, 6));
  auto far = engine->FilterRound(MakeRound(1002, 6)->round);
  REQUIRE_FALSE(far.ok());
  CHECK(far.status().code() == ErrorCode::kRoundNumber);
  CHECK(far.status().message().find("rounds.max_gap (1000)") !=
        std::string::npos);
  Filter(*engine, *MakeRound(1001, 6));

  auto tight = MustOpen("rounds: {max_gap: 5}");
  Filter(*tight, *MakeRound(1, 6));
  CHECK(tight->FilterRound(MakeRound(7, 6)->round).status().code() ==
        ErrorCode::kRoundNumber);
  Filter(*tight, *MakeRound(6, 6));
}

TEST_CASE("a stray round 10^12 does not stretch a quarantine") {
  auto engine = MustOpen(kDropOversized);
  Filter(*engine, *MakeRound(1, 6));
  CHECK_FALSE(engine->FilterRound(Oversized(1'000'000'000'000)->round).ok());
  const std::vector<Decision> d = Filter(*engine, *Oversized(2));
  CHECK(d[3].reason == "quarantined");
  CHECK(PolicyState(*engine)["clients"]["client_3"]["quarantine_end"] == 7);
}

TEST_CASE(
    "the same round sent again returns its decisions and counts once, also "
    "after a restart") {
  const fs::path dir = FreshDir("engine_rounds", "retry");
  const std::string policy = Persisted(dir, kDropOversized);
  auto engine = MustOpen(policy);
  Filter(*engine, *MakeRound(1, 6));
  auto attack = Oversized(2);
  const std::vector<Decision> first = Filter(*engine, *attack);
  CHECK(first[3].reason == "quarantined");
  const std::string state = ReadFile(dir / "state.json");
  const std::string audit = ReadFile(dir / "audit.jsonl");
  const std::string memory = *engine->SaveState();
  for (int again = 0; again < 3; ++again) {
    CheckSame(Filter(*engine, *attack), first);
    CHECK(ReadFile(dir / "state.json") == state);
    CHECK(ReadFile(dir / "audit.jsonl") == audit);
    CHECK(*engine->SaveState() == memory);
  }
  engine.reset();  // a host that crashed between filtering and averaging
  engine = MustOpen(policy);
  CheckSame(Filter(*engine, *attack), first);
  CHECK(ReadFile(dir / "audit.jsonl") == audit);
  Filter(*engine, *MakeRound(3, 6));
  CHECK(PolicyState(*engine)["clients"]["client_0"]["rounds_seen"] == 3);
}

TEST_CASE("the same round number with other updates is refused") {
  auto engine = MustOpen("");
  Filter(*engine, *MakeRound(1, 6));
  Filter(*engine, *MakeRound(2, 6));
  auto changed = MakeRound(2, 6);
  changed->w[4][0] += 1.0f;
  auto refused = engine->FilterRound(changed->round);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == ErrorCode::kRoundNumber);
  CHECK(refused.status().message().find("already filtered with other") !=
        std::string::npos);
  CHECK_FALSE(engine->FilterRound(MakeRound(2, 5)->round).ok());
  Filter(*engine, *MakeRound(3, 6));
}

TEST_CASE(
    "a repeated round number with another model is refused, the detector "
    "not rebuilt") {
  std::vector<std::string> log;
  auto engine = MustOpen(
      "detector: {bootstrap: {enabled: true, sketch_dim: 64, hidden: [8]}, "
      "refresh: {warmup_rounds: 1, warmup_epochs: 2}}",
      &log);
  Filter(*engine, *MakeRound(1, 6));
  const std::string memory = *engine->SaveState();
  auto other = engine->FilterRound(MakeRound(1, 6, {}, 40)->round);
  REQUIRE_FALSE(other.ok());
  CHECK(other.status().code() == ErrorCode::kRoundNumber);
  CHECK(*engine->SaveState() == memory);
  for (const std::string& line : log) {
    CHECK(line.find("rebuilt") == std::string::npos);
  }
}

TEST_CASE("updates sharing a client id are dropped and charged to no client") {
  const fs::path dir = FreshDir("engine_rounds", "shared_id");
  auto engine = MustOpen(Persisted(dir, kDropOversized));
  Filter(*engine, *MakeRound(1, 6));
  const json before = PolicyState(*engine)["clients"]["client_2"];
  auto r = Oversized(2, 4);
  r->round.updates[4].client_id = "client_2";  // claims client_2's id
  const std::vector<Decision> d = Filter(*engine, *r);
  for (size_t i : {2u, 4u}) {
    CAPTURE(i);
    CHECK(d[i].action == Action::kDrop);
    CHECK(d[i].reason == "invalid");
    CHECK((d[i].flags & kFlagInvalid) != 0);
  }
  CHECK(d[0].action == Action::kAccept);
  CHECK(PolicyState(*engine)["clients"]["client_2"] == before);
  int unattributed = 0;
  for (const json& line : AuditLines(dir / "audit.jsonl")) {
    if (!line["client"].is_null()) continue;
    ++unattributed;
    CHECK(line["claimed_client"] == "client_2");
    CHECK_FALSE(line.contains("strikes"));
  }
  CHECK(unattributed == 2);
}

TEST_CASE(
    "a malformed update is not charged to a client named after its index") {
  auto engine = MustOpen("quarantine: {strikes: 1}");
  auto r = MakeRound(1, 6);
  r->round.updates[1].client_id = "#4";  // a real client with that name
  r->round.updates[4].client_id.clear();
  r->round.updates[4].invalid_reason = "update #4: empty client id";
  const std::vector<Decision> d = Filter(*engine, *r);
  CHECK(d[4].reason == "invalid");
  CHECK(d[1].action == Action::kAccept);
  const json clients = PolicyState(*engine)["clients"];
  CHECK(clients.size() == 5);
  CHECK(clients["#4"]["strikes"].empty());
  CHECK(clients["#4"]["reputation"] == 1.0);
}

// Writes a detector directory for MakeRound's model (sketch 64, 16-4).
std::string WriteSmallDetector(const fs::path& dir) {
  auto r = MakeRound(1, 2);
  DetectorMetadata meta;
  meta.features.sketch_dim = 64;
  auto layout = SelectLayout(meta.features, r->round.updates[0].tensors);
  REQUIRE(layout.ok());
  meta.layout = std::move(layout).value();
  meta.layer_sizes = {64, 16, 4, 64};
  auto net = Autoencoder::Create(meta.layer_sizes, 1);
  REQUIRE(net.ok());
  const std::vector<WeightArray> weights = (*net)->ExportWeights();
  std::vector<TensorView> views;
  for (const WeightArray& w : weights) views.push_back(w.view());
  const std::string path = (dir / "detector").string();
  REQUIRE(WriteDetectorDir(path, meta, views).ok());
  return path;
}

TEST_CASE(
    "a detector from a directory meeting another model fails the round and "
    "says what to do") {
  const fs::path dir = FreshDir("engine_rounds", "detector_dir");
  const std::string detector = WriteSmallDetector(dir);
  auto engine = MustOpen(Persisted(
      dir, "detector: {path: " + detector + ", refresh: {enabled: false}}\n"));
  Filter(*engine, *MakeRound(1, 6));
  const std::string state = ReadFile(dir / "state.json");
  const std::string audit = ReadFile(dir / "audit.jsonl");
  auto failed = engine->FilterRound(MakeRound(2, 6, {}, 40)->round);
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.status().code() == ErrorCode::kRoundFailed);
  const std::string& message = failed.status().message();
  CHECK(message.find("the model changed") != std::string::npos);
  CHECK(message.find(detector) != std::string::npos);
  CHECK(message.find("detector.bootstrap") != std::string::npos);
  CHECK(ReadFile(dir / "state.json") == state);
  CHECK(ReadFile(dir / "audit.jsonl") == audit);
}

// A round of six f64 updates of one tensor, update 3 holding `big`.
struct F64Round {
  std::vector<std::vector<double>> values;
  std::vector<int64_t> shape = {8};
  RoundInput round;
};

std::unique_ptr<F64Round> F64RoundWith(double big) {
  auto r = std::make_unique<F64Round>();
  r->round.round = 1;
  for (int i = 0; i < 6; ++i) {
    std::vector<double> v(8);
    for (int k = 0; k < 8; ++k) v[k] = 0.1 * (1 + (i + k) % 3);
    if (i == 3) v[5] = big;
    r->values.push_back(std::move(v));
  }
  for (int i = 0; i < 6; ++i) {
    UpdateInput u;
    u.client_id = "client_" + std::to_string(i);
    u.num_examples = 10;
    u.tensors.push_back({"w", DType::kF64, r->shape, {}, r->values[i].data()});
    r->round.updates.push_back(std::move(u));
  }
  return r;
}

std::string ShippedPolicy(const std::string& name) {
  return ReadFile(fs::path(FLSENTRY_SOURCE_DIR) / "configs" / name);
}

TEST_CASE(
    "an update whose norm overflows f64 is dropped as oversized and struck, "
    "in every policy") {
  const fs::path dir = FreshDir("engine_rounds", "oversized");
  for (const std::string& policy :
       {std::string(""), ShippedPolicy("default.yaml"),
        ShippedPolicy("lenient.yaml"), ShippedPolicy("strict.yaml")}) {
    fs::remove_all(dir);
    fs::create_directories(dir);
    auto created = FilterEngine::Create(policy, dir.string(), nullptr);
    REQUIRE(created.ok());
    auto r = F64RoundWith(2e154);
    auto decided = (*created)->FilterRound(r->round);
    REQUIRE(decided.ok());
    const Decision& d = (*decided)[3];
    CHECK(d.action == Action::kDrop);
    CHECK(d.reason == "oversized");
    CHECK((d.flags & kFlagNormGuard) != 0);
    const json client = PolicyState(**created)["clients"]["client_3"];
    CHECK(client["strikes"].size() + client["quarantines"].get<size_t>() == 1);
    CHECK((*decided)[0].action == Action::kAccept);
  }
}

TEST_CASE("an f32 update with a value of 1e20 is judged, not accepted whole") {
  const fs::path dir = FreshDir("engine_rounds", "huge_f32");
  for (const std::string& policy :
       {std::string(""), ShippedPolicy("lenient.yaml")}) {
    auto created = FilterEngine::Create(policy, dir.string(), nullptr);
    REQUIRE(created.ok());
    auto r = MakeRound(1, 6);
    r->w[3][7] = 1e20f;
    auto decided = (*created)->FilterRound(r->round);
    REQUIRE(decided.ok());
    const Decision& d = (*decided)[3];
    CHECK(d.weight < 1e-6);
    CHECK(d.reason != "score_failed_accepted");
    CHECK((d.flags & (kFlagNormGuard | kFlagAnomalous)) != 0);
    fs::remove_all(dir);
  }
}

TEST_CASE(
    "a second instance on the same state file or audit log is refused at "
    "create, naming the file and the holder") {
  const fs::path dir = FreshDir("engine_rounds", "two_writers");
  auto first = MustOpen(Persisted(dir));
  auto second = FilterEngine::Create(Persisted(dir), "", nullptr);
  REQUIRE_FALSE(second.ok());
  CHECK(second.status().code() == ErrorCode::kState);
  const std::string& message = second.status().message();
  CHECK(message.find((dir / "state.json").string() + " is in use") !=
        std::string::npos);
  CHECK(message.find("process " + std::to_string(getpid()) +
                     ", this process") != std::string::npos);
  auto audit_only = FilterEngine::Create(
      "audit: {path: " + (dir / "audit.jsonl").string() + "}", "", nullptr);
  REQUIRE_FALSE(audit_only.ok());
  CHECK(audit_only.status().message().find("audit log") != std::string::npos);
  first.reset();
  MustOpen(Persisted(dir));
}

TEST_CASE(
    "a round cut off between the audit and the state is set aside on "
    "restart, and a torn line is never glued to the next") {
  const fs::path dir = FreshDir("engine_rounds", "crash_tail");
  const std::string policy = Persisted(dir);
  auto engine = MustOpen(policy);
  Filter(*engine, *MakeRound(1, 6));
  engine.reset();
  const std::string committed = ReadFile(dir / "audit.jsonl");
  for (const std::string& tail :
       {std::string("{\"round\":2,\"update\":0,\"updates\":6}\n{\"rou"),
        committed.substr(0, committed.size() / 2)}) {
    std::ofstream(dir / "audit.jsonl", std::ios::app) << tail;
    std::vector<std::string> log;
    engine = MustOpen(policy, &log);
    CHECK(ReadFile(dir / "audit.jsonl") == committed);
    REQUIRE(log.size() == 1);
    CHECK(log[0].find("moved to " + (dir / "audit.jsonl").string() +
                      ".uncommitted-") != std::string::npos);
    engine.reset();
  }
  engine = MustOpen(policy);
  Filter(*engine, *MakeRound(2, 6));
  CHECK(AuditLines(dir / "audit.jsonl").size() == 12);
}

}  // namespace
}  // namespace flsentry
