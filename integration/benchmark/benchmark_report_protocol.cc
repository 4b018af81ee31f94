// Protocol files and plan.json (benchmark_report_protocol.h); the expansion
// into runs is in benchmark_report_plan.cc.
#include "benchmark_report_protocol.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <set>

#include "base/file_reader.h"
#include "base/yaml_reader.h"

namespace flsentry::bench {
namespace {

constexpr size_t kMaxProtocolBytes = size_t{1} << 20;

const std::set<std::string>& KnownAggregators() {
  static const std::set<std::string> kNames = {
      "fedavg", "filter", "median", "trimmed_mean", "multikrum", "normclip"};
  return kNames;
}

bool IsPlainName(const std::string& s) {
  if (s.empty() || s.size() > 64 || s == "." || s == "..") return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.';
  });
}

bool Contains(const std::vector<std::string>& list, const std::string& s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

// A list of 1..kMaxListItems items, each read by `read`.
constexpr size_t kMaxListItems = 1000;
template <typename T>
Status ReadList(const YAML::Node& node, const std::string& path,
                Status (*read)(const YAML::Node&, const std::string&, T*),
                std::vector<T>* out) {
  if (!node.IsSequence() || node.size() == 0 || node.size() > kMaxListItems) {
    return yaml::ErrorAt(node, path,
                         "must be a non-empty list (at most 1000 items)");
  }
  std::vector<T> values(node.size());
  for (size_t i = 0; i < node.size(); ++i) {
    FLS_RETURN_IF_ERROR(
        read(node[i], path + "[" + std::to_string(i) + "]", &values[i]));
  }
  *out = std::move(values);
  return Status::Ok();
}

Status ReadSeed(const YAML::Node& node, const std::string& path, int* out) {
  int64_t value = 0;
  FLS_RETURN_IF_ERROR(yaml::ReadInt(node, path, std::numeric_limits<int>::min(),
                                    std::numeric_limits<int>::max(), &value));
  *out = static_cast<int>(value);
  return Status::Ok();
}

template <typename T>
yaml::FieldReader List(std::vector<T>* out,
                       Status (*read)(const YAML::Node&, const std::string&,
                                      T*)) {
  return [=](const YAML::Node& n, const std::string& p) {
    return ReadList(n, p, read, out);
  };
}

yaml::FieldReader Names(std::vector<std::string>* out) {
  return List(out, &yaml::ReadString);
}

// A mapping whose keys are names chosen by the protocol (shapes, fraction
// tags, sim keys): each key a plain scalar, given once, read by `read`.
Status ReadNamedEntries(
    const YAML::Node& node, const std::string& path,
    const std::function<Status(const std::string& name, const YAML::Node& key,
                               const YAML::Node& value,
                               const std::string& key_path)>& read) {
  if (!node.IsMap()) return yaml::ErrorAt(node, path, "must be a mapping");
  std::set<std::string> seen;
  for (const auto& entry : node) {
    const YAML::Node& key = entry.first;
    if (!key.IsScalar()) {
      return yaml::ErrorAt(key, path, "keys must be plain strings");
    }
    const std::string key_path = yaml::Join(path, key.Scalar());
    if (!seen.insert(key.Scalar()).second) {
      return yaml::ErrorAt(key, key_path, "key given twice");
    }
    FLS_RETURN_IF_ERROR(read(key.Scalar(), key, entry.second, key_path));
  }
  return Status::Ok();
}

// A mapping of scalar sim keys (overrides), kept as their YAML text. Keys
// the protocol sets itself are refused, and so are quoted values: the plan
// writes the text back unquoted, so a quoted "5" would reach the
// simulation as the number 5.
Status ReadOverrides(const YAML::Node& node, const std::string& path,
                     std::map<std::string, std::string>* out) {
  std::map<std::string, std::string> overrides;
  FLS_RETURN_IF_ERROR(ReadNamedEntries(
      node, path,
      [&](const std::string& name, const YAML::Node& key,
          const YAML::Node& value, const std::string& key_path) {
        for (const char* own :
             {"rounds", "threads", "attack", "aggregator", "seed"}) {
          if (name == own) {
            return yaml::ErrorAt(key, key_path,
                                 "is set by the protocol itself");
          }
        }
        if (!value.IsScalar() || value.Tag() == "!") {
          return yaml::ErrorAt(value, key_path, "must be an unquoted scalar");
        }
        return yaml::ReadString(value, key_path, &overrides[name]);
      }));
  *out = std::move(overrides);
  return Status::Ok();
}

yaml::FieldReader Overrides(std::map<std::string, std::string>* out) {
  return [out](const YAML::Node& n, const std::string& p) {
    return ReadOverrides(n, p, out);
  };
}

yaml::FieldReader Target(double* out) {
  return yaml::Double(
      out, [](double v) { return v >= 0.0; }, "must be a finite number >= 0");
}

yaml::Fields TargetFields(Targets* t) {
  return {{"max_honest_flagged", Target(&t->max_honest_flagged)},
          {"fraction", Target(&t->fraction)},
          {"accuracy_points", Target(&t->accuracy_points)},
          {"max_backdoor_success", Target(&t->max_backdoor_success)},
          {"detection_attacks", Names(&t->detection_attacks)},
          {"min_tpr", Target(&t->min_tpr)},
          {"max_fpr", Target(&t->max_fpr)}};
}

Status ReadShapes(const YAML::Node& node, const std::string& path,
                  std::vector<Shape>* out) {
  return ReadNamedEntries(
      node, path,
      [&](const std::string& name, const YAML::Node& key,
          const YAML::Node& value, const std::string& key_path) {
        if (!IsPlainName(name) || name == kBaseShape) {
          return yaml::ErrorAt(key, key_path,
                               "is not a plain name other than 'base'");
        }
        Shape shape;
        shape.name = name;
        FLS_RETURN_IF_ERROR(ReadOverrides(value, key_path, &shape.overrides));
        out->push_back(std::move(shape));
        return Status::Ok();
      });
}

Status ReadFractionAttacks(
    const YAML::Node& node, const std::string& path,
    std::map<std::string, std::vector<std::string>>* out) {
  return ReadNamedEntries(
      node, path,
      [&](const std::string& tag, const YAML::Node&, const YAML::Node& value,
          const std::string& key_path) {
        return ReadList(value, key_path, &yaml::ReadString, &(*out)[tag]);
      });
}

Status CheckSeeds(const std::vector<int>& seeds, const std::string& key) {
  std::set<int> seen;
  for (const int s : seeds) {
    if (s < 0 || !seen.insert(s).second) {
      return ConfigError("'" + key + "' must be distinct seeds >= 0");
    }
  }
  return Status::Ok();
}

Status CheckNames(const Protocol& p) {
  std::set<std::string> seen;
  for (const std::string& a : p.attacks) {
    if (!IsPlainName(a) || a == "none" || !seen.insert("a:" + a).second) {
      return ConfigError("'attacks': '" + a + "' is not a plain, unique name");
    }
  }
  for (const std::string& a : p.aggregators) {
    if (!KnownAggregators().count(a) || !seen.insert("g:" + a).second) {
      return ConfigError("'aggregators': '" + a +
                         "' is unknown or repeated (fedavg, filter, median, "
                         "trimmed_mean, multikrum, normclip)");
    }
  }
  for (const auto& [tag, attacks] : p.fraction_attacks) {
    const bool listed =
        std::any_of(p.fractions.begin(), p.fractions.end(),
                    [&, t = tag](double f) { return FractionTag(f) == t; });
    if (!listed) {
      return ConfigError("'fraction_attacks." + tag +
                         "' names no fraction of 'fractions' (e.g. f40)");
    }
    for (const std::string& a : attacks) {
      if (!Contains(p.attacks, a)) {
        return ConfigError("'fraction_attacks." + tag + "': '" + a +
                           "' is not in 'attacks'");
      }
    }
  }
  std::set<std::string> adaptive;
  for (const std::string& a : p.adaptive_attacks) {
    if (!Contains(p.attacks, a) || !adaptive.insert(a).second) {
      return ConfigError("'adaptive_attacks': '" + a +
                         "' is not in 'attacks' or is repeated");
    }
  }
  for (const std::string& a : p.targets.detection_attacks) {
    if (!Contains(p.attacks, a)) {
      return ConfigError("'targets.detection_attacks': '" + a +
                         "' is not in 'attacks'");
    }
  }
  return Status::Ok();
}

Status CheckShapes(const Protocol& p) {
  std::set<std::string> defined = {kBaseShape};
  for (const Shape& s : p.shapes) {
    if (!defined.insert(s.name).second)
      return ConfigError("'shapes': '" + s.name + "' is repeated");
  }
  const bool has_filter = Contains(p.aggregators, "filter");
  const bool has_fedavg = Contains(p.aggregators, "fedavg");
  std::set<std::string> seen;
  for (const std::string& s : p.honest_shapes) {
    if (!defined.count(s) || !seen.insert("h:" + s).second) {
      return ConfigError("'honest_shapes': '" + s +
                         "' is not a defined shape or is repeated");
    }
  }
  for (const std::string& s : p.detection_shapes) {
    if (s == kBaseShape || !defined.count(s) || !seen.insert("d:" + s).second) {
      return ConfigError("'detection_shapes': '" + s +
                         "' is not a defined shape other than base, or is "
                         "repeated");
    }
  }
  if (!p.honest_shapes.empty() && !(has_filter && has_fedavg)) {
    return ConfigError(
        "'honest_shapes' needs the filter and fedavg in "
        "'aggregators'");
  }
  if (!p.detection_shapes.empty() &&
      (!has_filter || p.targets.detection_attacks.empty())) {
    return ConfigError(
        "'detection_shapes' needs the filter in 'aggregators' "
        "and 'targets.detection_attacks'");
  }
  return Status::Ok();
}

Status Validate(Protocol* p, bool has_rounds) {
  if (!IsPlainName(p->name)) return ConfigError("'name' must be a plain name");
  if (p->base_config.empty()) return ConfigError("'base_config' is required");
  if (p->policy.empty()) return ConfigError("'policy' is required");
  if (!has_rounds || p->rounds < 1 || p->rounds > 10000) {
    return ConfigError("'rounds' is required and must be in 1..10000");
  }
  if (p->start_round < 1 || p->start_round > p->rounds) {
    return ConfigError("'start_round' must be in 1..rounds");
  }
  if (p->fractions.empty() || p->attacks.empty() || p->aggregators.empty() ||
      p->seeds.empty()) {
    return ConfigError(
        "'seeds', 'fractions', 'attacks' and 'aggregators' are required");
  }
  if (p->baseline_seeds.empty()) p->baseline_seeds = {p->seeds.front()};
  FLS_RETURN_IF_ERROR(CheckSeeds(p->seeds, "seeds"));
  FLS_RETURN_IF_ERROR(CheckSeeds(p->baseline_seeds, "baseline_seeds"));
  for (size_t i = 0; i < p->fractions.size(); ++i) {
    const double f = p->fractions[i];
    if (!(f > 0.0 && f < 1.0) || (i > 0 && !(f > p->fractions[i - 1]))) {
      return ConfigError("'fractions' must be ascending, each in (0, 1)");
    }
  }
  FLS_RETURN_IF_ERROR(CheckNames(*p));
  return CheckShapes(*p);
}

Status ParseProtocol(const YAML::Node& root, Protocol* p) {
  if (!root.IsMap()) {
    return yaml::ErrorAt(root, "(document)",
                         "the protocol must be a mapping of keys");
  }
  bool has_rounds = false;
  const yaml::Fields fields = {
      {"name", yaml::String(&p->name)},
      {"base_config", yaml::String(&p->base_config)},
      {"policy", yaml::String(&p->policy)},
      {"rounds",
       [&](const YAML::Node& n, const std::string& path) {
         has_rounds = true;
         return yaml::Int(&p->rounds, 1, 10000)(n, path);
       }},
      {"start_round",
       yaml::Int(&p->start_round, std::numeric_limits<int>::min(),
                 std::numeric_limits<int>::max())},
      {"overrides", Overrides(&p->overrides)},
      {"seeds", List(&p->seeds, &ReadSeed)},
      {"baseline_seeds", List(&p->baseline_seeds, &ReadSeed)},
      {"fractions", List(&p->fractions, &yaml::ReadDouble)},
      {"attacks", Names(&p->attacks)},
      {"fraction_attacks",
       [p](const YAML::Node& n, const std::string& path) {
         return ReadFractionAttacks(n, path, &p->fraction_attacks);
       }},
      {"adaptive_attacks", Names(&p->adaptive_attacks)},
      {"aggregators", Names(&p->aggregators)},
      {"shapes",
       [p](const YAML::Node& n, const std::string& path) {
         return ReadShapes(n, path, &p->shapes);
       }},
      {"honest_shapes", Names(&p->honest_shapes)},
      {"detection_shapes", Names(&p->detection_shapes)},
      {"targets",
       [p](const YAML::Node& n, const std::string& path) {
         if (!n.IsMap()) return yaml::ErrorAt(n, path, "must be a mapping");
         return yaml::ReadMap(n, path, TargetFields(&p->targets));
       }},
  };
  FLS_RETURN_IF_ERROR(yaml::ReadMap(root, "", fields));
  return Validate(p, has_rounds);
}

}  // namespace

