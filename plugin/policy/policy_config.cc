#include "policy/policy_config.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <sstream>
#include <utility>

namespace flsentry {

ThresholdRule DefaultThresholdRule() {
  ThresholdRule rule;
  rule.kind = ThresholdKind::kRoundRatio;
  rule.name = "round_ratio";
  rule.k = 3.0;
  return rule;
}

const char* ThresholdKindName(ThresholdKind kind) {
  switch (kind) {
    case ThresholdKind::kStatic:
      return "static";
    case ThresholdKind::kCalibratedQuantile:
      return "calibrated_quantile";
    case ThresholdKind::kCalibratedMeanStd:
      return "calibrated_mean_std";
    case ThresholdKind::kRoundRobust:
      return "round_robust";
    case ThresholdKind::kRoundRatio:
      return "round_ratio";
  }
  return "unknown";
}

namespace {

constexpr size_t kMaxRules = 16;
constexpr size_t kMaxListEntries = 100000;
constexpr size_t kMaxStringBytes = 4096;

// "policy: <path>: <problem> (line L, column C)".
Status ErrorAt(const YAML::Node& node, const std::string& path,
               const std::string& problem) {
  std::string message = "policy: " + path + ": " + problem;
  const YAML::Mark mark = node.Mark();
  if (!mark.is_null()) {
    message += " (line " + std::to_string(mark.line + 1) + ", column " +
               std::to_string(mark.column + 1) + ")";
  }
  return ConfigError(std::move(message));
}

std::string Join(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

// A quoted scalar ("1", '1') carries the non-specific tag "!".
bool IsQuoted(const YAML::Node& node) { return node.Tag() == "!"; }

Status ReadDouble(const YAML::Node& node, const std::string& path,
                  double* out) {
  if (!node.IsScalar() || IsQuoted(node)) {
    return ErrorAt(node, path, "expected a number");
  }
  std::string text = node.Scalar();
  if (!text.empty() && text[0] == '+') text.erase(0, 1);
  double value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || text.empty()) {
    return ErrorAt(node, path,
                   "expected a number, got '" + node.Scalar() + "'");
  }
  if (!std::isfinite(value)) return ErrorAt(node, path, "must be finite");
  *out = value;
  return Status::Ok();
}

Status ReadInt(const YAML::Node& node, const std::string& path, int64_t lo,
               int64_t hi, int64_t* out) {
  if (!node.IsScalar() || IsQuoted(node)) {
    return ErrorAt(node, path, "expected an integer");
  }
  std::string text = node.Scalar();
  if (!text.empty() && text[0] == '+') text.erase(0, 1);
  int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec == std::errc::result_out_of_range) {
    return ErrorAt(node, path, "integer out of range");
  }
  if (ec != std::errc() || ptr != end || text.empty()) {
    return ErrorAt(node, path,
                   "expected an integer, got '" + node.Scalar() + "'");
  }
  if (value < lo || value > hi) {
    return ErrorAt(
        node, path,
        "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  *out = value;
  return Status::Ok();
}

Status ReadIntField(const YAML::Node& node, const std::string& path, int lo,
                    int hi, int* out) {
  int64_t value = 0;
  FLS_RETURN_IF_ERROR(ReadInt(node, path, lo, hi, &value));
  *out = static_cast<int>(value);
  return Status::Ok();
}

Status ReadBool(const YAML::Node& node, const std::string& path, bool* out) {
  if (!node.IsScalar() || IsQuoted(node)) {
    return ErrorAt(node, path, "expected true or false");
  }
  std::string text = node.Scalar();
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (text == "true" || text == "yes" || text == "on") {
    *out = true;
  } else if (text == "false" || text == "no" || text == "off") {
    *out = false;
  } else {
    return ErrorAt(node, path,
                   "expected true or false, got '" + node.Scalar() + "'");
  }
  return Status::Ok();
}

Status ReadString(const YAML::Node& node, const std::string& path,
                  std::string* out) {
  if (!node.IsScalar()) return ErrorAt(node, path, "expected a string");
  if (node.Scalar().size() > kMaxStringBytes) {
    return ErrorAt(node, path, "longer than 4096 bytes");
  }
  if (node.Scalar().find('\0') != std::string::npos) {
    return ErrorAt(node, path, "contains a NUL character");
  }
  *out = node.Scalar();
  return Status::Ok();
}

// Reads one of `choices` (name -> value) into *out.
template <typename E>
Status ReadEnum(const YAML::Node& node, const std::string& path,
                const std::vector<std::pair<const char*, E>>& choices, E* out) {
  std::string names;
  for (const auto& [name, value] : choices) {
    if (node.IsScalar() && node.Scalar() == name) {
      *out = value;
      return Status::Ok();
    }
    names += names.empty() ? name : std::string(", ") + name;
  }
  return ErrorAt(node, path, "must be one of: " + names);
}

Status CheckRange(bool ok, const YAML::Node& node, const std::string& path,
                  const char* requirement) {
  return ok ? Status::Ok() : ErrorAt(node, path, requirement);
}

using FieldReader =
    std::function<Status(const YAML::Node&, const std::string&)>;
using Fields = std::vector<std::pair<const char*, FieldReader>>;

// Walks a mapping: every key must be one of `fields` and appear once. A null
// node (a key with nothing after it) reads as an empty mapping.
Status ReadMap(const YAML::Node& node, const std::string& path,
               const Fields& fields) {
  if (node.IsNull()) return Status::Ok();
  if (!node.IsMap()) {
    return ErrorAt(node, path.empty() ? "(document)" : path,
                   "expected a mapping of keys");
  }
  std::set<std::string> seen;
  for (const auto& entry : node) {
    const YAML::Node& key = entry.first;
    if (!key.IsScalar()) {
      return ErrorAt(key, path.empty() ? "(document)" : path,
                     "keys must be plain strings");
    }
    const std::string& name = key.Scalar();
    const std::string key_path = Join(path, name);
    auto field = std::find_if(fields.begin(), fields.end(),
                              [&](const auto& f) { return name == f.first; });
    if (field == fields.end()) {
      std::string known;
      for (const auto& f : fields) {
        known += known.empty() ? f.first : std::string(", ") + f.first;
      }
      return ErrorAt(key, key_path, "unknown key (known here: " + known + ")");
    }
    if (!seen.insert(name).second) {
      return ErrorAt(key, key_path, "key given twice");
    }
    FLS_RETURN_IF_ERROR(field->second(entry.second, key_path));
  }
  return Status::Ok();
}

FieldReader Double(double* out, const std::function<bool(double)>& valid,
                   const char* requirement) {
  return [=](const YAML::Node& n, const std::string& p) {
    FLS_RETURN_IF_ERROR(ReadDouble(n, p, out));
    return CheckRange(valid(*out), n, p, requirement);
  };
}

FieldReader Int(int* out, int lo, int hi) {
  return [=](const YAML::Node& n, const std::string& p) {
    return ReadIntField(n, p, lo, hi, out);
  };
}

FieldReader Bool(bool* out) {
  return [=](const YAML::Node& n, const std::string& p) {
    return ReadBool(n, p, out);
  };
}

FieldReader String(std::string* out) {
  return [=](const YAML::Node& n, const std::string& p) {
    return ReadString(n, p, out);
  };
}

template <typename E>
FieldReader Enum(E* out, std::vector<std::pair<const char*, E>> choices) {
  return [=](const YAML::Node& n, const std::string& p) {
    return ReadEnum(n, p, choices, out);
  };
}

bool Positive(double v) { return v > 0; }
bool UnitClosed(double v) { return v >= 0 && v <= 1; }
bool UnitOpenLow(double v) { return v > 0 && v <= 1; }
bool AboveOne(double v) { return v > 1; }

// Hidden layer sizes of an autoencoder: 1 to 8 sizes, each in [1, 65536].
Status ReadLayerSizes(const YAML::Node& node, const std::string& path,
                      std::vector<int64_t>* out) {
  if (!node.IsSequence() || node.size() < 1 || node.size() > 8) {
    return ErrorAt(node, path, "expected a list of 1 to 8 layer sizes");
  }
  std::vector<int64_t> sizes(node.size());
  for (size_t i = 0; i < node.size(); ++i) {
    FLS_RETURN_IF_ERROR(ReadInt(node[i], path + "[" + std::to_string(i) + "]",
                                1, 65536, &sizes[i]));
  }
  *out = std::move(sizes);
  return Status::Ok();
}

Status ReadDetector(const YAML::Node& node, const std::string& path,
                    DetectorConfig* d) {
  RefreshConfig* r = &d->refresh;
  Fields refresh = {
      {"enabled", Bool(&r->enabled)},
      {"window_rounds", Int(&r->window_rounds, 1, 1000)},
      {"epochs", Int(&r->epochs, 0, 1000)},
      {"learning_rate",
       Double(
           &r->learning_rate, [](double v) { return v > 0 && v <= 1; },
           "must be in (0, 1]")},
      {"max_client_share",
       Double(&r->max_client_share, UnitOpenLow, "must be in (0, 1]")},
      {"warmup_rounds", Int(&r->warmup_rounds, 0, 1000000)},
      {"warmup_epochs", Int(&r->warmup_epochs, 0, 100000)},
  };
  BootstrapConfig* b = &d->bootstrap;
  Fields bootstrap = {
      {"enabled", Bool(&b->enabled)},
      {"sketch_dim",
       [b](const YAML::Node& n, const std::string& p) {
         return ReadInt(n, p, 64, 65536, &b->sketch_dim);
       }},
      {"sketch_version", Int(&b->sketch_version, 1, 2)},
      {"hidden",
       [b](const YAML::Node& n, const std::string& p) {
         return ReadLayerSizes(n, p, &b->hidden);
       }},
  };
  Fields fields = {
      {"path", String(&d->path)},
      {"threads", Int(&d->threads, 1, 256)},
      {"seed",
       [d](const YAML::Node& n, const std::string& p) {
         int64_t seed = 0;
         FLS_RETURN_IF_ERROR(
             ReadInt(n, p, 0, std::numeric_limits<int64_t>::max(), &seed));
         d->seed = static_cast<uint64_t>(seed);
         return Status::Ok();
       }},
      {"refresh",
       [refresh](const YAML::Node& n, const std::string& p) {
         return ReadMap(n, p, refresh);
       }},
      {"bootstrap",
       [bootstrap](const YAML::Node& n, const std::string& p) {
         return ReadMap(n, p, bootstrap);
       }},
  };
  FLS_RETURN_IF_ERROR(ReadMap(node, path, fields));
  if (!b->enabled) return Status::Ok();
  const YAML::Node at = node["bootstrap"]["enabled"];
  const std::string at_path = Join(path, "bootstrap.enabled");
  if (!d->path.empty()) {
    return ErrorAt(at, at_path,
                   "a bootstrapped detector needs an empty detector.path");
  }
  if (!r->enabled || r->warmup_rounds < 1) {
    return ErrorAt(
        at, at_path,
        "a bootstrapped detector needs refresh.enabled and "
        "refresh.warmup_rounds >= 1 (it learns from trusted rounds)");
  }
  return Status::Ok();
}

Status ReadRule(const YAML::Node& node, const std::string& path,
                ThresholdRule* rule) {
  if (!node.IsMap()) return ErrorAt(node, path, "expected a mapping of keys");
  const YAML::Node kind = node["kind"];
  if (!kind) return ErrorAt(node, path, "missing key 'kind'");
  FLS_RETURN_IF_ERROR(ReadEnum<ThresholdKind>(
      kind, Join(path, "kind"),
      {{"static", ThresholdKind::kStatic},
       {"calibrated_quantile", ThresholdKind::kCalibratedQuantile},
       {"calibrated_mean_std", ThresholdKind::kCalibratedMeanStd},
       {"round_robust", ThresholdKind::kRoundRobust},
       {"round_ratio", ThresholdKind::kRoundRatio}},
      &rule->kind));
  rule->name = ThresholdKindName(rule->kind);
  bool has_value = false;
  Fields fields = {
      {"kind",
       [](const YAML::Node&, const std::string&) { return Status::Ok(); }},
      {"name",
       [rule](const YAML::Node& n, const std::string& p) {
         FLS_RETURN_IF_ERROR(ReadString(n, p, &rule->name));
         return CheckRange(!rule->name.empty(), n, p, "must not be empty");
       }},
  };
  switch (rule->kind) {
    case ThresholdKind::kStatic:
      fields.push_back({"value", [rule, &has_value](const YAML::Node& n,
                                                    const std::string& p) {
                          has_value = true;
                          return ReadDouble(n, p, &rule->value);
                        }});
      break;
    case ThresholdKind::kCalibratedQuantile:
      fields.push_back(
          {"level", Double(&rule->level, UnitOpenLow, "must be in (0, 1]")});
      fields.push_back(
          {"scale", Double(&rule->scale, Positive, "must be > 0")});
      break;
    case ThresholdKind::kCalibratedMeanStd:
      rule->k = 3.0;
      fields.push_back({"k", Double(&rule->k, Positive, "must be > 0")});
      break;
    case ThresholdKind::kRoundRobust:
      fields.push_back({"k", Double(&rule->k, Positive, "must be > 0")});
      fields.push_back(
          {"min_round_size", Int(&rule->min_round_size, 3, 100000)});
      fields.push_back({"history_rounds", Int(&rule->history_rounds, 0, 100)});
      fields.push_back(
          {"min_relative_spread", Double(&rule->min_relative_spread, UnitClosed,
                                         "must be in [0, 1]")});
      break;
    case ThresholdKind::kRoundRatio:
      rule->k = DefaultThresholdRule().k;
      fields.push_back({"k", Double(&rule->k, AboveOne, "must be > 1")});
      fields.push_back(
          {"min_round_size", Int(&rule->min_round_size, 3, 100000)});
      fields.push_back({"history_rounds", Int(&rule->history_rounds, 0, 100)});
      break;
  }
  FLS_RETURN_IF_ERROR(ReadMap(node, path, fields));
  if (rule->kind == ThresholdKind::kStatic && !has_value) {
    return ErrorAt(node, path, "a static rule needs 'value'");
  }
  return Status::Ok();
}

Status ReadThresholds(const YAML::Node& node, const std::string& path,
                      ThresholdsConfig* t) {
  Fields fields = {
      {"combine", Enum<Combine>(&t->combine, {{"any", Combine::kAny},
                                              {"all", Combine::kAll}})},
      {"rules",
       [t](const YAML::Node& n, const std::string& p) {
         if (!n.IsSequence() && !n.IsNull()) {
           return ErrorAt(n, p, "expected a list of rules");
         }
         if (n.size() > kMaxRules) return ErrorAt(n, p, "more than 16 rules");
         t->rules.clear();
         std::set<std::string> names;
         for (size_t i = 0; i < n.size(); ++i) {
           const std::string rule_path = p + "[" + std::to_string(i) + "]";
           ThresholdRule rule;
           FLS_RETURN_IF_ERROR(ReadRule(n[i], rule_path, &rule));
           if (!names.insert(rule.name).second) {
             return ErrorAt(n[i], rule_path,
                            "rule name '" + rule.name +
                                "' used twice (give each rule a distinct "
                                "'name')");
           }
           t->rules.push_back(std::move(rule));
         }
         return Status::Ok();
       }},
  };
  return ReadMap(node, path, fields);
}

Status ReadIdList(const YAML::Node& node, const std::string& path,
                  std::set<std::string>* out) {
  if (node.IsNull()) return Status::Ok();
  if (!node.IsSequence())
    return ErrorAt(node, path, "expected a list of client ids");
  if (node.size() > kMaxListEntries) {
    return ErrorAt(node, path, "more than 100000 entries");
  }
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string item_path = path + "[" + std::to_string(i) + "]";
    std::string id;
    FLS_RETURN_IF_ERROR(ReadString(node[i], item_path, &id));
    if (id.empty()) return ErrorAt(node[i], item_path, "must not be empty");
    out->insert(std::move(id));
  }
  return Status::Ok();
}

Status ReadQuarantine(const YAML::Node& node, const std::string& path,
                      QuarantineConfig* q) {
  ProbationConfig* pr = &q->probation;
  Fields probation = {
      {"rounds", Int(&pr->rounds, 0, 100000)},
      {"threshold_scale",
       Double(&pr->threshold_scale, UnitOpenLow, "must be in (0, 1]")},
      {"max_weight", Double(&pr->max_weight, UnitOpenLow, "must be in (0, 1]")},
      {"strikes_to_requarantine", Int(&pr->strikes_to_requarantine, 1, 1000)},
  };
  Fields fields = {
      {"enabled", Bool(&q->enabled)},
      {"window_rounds", Int(&q->window_rounds, 1, 10000)},
      {"strikes", Int(&q->strikes, 1, 10000)},
      {"rounds", Int(&q->rounds, 1, 100000)},
      {"strike_on",
       [q](const YAML::Node& n, const std::string& p) {
         if (!n.IsSequence() && !n.IsNull()) {
           return ErrorAt(n, p, "expected a list of events");
         }
         q->strike_on = 0;
         for (size_t i = 0; i < n.size(); ++i) {
           StrikeEvent event = kStrikeAnomalous;
           FLS_RETURN_IF_ERROR(
               ReadEnum<StrikeEvent>(n[i], p + "[" + std::to_string(i) + "]",
                                     {{"anomalous", kStrikeAnomalous},
                                      {"guard", kStrikeGuard},
                                      {"norm_guard", kStrikeNormGuard},
                                      {"duplicate", kStrikeDuplicate},
                                      {"central", kStrikeCentral}},
                                     &event));
           q->strike_on |= event;
         }
         return Status::Ok();
       }},
      {"probation",
       [probation](const YAML::Node& n, const std::string& p) {
         return ReadMap(n, p, probation);
       }},
  };
  FLS_RETURN_IF_ERROR(ReadMap(node, path, fields));
  if (q->strikes > q->window_rounds) {
    return ErrorAt(node, Join(path, "strikes"),
                   "must be <= window_rounds (one strike per round at most)");
  }
  return Status::Ok();
}

Status ReadRoot(const YAML::Node& root, PolicyConfig* c) {
  DownweightConfig* dw = &c->actions.downweight;
  Fields downweight = {
      {"function",
       Enum<DownweightFunction>(
           &dw->function, {{"linear", DownweightFunction::kLinear},
                           {"exponential", DownweightFunction::kExponential}})},
      {"slope", Double(&dw->slope, Positive, "must be > 0")},
      {"rate", Double(&dw->rate, Positive, "must be > 0")},
      {"floor", Double(&dw->floor, UnitOpenLow, "must be in (0, 1]")},
  };
  Fields actions = {
      {"on_anomalous",
       Enum<AnomalyAction>(&c->actions.on_anomalous,
                           {{"drop", AnomalyAction::kDrop},
                            {"downweight", AnomalyAction::kDownweight}})},
      {"downweight",
       [downweight](const YAML::Node& n, const std::string& p) {
         return ReadMap(n, p, downweight);
       }},
  };
  NormGuardConfig* ng = &c->guards.norm;
  Fields norm = {
      {"enabled", Bool(&ng->enabled)},
      {"k", Double(&ng->k, AboveOne, "must be > 1")},
      {"mode", Enum<NormGuardMode>(&ng->mode,
                                   {{"clip", NormGuardMode::kClip},
                                    {"downweight", NormGuardMode::kDownweight},
                                    {"drop", NormGuardMode::kDrop}})},
      {"min_round_size", Int(&ng->min_round_size, 2, 100000)},
  };
  DuplicateGuardConfig* dg = &c->guards.duplicate;
  Fields duplicate = {
      {"enabled", Bool(&dg->enabled)},
      {"max_similarity",
       Double(&dg->max_similarity, UnitOpenLow, "must be in (0, 1]")},
  };
  CentralityGuardConfig* cg = &c->guards.centrality;
  Fields centrality = {
      {"enabled", Bool(&cg->enabled)},
      {"max_typicality", Double(&cg->max_typicality, AboveOne, "must be > 1")},
      {"min_round_size", Int(&cg->min_round_size, 3, 100000)},
  };
  FailSafesConfig* fs = &c->fail_safes;
  Fields fields = {
      {"detector",
       [c](const YAML::Node& n, const std::string& p) {
         return ReadDetector(n, p, &c->detector);
       }},
      {"thresholds",
       [c](const YAML::Node& n, const std::string& p) {
         return ReadThresholds(n, p, &c->thresholds);
       }},
      {"actions",
       [actions](const YAML::Node& n, const std::string& p) {
         return ReadMap(n, p, actions);
       }},
      {"lists",
       [c](const YAML::Node& n, const std::string& p) {
         return ReadMap(
             n, p,
             {{"allow",
               [c](const YAML::Node& m, const std::string& q) {
                 return ReadIdList(m, q, &c->lists.allow);
               }},
              {"deny", [c](const YAML::Node& m, const std::string& q) {
                 return ReadIdList(m, q, &c->lists.deny);
               }}});
       }},
      {"guards",
       [norm, duplicate, centrality](const YAML::Node& n,
                                     const std::string& p) {
         return ReadMap(
             n, p,
             {{"norm",
               [norm](const YAML::Node& m, const std::string& q) {
                 return ReadMap(m, q, norm);
               }},
              {"duplicate",
               [duplicate](const YAML::Node& m, const std::string& q) {
                 return ReadMap(m, q, duplicate);
               }},
              {"centrality",
               [centrality](const YAML::Node& m, const std::string& q) {
                 return ReadMap(m, q, centrality);
               }}});
       }},
      {"fail_safes",
       [fs](const YAML::Node& n, const std::string& p) {
         return ReadMap(
             n, p,
             {{"max_drop_fraction",
               Double(&fs->max_drop_fraction, UnitClosed, "must be in [0, 1]")},
              {"min_accepted", Int(&fs->min_accepted, 0, 1000000)},
              {"on_error", Enum<OnScoreError>(
                               &fs->on_error,
                               {{"accept", OnScoreError::kAccept},
                                {"drop", OnScoreError::kDrop},
                                {"fail_round", OnScoreError::kFailRound}})}});
       }},
      {"quarantine",
       [c](const YAML::Node& n, const std::string& p) {
         return ReadQuarantine(n, p, &c->quarantine);
       }},
      {"reputation",
       [c](const YAML::Node& n, const std::string& p) {
         return ReadMap(n, p,
                        {{"initial", Double(&c->reputation.initial, UnitClosed,
                                            "must be in [0, 1]")},
                         {"rate", Double(&c->reputation.rate, UnitOpenLow,
                                         "must be in (0, 1]")}});
       }},
      {"state",
       [c](const YAML::Node& n, const std::string& p) {
         return ReadMap(
             n, p,
             {{"path", String(&c->state.path)},
              {"on_corrupt", Enum<OnCorrupt>(&c->state.on_corrupt,
                                             {{"fail", OnCorrupt::kFail},
                                              {"reset", OnCorrupt::kReset}})}});
       }},
      {"audit",
       [c](const YAML::Node& n, const std::string& p) {
         return ReadMap(n, p, {{"path", String(&c->audit.path)}});
       }},
  };
  FLS_RETURN_IF_ERROR(ReadMap(root, "", fields));

  if (c->detector.bootstrap.enabled) {
    for (size_t i = 0; i < c->thresholds.rules.size(); ++i) {
      const ThresholdKind kind = c->thresholds.rules[i].kind;
      if (kind != ThresholdKind::kCalibratedQuantile &&
          kind != ThresholdKind::kCalibratedMeanStd) {
        continue;
      }
      const std::string rule_path =
          "thresholds.rules[" + std::to_string(i) + "].kind";
      return ErrorAt(root["thresholds"]["rules"][i]["kind"], rule_path,
                     std::string(ThresholdKindName(kind)) +
                         " needs a trained detector's calibration; a "
                         "bootstrapped detector (detector.bootstrap) has none");
    }
  }

  const YAML::Node lists = root.IsMap() ? root["lists"] : YAML::Node();
  for (const std::string& id : c->lists.deny) {
    if (c->lists.allow.count(id)) {
      return ErrorAt(lists ? lists["deny"] : root, "lists.deny",
                     "client '" + id + "' is on both the allow and deny list");
    }
  }
  return Status::Ok();
}

// Documents in `text`, counting up to 2. (YAML::LoadAll is not used: on
// some malformed input yaml-cpp 0.7 reports empty documents without end,
// found by tests/fuzz/policy_yaml_fuzz.cc.) Throws YAML::Exception.
int CountDocuments(const std::string& text) {
  struct Ignore : YAML::EventHandler {
    void OnDocumentStart(const YAML::Mark&) override {}
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
    void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
    void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  const std::string&) override {}
    void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                         YAML::EmitterStyle::value) override {}
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                    YAML::EmitterStyle::value) override {}
    void OnMapEnd() override {}
  } ignore;
  std::istringstream stream(text);
  YAML::Parser parser(stream);
  int documents = 0;
  while (documents < 2 && parser.HandleNextDocument(ignore)) ++documents;
  return documents;
}

}  // namespace

Result<PolicyConfig> ParsePolicyYaml(std::string_view yaml_text) {
  if (yaml_text.size() > kMaxPolicyBytes) {
    return ConfigError("policy: larger than 1 MiB");
  }
  try {
    const std::string text(yaml_text);
    const YAML::Node root = YAML::Load(text);
    if (CountDocuments(text) > 1) {
      return ConfigError("policy: holds more than one YAML document");
    }
    PolicyConfig config;
    FLS_RETURN_IF_ERROR(ReadRoot(root, &config));
    return config;
  } catch (const YAML::Exception& e) {
    std::string message = "policy: invalid YAML: " + e.msg;
    if (!e.mark.is_null()) {
      message += " (line " + std::to_string(e.mark.line + 1) + ", column " +
                 std::to_string(e.mark.column + 1) + ")";
    }
    return ConfigError(std::move(message));
  } catch (const std::exception& e) {
    return ConfigError(std::string("policy: could not be read: ") + e.what());
  }
}

}  // namespace flsentry
