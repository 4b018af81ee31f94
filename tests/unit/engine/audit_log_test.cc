#include "engine/audit_log.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "policy/policy.h"

using namespace flsentry;
namespace fs = std::filesystem;

namespace {

std::vector<nlohmann::json> ReadLines(const fs::path& path) {
  std::ifstream in(path);
  std::vector<nlohmann::json> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

}  // namespace

TEST_CASE("one compact line per record, keys sorted") {
  const std::vector<nlohmann::json> records = {{{"b", 1}, {"a", "x"}},
                                               {{"round", 2}}};
  CHECK(FormatAuditLines(records) == "{\"a\":\"x\",\"b\":1}\n{\"round\":2}\n");
  CHECK(FormatAuditLines({}).empty());
  // Invalid UTF-8 in a client id is replaced, not thrown.
  const std::vector<nlohmann::json> bad = {{{"client", "a\xff"}}};
  CHECK(FormatAuditLines(bad) == "{\"client\":\"a\xEF\xBF\xBD\"}\n");
}

TEST_CASE("rounds append to the file, across reopen") {
  const fs::path dir = fs::path(FLSENTRY_BINARY_DIR) / "audit_log_test";
  fs::remove_all(dir);
  const fs::path path = dir / "logs" / "audit.jsonl";
  {
    auto log = AuditLog::Open(path.string());
    REQUIRE(log.ok());
    const std::vector<nlohmann::json> round1 = {
        {{"round", 1}, {"client", "a"}}, {{"round", 1}, {"client", "b"}}};
    REQUIRE((*log)->AppendRound(round1).ok());
    REQUIRE((*log)->AppendRound({}).ok());
  }
  {
    auto log = AuditLog::Open(path.string());
    REQUIRE(log.ok());
    const std::vector<nlohmann::json> round2 = {
        {{"round", 2}, {"client", "a"}}};
    REQUIRE((*log)->AppendRound(round2).ok());
  }
  const std::vector<nlohmann::json> lines = ReadLines(path);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0]["client"] == "a");
  CHECK(lines[2]["round"] == 2);
  fs::remove_all(dir);
}

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<fs::path> Aside(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().find(".uncommitted-") !=
        std::string::npos) {
      out.push_back(e.path());
    }
  }
  return out;
}

TEST_CASE("lines carry their index in the round and the round's size") {
  const fs::path dir = fs::path(FLSENTRY_BINARY_DIR) / "audit_log_index";
  fs::remove_all(dir);
  auto log = AuditLog::Open((dir / "a.jsonl").string());
  REQUIRE(log.ok());
  REQUIRE((*log)->AppendRound({{{"round", 1}}, {{"round", 1}}}).ok());
  const std::vector<nlohmann::json> lines = ReadLines(dir / "a.jsonl");
  CHECK(lines[1]["update"] == 1);
  CHECK(lines[1]["updates"] == 2);
  CHECK((*log)->end() == fs::file_size(dir / "a.jsonl"));
  REQUIRE((*log)->Truncate(0).ok());
  CHECK(fs::file_size(dir / "a.jsonl") == 0);
}

TEST_CASE(
    "without a recorded end, a torn line and an unfinished round are put "
    "aside") {
  const fs::path dir = fs::path(FLSENTRY_BINARY_DIR) / "audit_log_repair";
  fs::remove_all(dir);
  const fs::path path = dir / "a.jsonl";
  std::string whole;
  {
    auto log = AuditLog::Open(path.string());
    REQUIRE(log.ok());
    REQUIRE((*log)->AppendRound({{{"round", 1}}, {{"round", 1}}}).ok());
    whole = ReadAll(path);
  }
  // A crash mid-round: one whole line of round 2 (of 3), then half a line.
  const std::string tail =
      "{\"round\":2,\"update\":0,\"updates\":3}\n{\"round\":2,\"upd";
  std::ofstream(path, std::ios::app) << tail;
  std::string warning;
  auto log = AuditLog::Open(path.string(), std::nullopt, &warning);
  REQUIRE(log.ok());
  CHECK(ReadAll(path) == whole);
  CHECK((*log)->end() == whole.size());
  CHECK(warning.find(std::to_string(tail.size()) + " bytes") !=
        std::string::npos);
  const std::vector<fs::path> aside = Aside(dir);
  REQUIRE(aside.size() == 1);
  CHECK(ReadAll(aside[0]) == tail);
  // The next round starts on a line of its own.
  REQUIRE((*log)->AppendRound({{{"round", 2}}}).ok());
  CHECK(ReadLines(path).size() == 3);
}

