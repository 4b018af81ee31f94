#include "benchmark_report_metrics.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

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

Status ParseClient(const json& c, const std::string& where, Counts* counts) {
  if (!c.is_object()) return Corrupt(where + ": a client is not an object");
  const auto mal = c.find("malicious");
  const auto action = c.find("action");
  if (mal == c.end() || !mal->is_boolean()) {
    return Corrupt(where + ": client 'malicious' is not a boolean");
  }
  if (action == c.end() || !action->is_string()) {
    return Corrupt(where + ": client 'action' is not a string");
  }
  double weight = 0.0;
  FLS_RETURN_IF_ERROR(NumberOrNull(c, "weight", where + ": client", &weight));
  // A null (non-finite) weight never reaches the average: a drop.
  const bool flagged =
      action->get<std::string>() != "accept" || !(weight >= 1.0);
  if (mal->get<bool>()) {
    (flagged ? counts->tp : counts->fn) += 1;
  } else {
    (flagged ? counts->fp : counts->tn) += 1;
  }
  return Status::Ok();
}

Status ParseRound(const std::string& line, const std::string& where,
                  RoundMetrics* r) {
  json j;
  try {
    j = json::parse(line);
  } catch (const json::exception& e) {
    return Corrupt(where + ": not JSON (" + e.what() + ")");
  }
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
  for (const json& c : *clients)
    FLS_RETURN_IF_ERROR(ParseClient(c, where, &r->counts));
  return Status::Ok();
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

Result<RunMetrics> LoadRunMetrics(const std::string& run_dir,
                                  int expected_rounds) {
  const fs::path dir(run_dir);
  RunMetrics m;
  std::string text;
  const fs::path summary_path = dir / "summary.json";
  FLS_RETURN_IF_ERROR(ReadBounded(summary_path, &text));
  try {
    const json s = json::parse(text);
    if (!s.is_object())
      return Corrupt(summary_path.string() + ": not an object");
    FLS_RETURN_IF_ERROR(NumberOrNull(s, "final_accuracy", summary_path.string(),
                                     &m.final_accuracy));
    FLS_RETURN_IF_ERROR(NumberOrNull(s, "total_seconds", summary_path.string(),
                                     &m.total_seconds));
    if (s.contains("final_backdoor_success")) {
      double b = 0.0;
      FLS_RETURN_IF_ERROR(
          NumberOrNull(s, "final_backdoor_success", summary_path.string(), &b));
      m.final_backdoor_success = b;
    }
  } catch (const json::exception& e) {
    return Corrupt(summary_path.string() + ": not JSON (" + e.what() + ")");
  }

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
    FLS_RETURN_IF_ERROR(ParseRound(line, where, &r));
    if (r.round != static_cast<int>(m.rounds.size()) + 1) {
      return Corrupt(where + ": round " + std::to_string(r.round) +
                     " out of order");
    }
    m.counts.Add(r.counts);
    m.rounds.push_back(std::move(r));
  }
  if (static_cast<int>(m.rounds.size()) != expected_rounds) {
    return InvalidArgument(
        rounds_path.string() + ": " + std::to_string(m.rounds.size()) +
        " rounds, the protocol has " + std::to_string(expected_rounds));
  }
  return m;
}

}  // namespace flsentry::bench
