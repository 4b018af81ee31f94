#include "benchmark_report_metrics.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "base/json_reader.h"

namespace flsentry::bench {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr std::uintmax_t kMaxFileBytes = 512ull << 20;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

Status ReadBounded(const fs::path& path, std::string* out) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return NotFound(path.string() + ": missing");
  const std::uintmax_t size = fs::file_size(path, ec);
  if (ec) return IoError(path.string() + ": " + ec.message());
  if (size > kMaxFileBytes)
    return Corrupt(path.string() + ": larger than 512 MiB");
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in && !in.eof()) return IoError(path.string() + ": read failed");
  *out = text.str();
  return Status::Ok();
}

// A number, or NaN for null (round_results.h writes non-finite as null).
Status NumberOrNull(const json& obj, const char* key, const std::string& where,
                    double* out) {
  const auto it = obj.find(key);
  if (it == obj.end()) return Corrupt(where + ": no '" + key + "'");
  if (it->is_null()) {
    *out = kNaN;
  } else if (it->is_number()) {
    *out = it->get<double>();
  } else {
    return Corrupt(where + ": '" + key + "' is not a number");
  }
  return Status::Ok();
}

Status StringField(const json& obj, const char* key, const std::string& where,
                   std::string* out) {
  const auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) {
    return Corrupt(where + ": '" + key + "' is not a string");
  }
  *out = it->get<std::string>();
  return Status::Ok();
}

// What the rounds tell about the run's honest clients.
struct HonestTally {
  std::set<std::string> malicious_set;  // from summary.json
  std::set<std::string> quarantined;    // honest ids
  std::map<std::string, int> excluded;  // honest id -> rounds dropped
  long malicious_sent = 0;
  long malicious_in_average = 0;
};

// One client of one round into the round's counts and the tally.
Status ParseClient(const json& c, const std::string& where, bool after_warmup,
                   RoundMetrics* r, HonestTally* tally) {
  if (!c.is_object()) return Corrupt(where + ": a client is not an object");
  const auto mal = c.find("malicious");
  if (mal == c.end() || !mal->is_boolean()) {
    return Corrupt(where + ": client 'malicious' is not a boolean");
  }
  std::string id, action, reason;
  FLS_RETURN_IF_ERROR(StringField(c, "id", where + ": client", &id));
  FLS_RETURN_IF_ERROR(StringField(c, "action", where + ": client", &action));
  FLS_RETURN_IF_ERROR(StringField(c, "reason", where + ": client", &reason));
  double weight = 0.0;
  FLS_RETURN_IF_ERROR(NumberOrNull(c, "weight", where + ": client", &weight));
  // A null (non-finite) weight never reaches the average: a drop.
  const bool flagged = action != "accept" || !(weight >= 1.0);
  const bool in_average = weight > 0.0;
  if (mal->get<bool>()) {
    (flagged ? r->counts.tp : r->counts.fn) += 1;
    tally->malicious_sent += 1;
    tally->malicious_in_average += in_average;
  } else {
    (flagged ? r->counts.fp : r->counts.tn) += 1;
  }
  if (!tally->malicious_set.count(id)) {
    if (reason == "quarantined") tally->quarantined.insert(id);
    if (after_warmup && !in_average) tally->excluded[id] += 1;
  }
  return Status::Ok();
}

Status ParseRound(const std::string& line, const std::string& where,
                  int warmup_rounds, RoundMetrics* r, HonestTally* tally) {
  auto parsed = ParseJsonStrict(line);
  if (!parsed.ok()) return Corrupt(where + ": " + parsed.status().message());
  const json& j = *parsed;
  if (!j.is_object()) return Corrupt(where + ": not an object");
  const auto round = j.find("round");
  if (round == j.end() || !round->is_number_integer()) {
    return Corrupt(where + ": 'round' is not an integer");
  }
  r->round = round->get<int>();
  FLS_RETURN_IF_ERROR(NumberOrNull(j, "accuracy", where, &r->accuracy));
  if (j.contains("backdoor_success")) {
    double b = 0.0;
    FLS_RETURN_IF_ERROR(NumberOrNull(j, "backdoor_success", where, &b));
    r->backdoor_success = b;
  }
  const auto clients = j.find("clients");
  if (clients == j.end() || !clients->is_array()) {
    return Corrupt(where + ": 'clients' is not an array");
  }
  for (const json& c : *clients) {
    FLS_RETURN_IF_ERROR(
        ParseClient(c, where, r->round > warmup_rounds, r, tally));
  }
  return Status::Ok();
}

