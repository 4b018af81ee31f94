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

TEST_CASE("opening where no file can be is an I/O error") {
  auto log = AuditLog::Open("/proc/self/status/audit.jsonl");
  REQUIRE_FALSE(log.ok());
  CHECK(log.status().code() == ErrorCode::kIo);
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
  const std::vector<std::string> fields = {"action",
                                           "centrality",
                                           "client",
                                           "client_factor",
                                           "client_status",
                                           "consistency",
                                           "examples_limit",
                                           "failsafe",
                                           "flags",
                                           "max_similarity",
                                           "norm",
                                           "num_examples",
                                           "probation_end",
                                           "quarantine_end",
                                           "reason",
                                           "reputation",
                                           "round",
                                           "score",
                                           "score_ratio",
                                           "strike_weight",
                                           "strikes",
                                           "suspicion",
                                           "suspicious_round",
                                           "threshold",
                                           "thresholds",
                                           "typicality",
                                           "weight"};
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
