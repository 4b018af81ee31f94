#include "replay/replay_runner.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <tuple>

#include "base/file_reader.h"
#include "base/json_reader.h"
#include "replay/replay_round.h"

namespace flsentry::cli {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kMaxPolicyBytes = 16ull << 20;

Result<std::string> ReadPolicyFile(const std::string& path) {
  auto text = ReadWholeFile(path, kMaxPolicyBytes);
  if (!text.ok()) return text.status().WithContext("policy file");
  return text;
}

std::string AbsoluteDir(const std::string& file) {
  std::error_code ec;
  fs::path abs = fs::absolute(file, ec);
  if (ec) return fs::path(file).parent_path().string();
  return abs.lexically_normal().parent_path().string();
}

void LogToLine(void* user, aggf_log_level level, const char* message,
               uint32_t length) {
  if (level < AGGF_LOG_WARNING || !user || !message) return;
  const auto* sink = static_cast<
      const std::function<void(aggf_log_level, const std::string&)>*>(user);
  if (*sink) (*sink)(level, std::string(message, length));
}

constexpr const char* kAuditFile = "replay_audit.jsonl";
constexpr const char* kStateFile = "replay_state.json";

// For plugins before ABI 1.1 (no on_round_details): ranks the run's
// decisions by the `suspicion` of flsentry's audit records
// (one JSON object per line with `round`, `client`, `suspicion`), when the
// file at `audit_path` has any; other plugins' or unreadable files leave the
// run ranked by score.
void RankBySuspicion(const std::string& audit_path, PolicyRun* run) {
  std::ifstream in(audit_path);
  if (!in) return;
  std::map<std::pair<uint64_t, std::string>, double> suspicion;
  std::string line;
  while (std::getline(in, line)) {
    Result<nlohmann::json> parsed = ParseJsonStrict(line);
    if (!parsed.ok()) continue;
    const nlohmann::json& record = *parsed;
    if (!record.is_object() || !record.contains("suspicion") ||
        !record["round"].is_number_unsigned() ||
        !record["client"].is_string()) {
      continue;
    }
    const nlohmann::json& value = record["suspicion"];
    suspicion[{record["round"].get<uint64_t>(),
               record["client"].get<std::string>()}] =
        value.is_number() ? value.get<double>() : NAN;
  }
  if (suspicion.empty()) return;
  run->ranked_by = "suspicion";
  for (ReplayRound& round : run->rounds) {
    for (ReplayDecision& d : round.decisions) {
      auto it = suspicion.find({d.round, d.client});
      d.rank_score = it == suspicion.end() ? NAN : it->second;
    }
  }
}

// Ranks the run's decisions by the suspicion the plugin gave through
// on_round_details (ABI 1.1), when any decision has one.
void RankByDetails(PolicyRun* run) {
  bool any = false;
  for (const ReplayRound& round : run->rounds) {
    for (const ReplayDecision& d : round.decisions) {
      any = any || !std::isnan(d.decision.suspicion);
    }
  }
  if (!any) return;
  run->ranked_by = "suspicion";
  for (ReplayRound& round : run->rounds) {
    for (ReplayDecision& d : round.decisions) {
      d.rank_score = d.decision.suspicion;
    }
  }
}

}  // namespace

const char* OnUnreadableName(OnUnreadable mode) {
  switch (mode) {
    case OnUnreadable::kDrop:
      return "drop";
    case OnUnreadable::kSkip:
      return "skip";
    case OnUnreadable::kFail:
      return "fail";
  }
  return "drop";
}

bool ParseOnUnreadable(std::string_view text, OnUnreadable* mode) {
  if (text == "drop")
    *mode = OnUnreadable::kDrop;
  else if (text == "skip")
    *mode = OnUnreadable::kSkip;
  else if (text == "fail")
    *mode = OnUnreadable::kFail;
  else
    return false;
  return true;
}