std::vector<std::string> Protocol::AttacksAt(double fraction) const {
  if (fraction == 0.0) return {};
  const auto it = fraction_attacks.find(FractionTag(fraction));
  if (it == fraction_attacks.end()) return attacks;
  std::vector<std::string> out;  // in the order of `attacks`
  for (const std::string& a : attacks) {
    if (Contains(it->second, a)) out.push_back(a);
  }
  return out;
}

std::vector<std::string> Protocol::AttacksAt(double fraction,
                                             bool adaptive) const {
  std::vector<std::string> out;
  for (const std::string& a : AttacksAt(fraction)) {
    if (IsAdaptive(a) == adaptive) out.push_back(a);
  }
  return out;
}

bool Protocol::IsAdaptive(const std::string& attack) const {
  return Contains(adaptive_attacks, attack);
}

const ShapeInfo* Plan::Shape(const std::string& name) const {
  for (const ShapeInfo& s : shapes) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::string FractionTag(double fraction) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "f%02ld", std::lround(fraction * 100.0));
  return buf;
}

bool IsRunId(const std::string& s) {
  if (s.empty() || s.size() > 200 || s.find("..") != std::string::npos)
    return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
           c == '.' || c == '-';
  });
}

Result<Protocol> LoadProtocol(const std::string& path) {
  FLS_ASSIGN_OR_RETURN(std::string text,
                       ReadWholeFile(path, kMaxProtocolBytes));
  auto root = yaml::LoadDocument(text, kMaxProtocolBytes);
  if (!root.ok()) return root.status().WithContext(path);
  Protocol p;
  FLS_RETURN_IF_ERROR(ParseProtocol(*root, &p).WithContext(path));
  return p;
}