TEST_CASE("with a recorded end, everything after it is put aside") {
  const fs::path dir = fs::path(FLSENTRY_BINARY_DIR) / "audit_log_end";
  fs::remove_all(dir);
  const fs::path path = dir / "a.jsonl";
  uint64_t end = 0;
  {
    auto log = AuditLog::Open(path.string());
    REQUIRE(log.ok());
    REQUIRE((*log)->AppendRound({{{"round", 1}}}).ok());
    end = (*log)->end();
    // A whole round the state never recorded (a crash before its save).
    REQUIRE((*log)->AppendRound({{{"round", 2}}}).ok());
  }
  std::string warning;
  {
    auto log = AuditLog::Open(path.string(), end, &warning);
    REQUIRE(log.ok());
    CHECK(fs::file_size(path) == end);
    CHECK(warning.find("moved to") != std::string::npos);
  }
  // A log shorter than the state says was cut outside: kept, with a note.
  auto shorter = AuditLog::Open(path.string(), end + 50, &warning);
  REQUIRE(shorter.ok());
  CHECK(fs::file_size(path) == end);
  CHECK(warning.find("shorter") != std::string::npos);
}

TEST_CASE("opening where no file can be is an I/O error") {
  auto log = AuditLog::Open("/proc/self/status/audit.jsonl");
  REQUIRE_FALSE(log.ok());
  CHECK(log.status().code() == ErrorCode::kIo);
  auto other = AuditLog::Open("/proc/self/status");  // the lock cannot be made
  CHECK_FALSE(other.ok());
}

TEST_CASE("policy audit records carry every documented field") {
  auto config = ParsePolicyYaml(
      "thresholds: {rules: [{kind: static, name: fixed, value: 1}]}\n");
  REQUIRE(config.ok());
  Policy policy(*config);
  PolicyInput in;
  in.client_id = "c1";
  in.num_examples = 32;
  in.score.score = 0.5;
  in.score.norm = 2.0;
  in.score.scored = true;
  auto out = policy.DecideRound(4, std::vector<PolicyInput>{in}, nullptr);
  REQUIRE(out.ok());
  const nlohmann::json& r = out->audit_records[0];
  // clang-format off
  const std::vector<std::string> fields = {
      "action",             "agreement",
      "centrality",         "client",
      "client_factor",      "client_status",
      "column_peak_share",  "column_share",
      "consistency",        "drift_limit",
      "examples_limit",     "failsafe",
      "flags",              "max_similarity",
      "newcomer_limit",     "norm",
      "norm_limit",         "num_examples",
      "opposition",         "probation_end",
      "quarantine_end",     "reason",
      "rejected_similarity", "reputation",
      "round",              "score",
      "score_ratio",        "strike_weight",
      "strikes",            "suspicion",
      "suspicious_round",   "threshold",
      "thresholds",         "typicality",
      "weight"};
  // clang-format on
  std::vector<std::string> keys;
  for (const auto& item : r.items()) keys.push_back(item.key());
  CHECK(keys == fields);
  CHECK(r["round"] == 4);
  CHECK(r["client"] == "c1");
  CHECK(r["num_examples"] == 32);
  CHECK(r["score"] == 0.5);
  CHECK(r["norm"] == 2.0);
  CHECK(r["thresholds"] == nlohmann::json({{"fixed", 1.0}}));
  CHECK(r["threshold"] == 1.0);
  CHECK(r["action"] == "accept");
  CHECK(r["weight"] == 1.0);
  CHECK(r["reason"] == "ok");
  CHECK(r["flags"] == nlohmann::json::array());
  CHECK(r["client_status"] == "normal");
  CHECK(r["reputation"] == 1.0);
}
