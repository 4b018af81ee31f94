#include "benchmark_report_metrics.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

namespace flsentry::bench {
namespace {

namespace fs = std::filesystem;

fs::path FreshDir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() /
                 ("fls_bench_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string Client(const std::string& id, bool malicious,
                   const std::string& action, double weight,
                   const std::string& reason) {
  return R"({"id":")" + id + R"(","malicious":)" +
         (malicious ? "true" : "false") + R"(,"action":")" + action +
         R"(","weight":)" + std::to_string(weight) + R"(,"reason":")" + reason +
         R"("})";
}

std::string Round(int round, double accuracy,
                  const std::vector<std::string>& clients) {
  std::string list;
  for (const std::string& c : clients) list += (list.empty() ? "" : ",") + c;
  return R"({"round":)" + std::to_string(round) + R"(,"accuracy":)" +
         std::to_string(accuracy) + R"(,"clients":[)" + list + "]}\n";
}

// Four clients; c3 is malicious from round 3. Warm-up: 1 round.
fs::path WriteRun() {
  const fs::path dir = FreshDir("metrics");
  std::ofstream(dir / "summary.json") << R"({
    "final_accuracy": 0.8, "total_seconds": 12.5, "cpu_seconds": 3.25,
    "malicious_clients": ["c3"],
    "clients": [
      {"id": "c0", "own_accuracy": 0.9}, {"id": "c1", "own_accuracy": 0.5},
      {"id": "c2", "own_accuracy": null}, {"id": "c3", "own_accuracy": 0.1}]})";
  std::ofstream rounds(dir / "rounds.jsonl");
  // Round 1 (warm-up): c1 dropped, which counts in all rounds only.
  rounds << Round(1, 0.5,
                  {Client("c0", false, "accept", 1, "ok"),
                   Client("c1", false, "drop", 0, "anomalous"),
                   Client("c3", false, "accept", 1, "ok")});
  // Round 2: c1 quarantined; c2 clipped (flagged, still averaged).
  rounds << Round(2, 0.6,
                  {Client("c1", false, "drop", 0, "quarantined"),
                   Client("c2", false, "accept", 0.5, "norm_guard"),
                   Client("c3", false, "accept", 1, "ok")});
  // Round 3: c3 attacks and is down-weighted (flagged, in the average).
  rounds << Round(3, 0.7,
                  {Client("c0", false, "accept", 1, "ok"),
                   Client("c1", false, "drop", 0, "quarantined"),
                   Client("c3", true, "downweight", 0.2, "num_examples")});
  // Round 4: c3 gets through.
  rounds << Round(4, 0.8,
                  {Client("c0", false, "accept", 1, "ok"),
                   Client("c3", true, "accept", 1, "ok")});
  return dir;
}

TEST_CASE("LoadRunMetrics counts honest clients and attackers apart") {
  auto m = LoadRunMetrics(WriteRun().string(), 4, 1);
  REQUIRE_MESSAGE(m.ok(), m.status().message());
  CHECK(m->final_accuracy == 0.8);
  CHECK(m->cpu_seconds == 3.25);
  CHECK(m->counts.fp == 4);  // c1 x3, c2
  CHECK(m->counts.tn == 5);
  CHECK(m->after_warmup.fp == 3);
  CHECK(m->after_warmup.tn == 3);
  CHECK(m->counts.tp == 1);
  CHECK(m->counts.fn == 1);
  CHECK(m->malicious_accepted == 1.0);  // both entered the average
  CHECK(m->honest_clients == 3);
  CHECK(m->honest_quarantined == 1);
  // After warm-up c1 was dropped in rounds 2 and 3; c0 and c2 never.
  CHECK(m->honest_excluded_max == 2);
  CHECK(m->honest_excluded_mean == doctest::Approx(2.0 / 3.0));
  CHECK(m->own_accuracy_mean == doctest::Approx(0.7));  // c2's null skipped
  CHECK(m->own_accuracy_worst_decile == doctest::Approx(0.5));
  CHECK(m->tail_accuracy == doctest::Approx((0.5 + 0.6 + 0.7 + 0.8) / 4));
}

TEST_CASE("LoadRunMetrics refuses unfinished and malformed runs") {
  const fs::path dir = WriteRun();
  CHECK(LoadRunMetrics(dir.string(), 5, 1).status().code() ==
        ErrorCode::kInvalidArgument);
  std::ofstream(dir / "summary.json") << R"({"final_accuracy": 0.8,
    "total_seconds": 1, "malicious_clients": [3]})";
  CHECK(LoadRunMetrics(dir.string(), 4, 1).status().code() ==
        ErrorCode::kCorrupt);
  fs::remove(dir / "summary.json");
  CHECK(LoadRunMetrics(dir.string(), 4, 1).status().code() ==
        ErrorCode::kNotFound);
}

TEST_CASE("LoadRunMetrics refuses a key given twice (ParseJsonStrict)") {
  const fs::path dir = WriteRun();
  // nlohmann alone would keep the last value and accept the run.
  std::ofstream(dir / "summary.json") << R"({"final_accuracy": 0.8,
    "final_accuracy": 0.1, "total_seconds": 1, "malicious_clients": []})";
  const auto m = LoadRunMetrics(dir.string(), 4, 1);
  CHECK(m.status().code() == ErrorCode::kCorrupt);
  CHECK(m.status().message().find("final_accuracy") != std::string::npos);
  CHECK(m.status().message().find("summary.json") != std::string::npos);
}

TEST_CASE("WorstDecileMean averages the lowest tenth, at least one value") {
  CHECK(std::isnan(WorstDecileMean({})));
  CHECK(WorstDecileMean({0.7, 0.2, 0.9}) == 0.2);
  std::vector<double> v;
  for (int i = 20; i >= 1; --i) v.push_back(i / 100.0);
  CHECK(WorstDecileMean(v) == doctest::Approx(0.015));  // 0.01 and 0.02
}

}  // namespace
}  // namespace flsentry::bench