nlohmann::json PlanToJson(const Plan& plan) {
  const Protocol& p = plan.protocol;
  nlohmann::json runs = nlohmann::json::array();
  for (const RunSpec& r : plan.runs) {
    runs.push_back({{"id", r.id},
                    {"shape", r.shape},
                    {"fraction", r.fraction},
                    {"attack", r.attack},
                    {"aggregator", r.aggregator},
                    {"agg_params", r.agg_params},
                    {"uses_filter", r.uses_filter},
                    {"shadow_filter", r.shadow_filter},
                    {"seed", r.seed}});
  }
  nlohmann::json shapes = nlohmann::json::array();
  for (const ShapeInfo& s : plan.shapes) {
    shapes.push_back({{"name", s.name},
                      {"clients", s.clients},
                      {"clients_per_round", s.clients_per_round},
                      {"model", s.model},
                      {"partition", s.partition},
                      {"setting", s.setting}});
  }
  nlohmann::json shape_overrides = nlohmann::json::object();
  for (const Shape& s : p.shapes) shape_overrides[s.name] = s.overrides;
  const Targets& t = p.targets;
  return {{"protocol",
           {{"name", p.name},
            {"base_config", p.base_config},
            {"policy", p.policy},
            {"rounds", p.rounds},
            {"start_round", p.start_round},
            {"overrides", p.overrides},
            {"seeds", p.seeds},
            {"baseline_seeds", p.baseline_seeds},
            {"fractions", p.fractions},
            {"attacks", p.attacks},
            {"fraction_attacks", p.fraction_attacks},
            {"adaptive_attacks", p.adaptive_attacks},
            {"aggregators", p.aggregators},
            {"shapes", shape_overrides},
            {"honest_shapes", p.honest_shapes},
            {"detection_shapes", p.detection_shapes},
            {"targets",
             {{"max_honest_flagged", t.max_honest_flagged},
              {"fraction", t.fraction},
              {"accuracy_points", t.accuracy_points},
              {"max_backdoor_success", t.max_backdoor_success},
              {"detection_attacks", t.detection_attacks},
              {"min_tpr", t.min_tpr},
              {"max_fpr", t.max_fpr}}}}},
          {"shapes", std::move(shapes)},
          {"policy_warmup_rounds", plan.policy_warmup_rounds},
          {"attack_details", plan.attack_details},
          {"runs", std::move(runs)}};
}

