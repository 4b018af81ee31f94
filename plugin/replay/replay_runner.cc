#include "replay/replay_runner.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <tuple>
#include <variant>

#include "base/file_reader.h"
#include "base/json_reader.h"
#include "tensor/tensor_set.h"

namespace flsentry::cli {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kMaxPolicyBytes = 16ull << 20;

Result<std::string> ReadPolicyFile(const std::string& path) {
  auto text = ReadWholeFile(path, kMaxPolicyBytes);
  if (!text.ok()) return text.status().WithContext("policy file");
  return text;
}

std::optional<aggf_dtype> ToAggfDtype(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return AGGF_DTYPE_F32;
    case DType::kF64:
      return AGGF_DTYPE_F64;
    case DType::kF16:
      return AGGF_DTYPE_F16;
    case DType::kBF16:
      return AGGF_DTYPE_BF16;
    default:
      return std::nullopt;
  }
}

// Owns everything an aggf_round points into. Built once per round; its
// vectors are sized before any pointer into them is taken.
class CRound {
 public:
  // Borrows `set`; it must outlive this CRound and not move.
  std::vector<aggf_tensor> Tensors(const TensorSet& set) {
    std::vector<aggf_tensor> out;
    for (const OwnedTensor& t : set.tensors) {
      std::optional<aggf_dtype> dtype = ToAggfDtype(t.dtype);
      if (!dtype) continue;
      aggf_tensor c{};
      c.name = t.name.data();
      c.name_len = static_cast<uint32_t>(t.name.size());
      c.dtype = *dtype;
      c.rank = static_cast<int32_t>(t.shape.size());
      c.shape = t.shape.empty() ? nullptr : t.shape.data();
      c.strides = t.strides.empty() ? nullptr : t.strides.data();
      c.data = Aligned(t);
      out.push_back(c);
    }
    return out;
  }

 private:
  // The C interface requires element-aligned data; files may not provide
  // it (safetensors does not guarantee alignment). Misaligned tensors are
  // copied into aligned memory owned by this CRound.
  const void* Aligned(const OwnedTensor& t) {
    const size_t elem = DTypeSize(t.dtype);
    if (!t.data || reinterpret_cast<uintptr_t>(t.data) % elem == 0)
      return t.data;
    int64_t numel = 0, extent = 0;
    if (!ValidateView(t.view(), &numel, &extent).ok() || extent <= 0)
      return t.data;
    auto& copy = copies_.emplace_back(
        new std::max_align_t[(static_cast<size_t>(extent) +
                              sizeof(std::max_align_t) - 1) /
                             sizeof(std::max_align_t)]);
    std::memcpy(copy.get(), t.data, static_cast<size_t>(extent));
    return copy.get();
  }

  std::vector<std::unique_ptr<std::max_align_t[]>> copies_;
};

std::string AbsoluteDir(const std::string& file) {
  std::error_code ec;
  fs::path abs = fs::absolute(file, ec);
  if (ec) return fs::path(file).parent_path().string();
  return abs.lexically_normal().parent_path().string();
}

// A flat folder's update file may name its client and example count in its
// metadata ("client_id", "num_examples": flsentry simulate --export-updates,
// WriteTensorFile's metadata). Sets clients[i].id / num_examples from the
// read sets (sets[k] is clients[included[k]]'s) where they do, and records
// where each came from. Ids that would not be unique in the round fall back
// to the file names for the whole round, said through `report`.
void ApplyFlatMetadata(const std::vector<TensorSet>& sets,
                       const std::vector<size_t>& included,
                       std::vector<ArchiveClient>* clients,
                       std::vector<ReplayDecision>* origin,
                       const std::function<void(const std::string&)>& report) {
  const std::vector<ArchiveClient> by_file = *clients;
  for (ReplayDecision& o : *origin) {
    o.client_from = "file name";
    o.num_examples_from = "default";
  }
  for (size_t k = 0; k < sets.size(); ++k) {
    ArchiveClient& c = (*clients)[included[k]];
    ReplayDecision& o = (*origin)[included[k]];
    const auto& scalars = sets[k].scalars;
    if (auto id = scalars.find("client_id"); id != scalars.end()) {
      const auto* text = std::get_if<std::string>(&id->second);
      if (text && !text->empty()) {
        c.id = *text;
        o.client_from = "metadata";
      }
    }
    auto n = scalars.find("num_examples");
    if (n == scalars.end()) continue;
    std::optional<uint64_t> value;
    if (const auto* i = std::get_if<int64_t>(&n->second); i && *i >= 0) {
      value = static_cast<uint64_t>(*i);
    } else if (const auto* t = std::get_if<std::string>(&n->second)) {
      uint64_t parsed = 0;
      const char* end = t->data() + t->size();
      auto [ptr, ec] = std::from_chars(t->data(), end, parsed);
      if (ec == std::errc() && ptr == end && !t->empty()) value = parsed;
    }
    if (value) {
      c.num_examples = *value;
      o.num_examples_from = "metadata";
    } else {
      report(c.file +
             ": num_examples in its metadata is not a non-negative "
             "integer; " +
             std::to_string(c.num_examples) + " is used");
    }
  }
  std::set<std::string> ids;
  for (const ArchiveClient& c : *clients) {
    if (ids.insert(c.id).second) continue;
    report("client id '" + c.id +
           "' is given by two files (metadata or file name): every client "
           "is named after its file name");
    for (size_t i = 0; i < clients->size(); ++i) {
      (*clients)[i].id = by_file[i].id;
      (*origin)[i].client_from = "file name";
    }
    return;
  }
}

