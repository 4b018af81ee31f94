// engine_fixture.h — test helper shared by the filter engine's tests
// (filter_engine_test.cc, filter_engine_rounds_test.cc,
// filter_engine_restart_test.cc): fresh directories under the build tree,
// policies that keep their files there, engines that must open and rounds
// that must be filtered (a failure ends the test case with the engine's
// message), and what they leave behind.
#ifndef FLSENTRY_TESTS_UNIT_ENGINE_ENGINE_FIXTURE_H_
#define FLSENTRY_TESTS_UNIT_ENGINE_ENGINE_FIXTURE_H_

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "engine/filter_engine.h"
#include "engine/synthetic_round.h"

namespace flsentry::engine_test {

namespace fs = std::filesystem;

// <build dir>/<group>/<name>, emptied and created.
inline fs::path FreshDir(const std::string& group, const std::string& name) {
  const fs::path dir = fs::path(FLSENTRY_BINARY_DIR) / group / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// A policy with its state file in `dir`, then `extra`.
inline std::string StateOnly(const fs::path& dir,
                             const std::string& extra = "") {
  return "state: {path: " + (dir / "state.json").string() + "}\n" + extra;
}

// A policy with a state file and an audit log in `dir`, then `extra`.
inline std::string Persisted(const fs::path& dir,
                             const std::string& extra = "") {
  return "state: {path: " + (dir / "state.json").string() +
         "}\naudit: {path: " + (dir / "audit.jsonl").string() + "}\n" + extra;
}

// An engine for `policy`; its log lines go to *log when `log` is not null.
inline Result<std::unique_ptr<FilterEngine>> OpenEngine(
    const std::string& policy, std::vector<std::string>* log = nullptr) {
  LogFn sink;
  if (log) sink = [log](LogLevel, std::string_view m) { log->emplace_back(m); };
  return FilterEngine::Create(policy, "", sink);
}

// OpenEngine, which must succeed.
inline std::unique_ptr<FilterEngine> MustOpen(
    const std::string& policy, std::vector<std::string>* log = nullptr) {
  auto engine = OpenEngine(policy, log);
  INFO(engine.status().message());
  REQUIRE(engine.ok());
  return std::move(engine).value();
}

// FilterRound, which must succeed.
inline std::vector<Decision> Filter(FilterEngine& engine,
                                    const SyntheticRound& r) {
  auto decided = engine.FilterRound(r.round);
  INFO(decided.status().message());
  REQUIRE(decided.ok());
  return std::move(decided).value();
}

// A round of 6 in which `client` sends ten times its update: the norm
// guard's case.
inline std::unique_ptr<SyntheticRound> Oversized(uint64_t number,
                                                 int client = 3) {
  auto r = MakeRound(number, 6);
  for (float& v : r->w[client]) v *= 10;
  for (float& v : r->b[client]) v *= 10;
  return r;
}

// The engine's state document.
inline nlohmann::json Saved(const FilterEngine& engine) {
  return nlohmann::json::parse(*engine.SaveState());
}

// A file's bytes ("" when it cannot be read).
inline std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace flsentry::engine_test

#endif  // FLSENTRY_TESTS_UNIT_ENGINE_ENGINE_FIXTURE_H_