// summary.json: accuracies, times, the malicious set and every honest
// client's own-distribution accuracy.
Status ParseSummary(const std::string& text, const std::string& where,
                    RunMetrics* m, HonestTally* tally) {
  auto parsed = ParseJsonStrict(text);
  if (!parsed.ok()) return Corrupt(where + ": " + parsed.status().message());
  const json& s = *parsed;
  if (!s.is_object()) return Corrupt(where + ": not an object");
  FLS_RETURN_IF_ERROR(
      NumberOrNull(s, "final_accuracy", where, &m->final_accuracy));
  FLS_RETURN_IF_ERROR(
      NumberOrNull(s, "total_seconds", where, &m->total_seconds));
  m->cpu_seconds = kNaN;
  if (s.contains("cpu_seconds")) {
    FLS_RETURN_IF_ERROR(NumberOrNull(s, "cpu_seconds", where, &m->cpu_seconds));
  }
  if (s.contains("final_backdoor_success")) {
    double b = 0.0;
    FLS_RETURN_IF_ERROR(NumberOrNull(s, "final_backdoor_success", where, &b));
    m->final_backdoor_success = b;
  }
  const auto bad = s.find("malicious_clients");
  if (bad == s.end() || !bad->is_array()) {
    return Corrupt(where + ": 'malicious_clients' is not an array");
  }
  for (const json& id : *bad) {
    if (!id.is_string())
      return Corrupt(where + ": a malicious id is no string");
    tally->malicious_set.insert(id.get<std::string>());
  }
  std::vector<double> own;
  const auto clients = s.find("clients");
  if (clients != s.end()) {
    if (!clients->is_array()) return Corrupt(where + ": 'clients' no array");
    for (const json& c : *clients) {
      if (!c.is_object()) return Corrupt(where + ": a client is no object");
      std::string id;
      double acc = 0.0;
      FLS_RETURN_IF_ERROR(StringField(c, "id", where + ": client", &id));
      FLS_RETURN_IF_ERROR(
          NumberOrNull(c, "own_accuracy", where + ": client", &acc));
      if (tally->malicious_set.count(id)) continue;
      ++m->honest_clients;
      tally->excluded.emplace(id, 0);
      if (std::isfinite(acc)) own.push_back(acc);
    }
  }
  double sum = 0.0;
  for (const double a : own) sum += a;
  m->own_accuracy_mean =
      own.empty() ? kNaN : sum / static_cast<double>(own.size());
  m->own_accuracy_worst_decile = WorstDecileMean(std::move(own));
  return Status::Ok();
}

// Derived fields once every round is in.
void Finish(const HonestTally& tally, RunMetrics* m) {
  const size_t k = std::min(m->rounds.size(), static_cast<size_t>(kTailRounds));
  double tail = 0.0;
  for (size_t i = m->rounds.size() - k; i < m->rounds.size(); ++i) {
    const double a = m->rounds[i].accuracy;
    tail += std::isfinite(a) ? a : 0.0;
  }
  m->tail_accuracy = k > 0 ? tail / static_cast<double>(k) : kNaN;
  m->malicious_accepted =
      tally.malicious_sent > 0
          ? static_cast<double>(tally.malicious_in_average) /
                static_cast<double>(tally.malicious_sent)
          : kNaN;
  m->honest_quarantined = static_cast<int>(tally.quarantined.size());
  long excluded = 0;
  for (const auto& [id, rounds] : tally.excluded) {
    excluded += rounds;
    m->honest_excluded_max = std::max(m->honest_excluded_max, rounds);
  }
  const size_t honest = tally.excluded.size();
  m->honest_excluded_mean =
      honest > 0 ? static_cast<double>(excluded) / static_cast<double>(honest)
                 : 0.0;
}

}  // namespace

double Counts::Tpr() const {
  return tp + fn == 0 ? kNaN
                      : static_cast<double>(tp) / static_cast<double>(tp + fn);
}

double Counts::Fpr() const {
  return fp + tn == 0 ? kNaN
                      : static_cast<double>(fp) / static_cast<double>(fp + tn);
}

double WorstDecileMean(std::vector<double> values) {
  if (values.empty()) return kNaN;
  std::sort(values.begin(), values.end());
  const size_t k = std::max<size_t>(1, (values.size() + 9) / 10);
  double sum = 0.0;
  for (size_t i = 0; i < k; ++i) sum += values[i];
  return sum / static_cast<double>(k);
}

Result<RunMetrics> LoadRunMetrics(const std::string& run_dir,
                                  int expected_rounds, int warmup_rounds) {
  const fs::path dir(run_dir);
  RunMetrics m;
  HonestTally tally;
  std::string text;
  const fs::path summary_path = dir / "summary.json";
  FLS_RETURN_IF_ERROR(ReadBounded(summary_path, &text));
  FLS_RETURN_IF_ERROR(ParseSummary(text, summary_path.string(), &m, &tally));

  const fs::path rounds_path = dir / "rounds.jsonl";
  FLS_RETURN_IF_ERROR(ReadBounded(rounds_path, &text));
  std::istringstream lines(text);
  std::string line;
  int line_no = 0;
  while (std::getline(lines, line)) {
    ++line_no;
    if (line.empty()) continue;
    if (static_cast<int>(m.rounds.size()) >= expected_rounds) {
      return InvalidArgument(rounds_path.string() +
                             ": more than the protocol's " +
                             std::to_string(expected_rounds) + " rounds");
    }
    RoundMetrics r;
    const std::string where =
        rounds_path.string() + ":" + std::to_string(line_no);
    FLS_RETURN_IF_ERROR(ParseRound(line, where, warmup_rounds, &r, &tally));
    if (r.round != static_cast<int>(m.rounds.size()) + 1) {
      return Corrupt(where + ": round " + std::to_string(r.round) +
                     " out of order");
    }
    m.counts.Add(r.counts);
    if (r.round > warmup_rounds) m.after_warmup.Add(r.counts);
    m.rounds.push_back(std::move(r));
  }
  if (static_cast<int>(m.rounds.size()) != expected_rounds) {
    return InvalidArgument(
        rounds_path.string() + ": " + std::to_string(m.rounds.size()) +
        " rounds, the protocol has " + std::to_string(expected_rounds));
  }
  Finish(tally, &m);
  return m;
}

}  // namespace flsentry::bench
