// Tests of state_checks.h: which detector state a state document may bring
// in under the current policy, and the audit log's recorded end.
#include "engine/state_checks.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "detector/detector.h"
#include "engine/synthetic_round.h"

namespace flsentry {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const json kBootstrapped = {{"detector", {{"metadata", json::object()}}}};
const json kFromDirectory = {{"detector", {{"weights", json::array()}}},
                             {"detector_source", "00000000000000aa"}};

std::unique_ptr<Detector> SomeDetector() {
  auto r = MakeRound(1, 3);
  DetectorConfig config;
  config.bootstrap.enabled = true;
  config.bootstrap.sketch_dim = 64;
  config.bootstrap.hidden = {8};
  std::vector<size_t> all = {0, 1, 2};
  auto d = Detector::Bootstrap(r->round, all, config);
  REQUIRE(d.ok());
  return std::move(d).value();
}

TEST_CASE("a detector state of another kind of detector is refused") {
  DetectorConfig bootstrap;
  bootstrap.bootstrap.enabled = true;
  auto from_dir =
      CheckStateDetector(kFromDirectory, {bootstrap, nullptr, "", ""});
  REQUIRE_FALSE(from_dir.ok());
  CHECK(from_dir.status().code() == ErrorCode::kState);
  CHECK(from_dir.status().message().find("now bootstraps its own") !=
        std::string::npos);
  CHECK(from_dir.status().message().find("del(.detector") != std::string::npos);
  CHECK(CheckStateDetector(kBootstrapped, {bootstrap, nullptr, "", ""})->kind ==
        DetectorRestore::kBootstrapped);

  const auto loaded = SomeDetector();
  DetectorConfig directory;
  const DetectorExpectation expect{directory, loaded.get(), "/d",
                                   "00000000000000aa"};
  auto bootstrapped = CheckStateDetector(kBootstrapped, expect);
  REQUIRE_FALSE(bootstrapped.ok());
  CHECK(bootstrapped.status().message().find(
            "names a detector directory (/d)") != std::string::npos);
  CHECK(CheckStateDetector(kFromDirectory, expect)->kind ==
        DetectorRestore::kIntoLoaded);
  const DetectorExpectation other{directory, loaded.get(), "/d",
                                  "00000000000000bb"};
  auto replaced = CheckStateDetector(kFromDirectory, other);
  REQUIRE_FALSE(replaced.ok());
  CHECK(replaced.status().message().find("another detector directory") !=
        std::string::npos);
}

TEST_CASE("a detector state without a configured detector is dropped, said") {
  DetectorConfig none;
  auto restore = CheckStateDetector(kBootstrapped, {none, nullptr, "", ""});
  REQUIRE(restore.ok());
  CHECK(restore->kind == DetectorRestore::kNone);
  CHECK(restore->warning.find("ignored") != std::string::npos);
  CHECK(CheckStateDetector(json::object(), {none, nullptr, "", ""})
            ->warning.empty());
}

TEST_CASE("a bootstrapped detector must match detector.bootstrap's shape") {
  DetectorMetadata meta;
  meta.features.sketch_dim = 64;
  meta.features.sketch_version = 1;
  meta.layer_sizes = {64, 16, 4, 64};
  DetectorConfig config;
  config.bootstrap.sketch_dim = 64;
  config.bootstrap.hidden = {16, 4};
  CHECK(CheckBootstrapMatches(meta, config).ok());
  config.bootstrap.hidden = {16};
  Status hidden = CheckBootstrapMatches(meta, config);
  REQUIRE_FALSE(hidden.ok());
  CHECK(hidden.message().find("hidden [16, 4]") != std::string::npos);
  CHECK(hidden.message().find("hidden [16]") != std::string::npos);
  config.bootstrap.hidden = {16, 4};
  config.bootstrap.sketch_dim = 128;
  CHECK_FALSE(CheckBootstrapMatches(meta, config).ok());
  config.bootstrap.sketch_dim = 64;
  config.bootstrap.sketch_version = 2;
  CHECK_FALSE(CheckBootstrapMatches(meta, config).ok());
}

TEST_CASE("a detector directory's id follows its files") {
  const fs::path dir = fs::path(FLSENTRY_BINARY_DIR) / "state_checks_det";
  fs::remove_all(dir);
  fs::create_directories(dir);
  CHECK(DetectorSourceId(dir.string()).empty());
  std::ofstream(dir / kDetectorJsonName) << "{}";
  std::ofstream(dir / kDetectorWeightsName) << "weights";
  const std::string id = DetectorSourceId(dir.string());
  CHECK(id.size() == 16);
  std::ofstream(dir / kDetectorWeightsName) << "other weights";
  CHECK(DetectorSourceId(dir.string()) != id);
}

TEST_CASE("the audit log's end counts only for the log it was recorded for") {
  const json state = {{"audit", {{"path", "/a/audit.jsonl"}, {"end", 120}}}};
  CHECK(AuditEndInState(state, "/a/audit.jsonl") == 120u);
  CHECK_FALSE(AuditEndInState(state, "/b/audit.jsonl").has_value());
  CHECK_FALSE(AuditEndInState(json::object(), "/a/audit.jsonl").has_value());
  const json bad = {{"audit", {{"path", "/a/audit.jsonl"}, {"end", -1}}}};
  CHECK_FALSE(AuditEndInState(bad, "/a/audit.jsonl").has_value());
}

}  // namespace
}  // namespace flsentry