namespace {

void ProtocolFromJson(const nlohmann::json& p, Protocol* q) {
  p.at("name").get_to(q->name);
  p.at("base_config").get_to(q->base_config);
  p.at("policy").get_to(q->policy);
  p.at("rounds").get_to(q->rounds);
  p.at("start_round").get_to(q->start_round);
  p.at("overrides").get_to(q->overrides);
  p.at("seeds").get_to(q->seeds);
  p.at("baseline_seeds").get_to(q->baseline_seeds);
  p.at("fractions").get_to(q->fractions);
  p.at("attacks").get_to(q->attacks);
  p.at("fraction_attacks").get_to(q->fraction_attacks);
  p.at("adaptive_attacks").get_to(q->adaptive_attacks);
  p.at("aggregators").get_to(q->aggregators);
  for (const auto& [name, overrides] : p.at("shapes").items()) {
    q->shapes.push_back(
        {name, overrides.get<std::map<std::string, std::string>>()});
  }
  p.at("honest_shapes").get_to(q->honest_shapes);
  p.at("detection_shapes").get_to(q->detection_shapes);
  const nlohmann::json& t = p.at("targets");
  Targets& d = q->targets;
  t.at("max_honest_flagged").get_to(d.max_honest_flagged);
  t.at("fraction").get_to(d.fraction);
  t.at("accuracy_points").get_to(d.accuracy_points);
  t.at("max_backdoor_success").get_to(d.max_backdoor_success);
  t.at("detection_attacks").get_to(d.detection_attacks);
  t.at("min_tpr").get_to(d.min_tpr);
  t.at("max_fpr").get_to(d.max_fpr);
}

}  // namespace

