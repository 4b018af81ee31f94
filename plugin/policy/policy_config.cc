#include "policy/policy_config.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <sstream>
#include <utility>

#include "base/yaml_reader.h"

namespace flsentry {

ThresholdRule DefaultThresholdRule() {
  ThresholdRule rule;
  rule.kind = ThresholdKind::kRoundRatio;
  rule.name = "round_ratio";
  rule.k = 4.0;
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

using yaml::Bool;
using yaml::CheckRange;
using yaml::Double;
using yaml::Enum;
using yaml::ErrorAt;
using yaml::FieldReader;
using yaml::Fields;
using yaml::Int;
using yaml::Join;
using yaml::Map;
using yaml::ReadDouble;
using yaml::ReadEnum;
using yaml::ReadInt;
using yaml::ReadMap;
using yaml::ReadString;
using yaml::String;

constexpr size_t kMaxRules = 16;
constexpr size_t kMaxListEntries = 100000;

bool Positive(double v) { return v > 0; }
bool UnitClosed(double v) { return v >= 0 && v <= 1; }
bool UnitOpenLow(double v) { return v > 0 && v <= 1; }
bool AboveOne(double v) { return v > 1; }

// Hidden layer sizes of an autoencoder: 1 to 8 sizes, each in [1, 65536].
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
      {"max_rows", Int(&r->max_rows, 1, 1000000)},
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
      {"hidden", yaml::IntList(&b->hidden, 1, 8, 1, 65536)},
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

Status ReadClientBaseline(const YAML::Node& node, const std::string& path,
                          ClientBaselineConfig* b) {
  FLS_RETURN_IF_ERROR(ReadMap(
      node, path,
      {{"enabled", Bool(&b->enabled)},
       {"rounds", Int(&b->rounds, 1, kMaxClientBaselineRounds)},
       {"min_rounds", Int(&b->min_rounds, 1, kMaxClientBaselineRounds)},
       {"max_factor",
        Double(
            &b->max_factor, [](double v) { return v >= 1; }, "must be >= 1")},
       {"min_consistency",
        Double(
            &b->min_consistency, [](double v) { return v >= -1 && v <= 1; },
            "must be in [-1, 1]")},
       {"statistic",
        Enum<BaselineStatistic>(&b->statistic,
                                {{"max", BaselineStatistic::kMax},
                                 {"median", BaselineStatistic::kMedian}})},
       {"grace", Int(&b->grace, 0, kMaxClientGrace)}}));
  if (b->min_rounds > b->rounds) {
    return ErrorAt(node, Join(path, "min_rounds"), "must be <= rounds");
  }
  return Status::Ok();
}

Status ReadRules(const YAML::Node& n, const std::string& p,
                 ThresholdsConfig* t) {
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
                         "' used twice (give each rule a distinct 'name')");
    }
    t->rules.push_back(std::move(rule));
  }
  return Status::Ok();
}