namespace {

// The byte range [begin, end) of the scalar `node` in `text` as written:
// from its mark, a quoted scalar to its closing quote, a plain one for the
// length of its value (a path written plainly is its own text). Nullopt
// when the text at the mark does not hold the value as expected.
std::optional<std::pair<size_t, size_t>> ScalarRange(std::string_view text,
                                                     const YAML::Node& node) {
  const size_t begin = static_cast<size_t>(node.Mark().pos);
  if (node.Mark().is_null() || begin >= text.size()) return std::nullopt;
  const char quote = text[begin];
  if (quote == '"' || quote == '\'') {
    for (size_t i = begin + 1; i < text.size(); ++i) {
      if (quote == '"' && text[i] == '\\') {
        ++i;
      } else if (text[i] == quote) {
        if (quote == '\'' && i + 1 < text.size() && text[i + 1] == '\'') {
          ++i;  // '' is an escaped ' in a single-quoted scalar
          continue;
        }
        return std::pair{begin, i + 1};
      }
    }
    return std::nullopt;
  }
  const std::string& value = node.Scalar();
  if (text.substr(begin, value.size()) != value) return std::nullopt;
  return std::pair{begin, begin + value.size()};
}

// `value` as a double-quoted YAML scalar.
std::string Quoted(const std::string& value) {
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

Result<PreparedPolicy> PreparePolicy(std::string_view policy_text,
                                     const std::string& work_dir) {
  PreparedPolicy prepared{std::string(policy_text), {}, {}};
  YAML::Node root;
  try {
    root = YAML::Load(std::string(policy_text));
  } catch (const std::exception&) {
    return prepared;  // not YAML: the plugin reports it
  }
  if (!root.IsMap()) return prepared;
  static const std::pair<const char*, const char*> kRedirects[] = {
      {"state", kStateFile}, {"audit", kAuditFile}};
  // (begin, end, replacement) per redirected path, spliced from the end so
  // that earlier offsets stay valid.
  std::vector<std::tuple<size_t, size_t, std::string>> splices;
  try {
    for (const auto& [section, file] : kRedirects) {
      const YAML::Node& const_root = root;
      const YAML::Node node = const_root[section];
      if (!node || !node.IsMap() || !node["path"] || !node["path"].IsScalar()) {
        continue;
      }
      const std::string target = (fs::path(work_dir) / file).string();
      std::error_code ec;
      fs::remove(target, ec);
      if (ec) return IoError("cannot remove " + target + ": " + ec.message());
      auto range = ScalarRange(policy_text, node["path"]);
      if (!range) {
        return ConfigError(std::string("cannot redirect the policy's ") +
                           section + ".path: write it on one line");
      }
      const std::string absolute = fs::absolute(target, ec).string();
      prepared.redirects.push_back(std::string(section) + ".path " +
                                   node["path"].Scalar() + " -> " + target);
      splices.emplace_back(range->first, range->second, Quoted(absolute));
      if (std::string(section) == "audit") prepared.audit_path = target;
    }
  } catch (const std::exception& e) {
    return ConfigError(
        std::string("cannot redirect the policy's state/audit paths: ") +
        e.what());
  }
  std::sort(splices.begin(), splices.end(), std::greater<>());
  for (const auto& [begin, end, text] : splices) {
    prepared.text.replace(begin, end - begin, text);
  }
  return prepared;
}

const std::vector<std::string>& ReplayOutputFiles() {
  static const std::vector<std::string> kFiles = {
      "decisions.jsonl",
      "summary.json",
      "report.html",
      "comparison.json",
      kStateFile,
      std::string(kStateFile) + ".tmp",
      std::string(kStateFile) + ".lock",
      kAuditFile,
      std::string(kAuditFile) + ".lock"};
  return kFiles;
}

void RemoveReplayOutputs(const std::string& dir) {
  for (const std::string& name : ReplayOutputFiles()) {
    std::error_code ec;
    fs::remove(fs::path(dir) / name, ec);
  }
}

int64_t TrustedWarmupRounds(std::string_view policy_text) {
  // A key that is missing reads as undefined: tested before its type (a
  // missing node's type throws).
  auto map = [](const YAML::Node& n) { return n && n.IsMap(); };
  auto scalar = [](const YAML::Node& n) { return n && n.IsScalar(); };
  try {
    const YAML::Node root = YAML::Load(std::string(policy_text));
    if (!map(root) || !map(root["detector"])) return 0;
    const YAML::Node detector = root["detector"];
    const YAML::Node bootstrap = detector["bootstrap"];
    const bool has_detector =
        (map(bootstrap) && scalar(bootstrap["enabled"]) &&
         bootstrap["enabled"].as<bool>(false)) ||
        (scalar(detector["path"]) && !detector["path"].Scalar().empty());
    const YAML::Node refresh = detector["refresh"];
    if (!has_detector || !map(refresh) || !scalar(refresh["enabled"]) ||
        !refresh["enabled"].as<bool>(false) ||
        !scalar(refresh["warmup_rounds"])) {
      return 0;
    }
    return std::max<int64_t>(0, refresh["warmup_rounds"].as<int64_t>(0));
  } catch (const std::exception&) {
    return 0;  // not YAML
  }
}

std::string WarmupNote(size_t judged_rounds, int64_t warmup_rounds) {
  if (warmup_rounds <= 0 || judged_rounds == 0 ||
      judged_rounds > static_cast<uint64_t>(warmup_rounds)) {
    return "";
  }
  const std::string w = std::to_string(warmup_rounds);
  return "every round replayed (" + std::to_string(judged_rounds) +
         ") was a trusted warm-up round of the detector "
         "(detector.refresh.warmup_rounds: " +
         w +
         "): it learned from them and judged no update (norms and guards "
         "only); replay more than " +
         w + " rounds to see the detector judge";
}

std::string FlatSourcesNote(const std::vector<ReplayDecision>& decisions) {
  size_t ids = 0, counts = 0;
  for (const ReplayDecision& d : decisions) {
    ids += d.client_from == "metadata" ? 1 : 0;
    counts += d.num_examples_from == "metadata" ? 1 : 0;
  }
  const std::string of = " of " + std::to_string(decisions.size());
  return "flat folder: client ids from the files' metadata for " +
         std::to_string(ids) + of +
         " updates (the others: the file name), num_examples for " +
         std::to_string(counts) + of + " (the others: 1)";
}

Result<PolicyRun> ReplayArchive(const aggfilter::Plugin& plugin,
                                const RoundArchive& archive,
                                const std::string& config_path,
                                const ReplayOptions& options) {
  PolicyRun run;
  run.config_path = config_path;
  FLS_ASSIGN_OR_RETURN(run.policy_text, ReadPolicyFile(config_path));
  FLS_ASSIGN_OR_RETURN(PreparedPolicy prepared,
                       PreparePolicy(run.policy_text, options.work_dir));
  run.redirects = prepared.redirects;

  aggf_host_callbacks callbacks{};
  callbacks.struct_size = sizeof callbacks;
  callbacks.user_data =
      const_cast<std::function<void(aggf_log_level, const std::string&)>*>(
          &options.plugin_log);
  callbacks.callback_log = &LogToLine;
  aggfilter::Instance instance;
  try {
    instance =
        plugin.create(prepared.text, AbsoluteDir(config_path), &callbacks);
  } catch (const aggfilter::Error& e) {
    return ConfigError(config_path +
                       ": the plugin refused the policy: " + e.what());
  }
  for (size_t r = 0; r < archive.rounds.size(); ++r) {
    ReplayRound round;
    Status status =
        ReplayOneRound(instance, archive.rounds[r], options, &round);
    if (!status.ok()) return status;
    run.rounds.push_back(std::move(round));
    if (options.progress) options.progress(r + 1, archive.rounds.size());
  }
  if (archive.flat && !run.rounds.empty()) {
    run.notes.push_back(FlatSourcesNote(run.rounds.front().decisions));
  }
  size_t judged = 0;
  for (const ReplayRound& r : run.rounds) judged += r.failed ? 0 : 1;
  if (std::string warmup =
          WarmupNote(judged, TrustedWarmupRounds(run.policy_text));
      !warmup.empty()) {
    run.notes.push_back(std::move(warmup));
  }
  const bool has_details = instance.has_round_details();
  instance = aggfilter::Instance();  // flushes and closes the audit log
  if (has_details) {
    RankByDetails(&run);
  } else if (!prepared.audit_path.empty()) {
    RankBySuspicion(prepared.audit_path, &run);  // a plugin before ABI 1.1
  }
  return run;
}

}  // namespace flsentry::cli