Result<Plan> PlanFromJson(const nlohmann::json& j) {
  Plan plan;
  try {
    ProtocolFromJson(j.at("protocol"), &plan.protocol);
    for (const nlohmann::json& s : j.at("shapes")) {
      ShapeInfo info;
      s.at("name").get_to(info.name);
      s.at("clients").get_to(info.clients);
      s.at("clients_per_round").get_to(info.clients_per_round);
      s.at("model").get_to(info.model);
      s.at("partition").get_to(info.partition);
      s.at("setting").get_to(info.setting);
      plan.shapes.push_back(std::move(info));
    }
    j.at("policy_warmup_rounds").get_to(plan.policy_warmup_rounds);
    j.at("attack_details").get_to(plan.attack_details);
    for (const nlohmann::json& r : j.at("runs")) {
      RunSpec run;
      r.at("id").get_to(run.id);
      r.at("shape").get_to(run.shape);
      r.at("fraction").get_to(run.fraction);
      r.at("attack").get_to(run.attack);
      r.at("aggregator").get_to(run.aggregator);
      r.at("agg_params").get_to(run.agg_params);
      r.at("uses_filter").get_to(run.uses_filter);
      r.at("shadow_filter").get_to(run.shadow_filter);
      r.at("seed").get_to(run.seed);
      if (!IsRunId(run.id)) {
        return InvalidArgument("plan.json: run id '" + run.id +
                               "' is not a plain name");
      }
      plan.runs.push_back(std::move(run));
    }
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument(std::string("plan.json: ") + e.what());
  }
  if (plan.protocol.rounds < 1 || plan.protocol.fractions.empty() ||
      plan.runs.empty() || plan.Shape(kBaseShape) == nullptr) {
    return InvalidArgument(
        "plan.json: no rounds, fractions, runs or base shape");
  }
  for (const RunSpec& r : plan.runs) {
    if (plan.Shape(r.shape) == nullptr) {
      return InvalidArgument("plan.json: run " + r.id + " has unknown shape '" +
                             r.shape + "'");
    }
  }
  return plan;
}

}  // namespace flsentry::bench