Status ReadThresholds(const YAML::Node& node, const std::string& path,
                      ThresholdsConfig* t) {
  return ReadMap(
      node, path,
      {{"combine", Enum<Combine>(&t->combine, {{"any", Combine::kAny},
                                               {"all", Combine::kAll}})},
       {"rules", [t](const YAML::Node& n,
                     const std::string& p) { return ReadRules(n, p, t); }},
       {"client_baseline", [t](const YAML::Node& n, const std::string& p) {
          return ReadClientBaseline(n, p, &t->client_baseline);
        }}});
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

Status ReadStrikeOn(const YAML::Node& n, const std::string& p,
                    uint32_t* strike_on) {
  if (!n.IsSequence() && !n.IsNull()) {
    return ErrorAt(n, p, "expected a list of events");
  }
  *strike_on = 0;
  for (size_t i = 0; i < n.size(); ++i) {
    StrikeEvent event = kStrikeAnomalous;
    FLS_RETURN_IF_ERROR(
        ReadEnum<StrikeEvent>(n[i], p + "[" + std::to_string(i) + "]",
                              {{"anomalous", kStrikeAnomalous},
                               {"guard", kStrikeGuard},
                               {"norm_guard", kStrikeNormGuard},
                               {"duplicate", kStrikeDuplicate},
                               {"central", kStrikeCentral},
                               {"inconsistent", kStrikeInconsistent},
                               {"opposed", kStrikeOpposed},
                               {"column_outlier", kStrikeColumnOutlier},
                               {"num_examples", kStrikeNumExamples}},
                              &event));
    *strike_on |= event;
  }
  return Status::Ok();
}

Status ReadQuarantine(const YAML::Node& node, const std::string& path,
                      QuarantineConfig* q) {
  ProbationConfig* pr = &q->probation;
  auto at_least_quarter = [](double v) { return v >= 0.25 && v <= 10000; };
  Fields probation = {
      {"rounds", Int(&pr->rounds, 0, 100000)},
      {"threshold_scale",
       Double(&pr->threshold_scale, UnitOpenLow, "must be in (0, 1]")},
      {"max_weight", Double(&pr->max_weight, UnitOpenLow, "must be in (0, 1]")},
      {"strikes_to_requarantine",
       Double(&pr->strikes_to_requarantine, at_least_quarter,
              "must be in [0.25, 10000]")},
  };
  StrikeWeightConfig* sw = &q->strike_weight;
  Fields strike_weight = {
      {"full_at", Double(&sw->full_at, AboveOne, "must be > 1")},
      {"min_weight", Double(&sw->min_weight, UnitOpenLow, "must be in (0, 1]")},
  };
  Fields fields = {
      {"enabled", Bool(&q->enabled)},
      {"window_rounds", Int(&q->window_rounds, 1, 10000)},
      {"strikes",
       Double(&q->strikes, at_least_quarter, "must be in [0.25, 10000]")},
      {"rounds", Int(&q->rounds, 1, 100000)},
      {"strike_on",
       [q](const YAML::Node& n, const std::string& p) {
         return ReadStrikeOn(n, p, &q->strike_on);
       }},
      {"strike_weight", Map(strike_weight)},
      {"probation", Map(probation)},
  };
  FLS_RETURN_IF_ERROR(ReadMap(node, path, fields));
  if (q->strikes > q->window_rounds) {
    return ErrorAt(node, Join(path, "strikes"),
                   "must be <= window_rounds (one strike per round at most)");
  }
  return Status::Ok();
}

FieldReader Actions(ActionsConfig* a) {
  DownweightConfig* dw = &a->downweight;
  Fields downweight = {
      {"function",
       Enum<DownweightFunction>(
           &dw->function, {{"linear", DownweightFunction::kLinear},
                           {"exponential", DownweightFunction::kExponential}})},
      {"slope", Double(&dw->slope, Positive, "must be > 0")},
      {"rate", Double(&dw->rate, Positive, "must be > 0")},
      {"floor", Double(&dw->floor, UnitOpenLow, "must be in (0, 1]")},
  };
  return Map(
      {{"on_anomalous",
        Enum<AnomalyAction>(&a->on_anomalous,
                            {{"drop", AnomalyAction::kDrop},
                             {"downweight", AnomalyAction::kDownweight}})},
       {"downweight", Map(downweight)}});
}

FieldReader Guards(GuardsConfig* g) {
  NormGuardConfig* ng = &g->norm;
  Fields norm = {
      {"enabled", Bool(&ng->enabled)},
      {"k", Double(&ng->k, AboveOne, "must be > 1")},
      {"drop_k", Double(
                     &ng->drop_k, [](double v) { return v == 0 || v > 1; },
                     "must be 0 (no drop limit) or > 1")},
      {"history_rounds", Int(&ng->history_rounds, 0, 100)},
      {"max_growth",
       Double(
           &ng->max_growth, [](double v) { return v >= 1; }, "must be >= 1")},
      {"mode", Enum<NormGuardMode>(&ng->mode,
                                   {{"clip", NormGuardMode::kClip},
                                    {"downweight", NormGuardMode::kDownweight},
                                    {"drop", NormGuardMode::kDrop}})},
      {"min_round_size", Int(&ng->min_round_size, 2, 100000)},
  };
  DuplicateGuardConfig* dg = &g->duplicate;
  Fields duplicate = {
      {"enabled", Bool(&dg->enabled)},
      {"max_similarity",
       Double(&dg->max_similarity, UnitOpenLow, "must be in (0, 1]")},
  };
  CentralityGuardConfig* cg = &g->centrality;
  Fields centrality = {
      {"enabled", Bool(&cg->enabled)},
      {"max_typicality", Double(&cg->max_typicality, AboveOne, "must be > 1")},
      {"min_round_size", Int(&cg->min_round_size, 3, 100000)},
  };
  ConsistencyGuardConfig* sg = &g->consistency;
  Fields consistency = {
      {"enabled", Bool(&sg->enabled)},
      {"min_cosine",
       Double(
           &sg->min_cosine, [](double v) { return v >= -1 && v < 1; },
           "must be in [-1, 1)")},
      {"max_rejected_similarity",
       Double(
           &sg->max_rejected_similarity,
           [](double v) { return v >= -1 && v <= 1; }, "must be in [-1, 1]")},
      {"newcomer_min_agreement",
       Double(
           &sg->newcomer_min_agreement,
           [](double v) { return v >= -1 && v <= 1; }, "must be in [-1, 1]")},
      {"newcomer_weight",
       Double(
           &sg->newcomer_weight, [](double v) { return v >= 0 && v <= 1; },
           "must be in [0, 1]")},
      {"newcomer_round_k",
       Double(
           &sg->newcomer_round_k, [](double v) { return v >= 0; },
           "must be >= 0")},
      {"newcomer_min_round_size", Int(&sg->newcomer_min_round_size, 3, 100000)},
      {"drift_margin",
       Double(
           &sg->drift_margin, [](double v) { return v >= 0 && v <= 2; },
           "must be in [0, 2]")},
      {"drift_round_k", Double(
                            &sg->drift_round_k, [](double v) { return v >= 0; },
                            "must be >= 0")},
  };
  OppositionGuardConfig* og = &g->opposition;
  Fields opposition = {
      {"enabled", Bool(&og->enabled)},
      {"max_opposition", Double(&og->max_opposition, Positive, "must be > 0")},
  };
  ColumnGuardConfig* colg = &g->columns;
  Fields columns = {
      {"enabled", Bool(&colg->enabled)},
      {"max_share", Double(&colg->max_share, UnitOpenLow, "must be in (0, 1]")},
      {"max_peak_share",
       Double(&colg->max_peak_share, UnitOpenLow, "must be in (0, 1]")},
  };
  ExamplesGuardConfig* eg = &g->num_examples;
  Fields examples = {
      {"enabled", Bool(&eg->enabled)},
      {"k", Double(&eg->k, AboveOne, "must be > 1")},
      {"history_k", Double(&eg->history_k, AboveOne, "must be > 1")},
      {"mode", Enum<ExamplesGuardMode>(&eg->mode,
                                       {{"cap", ExamplesGuardMode::kCap},
                                        {"flag", ExamplesGuardMode::kFlag},
                                        {"drop", ExamplesGuardMode::kDrop}})},
      {"min_round_size", Int(&eg->min_round_size, 1, 100000)},
  };
  return Map({{"norm", Map(norm)},
              {"duplicate", Map(duplicate)},
              {"centrality", Map(centrality)},
              {"consistency", Map(consistency)},
              {"opposition", Map(opposition)},
              {"columns", Map(columns)},
              {"num_examples", Map(examples)}});
}

FieldReader FailSafes(FailSafesConfig* fs) {
  return Map({{"max_drop_fraction",
               Double(&fs->max_drop_fraction, UnitClosed, "must be in [0, 1]")},
              {"min_accepted", Int(&fs->min_accepted, 0, 1000000)},
              {"on_error",
               Enum<OnScoreError>(&fs->on_error,
                                  {{"accept", OnScoreError::kAccept},
                                   {"drop", OnScoreError::kDrop},
                                   {"fail_round", OnScoreError::kFailRound}})},
              {"severe_suspicion",
               Double(&fs->severe_suspicion, AboveOne, "must be > 1")},
              {"restore_severe", Bool(&fs->restore_severe)}});
}

FieldReader Lists(ListsConfig* l) {
  return Map({{"allow",
               [l](const YAML::Node& m, const std::string& q) {
                 return ReadIdList(m, q, &l->allow);
               }},
              {"deny", [l](const YAML::Node& m, const std::string& q) {
                 return ReadIdList(m, q, &l->deny);
               }}});
}

// Checks across sections, after every key was read.
Status CheckRoot(const YAML::Node& root, const PolicyConfig& c) {
  if (c.detector.bootstrap.enabled) {
    for (size_t i = 0; i < c.thresholds.rules.size(); ++i) {
      const ThresholdKind kind = c.thresholds.rules[i].kind;
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
  const NormGuardConfig& norm = c.guards.norm;
  if (norm.drop_k != 0 && norm.drop_k <= norm.k) {
    const YAML::Node guards = root.IsMap() ? root["guards"] : YAML::Node();
    const YAML::Node at = guards && guards["norm"] ? guards["norm"] : root;
    std::ostringstream message;
    message << "drop_k (" << norm.drop_k << ") must be 0 (no drop limit) or "
            << "above k (" << norm.k << ")";
    return ErrorAt(at["drop_k"] ? at["drop_k"] : at, "guards.norm.drop_k",
                   message.str());
  }
  const YAML::Node lists = root.IsMap() ? root["lists"] : YAML::Node();
  for (const std::string& id : c.lists.deny) {
    if (c.lists.allow.count(id)) {
      return ErrorAt(lists ? lists["deny"] : root, "lists.deny",
                     "client '" + id + "' is on both the allow and deny list");
    }
  }
  return Status::Ok();
}

Status ReadRoot(const YAML::Node& root, PolicyConfig* c) {
  Fields fields = {
      {"detector",
       [c](const YAML::Node& n, const std::string& p) {
         return ReadDetector(n, p, &c->detector);
       }},
      {"thresholds",
       [c](const YAML::Node& n, const std::string& p) {
         return ReadThresholds(n, p, &c->thresholds);
       }},
      {"actions", Actions(&c->actions)},
      {"lists", Lists(&c->lists)},
      {"guards", Guards(&c->guards)},
      {"fail_safes", FailSafes(&c->fail_safes)},
      {"quarantine",
       [c](const YAML::Node& n, const std::string& p) {
         return ReadQuarantine(n, p, &c->quarantine);
       }},
      {"reputation", Map({{"initial", Double(&c->reputation.initial, UnitClosed,
                                             "must be in [0, 1]")},
                          {"rate", Double(&c->reputation.rate, UnitOpenLow,
                                          "must be in (0, 1]")}})},
      {"state",
       Map({{"path", String(&c->state.path)},
            {"on_corrupt", Enum<OnCorrupt>(&c->state.on_corrupt,
                                           {{"fail", OnCorrupt::kFail},
                                            {"reset", OnCorrupt::kReset}})}})},
      {"audit", Map({{"path", String(&c->audit.path)}})},
      {"rounds", Map({{"max_gap",
                       [c](const YAML::Node& n, const std::string& p) {
                         int64_t gap = 0;
                         FLS_RETURN_IF_ERROR(
                             ReadInt(n, p, 1, int64_t{1} << 53, &gap));
                         c->rounds.max_gap = static_cast<uint64_t>(gap);
                         return Status::Ok();
                       }}})},
  };
  FLS_RETURN_IF_ERROR(ReadMap(root, "", fields));
  return CheckRoot(root, *c);
}

}  // namespace

Result<PolicyConfig> ParsePolicyYaml(std::string_view yaml_text) {
  auto root = yaml::LoadDocument(yaml_text, kMaxPolicyBytes);
  if (!root.ok()) return root.status().WithContext("policy");
  PolicyConfig config;
  Status status = ReadRoot(*root, &config);
  if (!status.ok()) return status.WithContext("policy");
  config.detector.column_energy = config.guards.columns.enabled;
  return config;
}

}  // namespace flsentry