// Replays one round; appends to *run. Returns an error only for conditions
// that stop the whole replay.
Status ReplayOneRound(aggfilter::Instance& instance, const ArchiveRound& round,
                      const ReplayOptions& options, ReplayRound* out) {
  out->number = round.number;
  auto report = [&](const std::string& line) {
    out->errors.push_back(line);
    if (options.error_line) options.error_line(line);
  };
  Result<TensorSet> global = ReadArchiveGlobal(round);
  if (!global.ok()) return global.status();

  // Read every client first: the sets must not move once C views exist.
  std::vector<TensorSet> sets;
  std::vector<size_t> included;  // indices into round.clients
  // One per client: the decision replay makes for an unreadable file, and
  // (flat folder) where its id and num_examples came from.
  std::vector<ReplayDecision> made(round.clients.size());
  std::vector<bool> is_unreadable(round.clients.size(), false);
  sets.reserve(round.clients.size());
  for (size_t i = 0; i < round.clients.size(); ++i) {
    Result<TensorSet> set = ReadArchiveClient(round, i);
    if (set.ok()) {
      sets.push_back(std::move(set).value());
      included.push_back(i);
      continue;
    }
    switch (options.on_unreadable) {
      case OnUnreadable::kFail:
        return set.status();
      case OnUnreadable::kSkip:
        report("round " + std::to_string(round.number) +
               ": skipped: " + set.status().message());
        break;
      case OnUnreadable::kDrop: {
        report("round " + std::to_string(round.number) +
               ": dropped as unreadable: " + set.status().message());
        ReplayDecision& d = made[i];
        is_unreadable[i] = true;
        d.unreadable = true;
        d.decision.action = AGGF_ACTION_DROP;
        d.decision.flags = AGGF_FLAG_INVALID;
        d.decision.weight = 0.0;
        d.decision.score = std::nan("");
        d.decision.threshold = std::nan("");
        d.decision.reason = "unreadable";
        break;
      }
    }
  }
  std::vector<ArchiveClient> clients = round.clients;
  if (round.manifest_path.empty()) {
    ApplyFlatMetadata(
        sets, included, &clients, &made, [&](const std::string& line) {
          report("round " + std::to_string(round.number) + ": " + line);
        });
  }

  CRound owner;
  std::vector<aggf_tensor> global_tensors = owner.Tensors(global.value());
  std::vector<std::vector<aggf_tensor>> tensors;
  tensors.reserve(sets.size());
  for (const TensorSet& set : sets) tensors.push_back(owner.Tensors(set));
  std::vector<aggf_update> updates(sets.size());
  for (size_t k = 0; k < sets.size(); ++k) {
    const ArchiveClient& c = clients[included[k]];
    aggf_update& u = updates[k];
    u.client_id = c.id.data();
    u.client_id_len = static_cast<uint32_t>(c.id.size());
    u.kind = round.kind == ArchiveKind::kWeights ? AGGF_UPDATE_WEIGHTS
                                                 : AGGF_UPDATE_DELTA;
    u.num_examples = c.num_examples;
    u.tensors = tensors[k].empty() ? nullptr : tensors[k].data();
    u.num_tensors = static_cast<uint32_t>(tensors[k].size());
  }
  aggf_round c_round{};
  c_round.struct_size = sizeof c_round;
  c_round.num_updates = static_cast<uint32_t>(updates.size());
  c_round.round = round.number;
  c_round.global_tensors =
      global_tensors.empty() ? nullptr : global_tensors.data();
  c_round.num_global_tensors = static_cast<uint32_t>(global_tensors.size());
  c_round.updates = updates.empty() ? nullptr : updates.data();

  std::vector<aggfilter::Decision> decisions;
  try {
    decisions = instance.filter(c_round);
  } catch (const aggfilter::Error& e) {
    out->failed = true;
    report("round " + std::to_string(round.number) +
           ": the plugin refused the round: " + e.what());
    return Status::Ok();
  }
  // Decisions in manifest order: plugin decisions and unreadable drops
  // interleaved as the clients appear in the manifest.
  size_t next_plugin = 0;
  for (size_t i = 0; i < clients.size(); ++i) {
    const ArchiveClient& c = clients[i];
    ReplayDecision d = std::move(made[i]);
    if (next_plugin < included.size() && included[next_plugin] == i) {
      d.decision = std::move(decisions[next_plugin++]);
    } else if (!is_unreadable[i]) {
      continue;  // skipped
    }
    d.round = round.number;
    d.client = c.id;
    d.rank_score = d.decision.score;
    d.num_examples = c.num_examples;
    d.label = c.label;
    d.attack = c.attack;
    out->decisions.push_back(std::move(d));
  }
  return Status::Ok();
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
