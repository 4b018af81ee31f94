// WritePlan (benchmark_report_protocol.h): the protocol expanded into one
// directory per run.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "base/yaml_reader.h"
#include "benchmark_report_protocol.h"
#include "sim_config.h"

namespace flsentry::bench {
namespace {

namespace fs = std::filesystem;

constexpr size_t kMaxConfigBytes = size_t{1} << 20;

// A simulation config the user wrote (base_config, attack_<name>.yaml):
// checked by the simulator's own strict reader (unknown or repeated keys,
// quoted numbers, ranges: errors with line and column), then loaded as a
// node to merge and write back.
Result<YAML::Node> LoadSimConfigNode(const std::string& text,
                                     const std::string& source) {
  FLS_RETURN_IF_ERROR(sim::ParseSimConfig(text, source).status());
  auto root = yaml::LoadDocument(text, kMaxConfigBytes);
  if (!root.ok()) return root.status().WithContext(source);
  return root;
}

Status ReadText(const fs::path& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound(path.string() + ": cannot open");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return IoError(path.string() + ": read failed");
  *out = text.str();
  return Status::Ok();
}

Status WriteText(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.flush();
  if (!out) return IoError(path.string() + ": write failed");
  return Status::Ok();
}

std::string Num(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

// The attack section of configs/sim/attack_<name>.yaml: type and params.
struct AttackSpec {
  YAML::Node type;
  YAML::Node params;
};

Status LoadAttack(const fs::path& repo, const std::string& name,
                  AttackSpec* spec, std::string* details) {
  const fs::path path = repo / "configs" / "sim" / ("attack_" + name + ".yaml");
  std::string text;
  FLS_RETURN_IF_ERROR(ReadText(path, &text));
  FLS_ASSIGN_OR_RETURN(const YAML::Node root,
                       LoadSimConfigNode(text, path.string()));
  const YAML::Node attack = root["attack"];
  if (!attack || !attack.IsMap() || !attack["type"]) {
    return ConfigError(path.string() + ": no 'attack.type'");
  }
  // The reader above checked: type is a string, params numbers by name.
  spec->type = YAML::Clone(attack["type"]);
  spec->params = attack["params"] ? YAML::Clone(attack["params"])
                                  : YAML::Node(YAML::NodeType::Map);
  *details = spec->type.Scalar();
  for (const auto& kv : spec->params) {
    *details += " " + kv.first.Scalar() + "=" + kv.second.Scalar();
  }
  return Status::Ok();
}

// Aggregator type, params node and their description for one fraction.
Status AggregatorFor(const std::string& name, double fraction, int n,
                     std::string* type, YAML::Node* params, std::string* text) {
  *type = name == "filter" ? "fedavg" : name;
  *params = YAML::Node(YAML::NodeType::Map);
  text->clear();
  if (name == "trimmed_mean") {
    const auto k = static_cast<int>(std::floor(fraction * n));
    if (n - 2 * k < 1) {
      return ConfigError("trimmed_mean beta=" + Num(fraction) + " trims all " +
                         std::to_string(n) + " updates of a round");
    }
    (*params)["beta"] = fraction;
    *text = "beta=" + Num(fraction);
  } else if (name == "multikrum") {
    const int wanted = static_cast<int>(std::lround(fraction * n));
    const int cap = (n - 3) / 2;  // largest f with n > 2f + 2
    if (cap < 0)
      return ConfigError("multikrum needs at least 3 updates a round");
    const int f = std::min(wanted, cap);
    (*params)["f"] = f;
    *text = "f=" + std::to_string(f);
    if (f < wanted) {
      *text += " (expected " + std::to_string(wanted) +
               "; Krum needs n > 2f+2, n=" + std::to_string(n) + ")";
    }
  } else if (name == "normclip") {
    *text = "tau = median update norm of the round";
  }
  return Status::Ok();
}

// detector.refresh.warmup_rounds of a policy (0 when absent), read as the
// strict reader reads it (one document, an unquoted integer); the plugin
// validates the rest of the policy when it loads it.
Status ReadWarmupRounds(const std::string& policy_text,
                        const std::string& source, int* out) {
  auto root = yaml::LoadDocument(policy_text, kMaxConfigBytes);
  if (!root.ok()) return root.status().WithContext(source);
  const YAML::Node& r = *root;
  const YAML::Node n = r.IsMap() && r["detector"] && r["detector"].IsMap() &&
                               r["detector"]["refresh"] &&
                               r["detector"]["refresh"].IsMap()
                           ? r["detector"]["refresh"]["warmup_rounds"]
                           : YAML::Node();
  *out = 0;
  if (!n) return Status::Ok();
  int64_t rounds = 0;
  FLS_RETURN_IF_ERROR(yaml::ReadInt(n, "detector.refresh.warmup_rounds", 0,
                                    std::numeric_limits<int>::max(), &rounds)
                          .WithContext(source));
  *out = static_cast<int>(rounds);
  return Status::Ok();
}

Status WriteRun(const fs::path& dir, const std::string& id,
                const std::string& sim_yaml, const std::string* policy_text) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return IoError(dir.string() + ": " + ec.message());
  const bool done = fs::exists(dir / "summary.json", ec);
  const std::vector<std::pair<std::string, const std::string*>> files = {
      {"sim.yaml", &sim_yaml}, {"policy.yaml", policy_text}};
  for (const auto& [file, text] : files) {
    if (text == nullptr) continue;
    if (done) {
      std::string old;
      if (!ReadText(dir / file, &old).ok() || old != *text) {
        return StateError("run " + id + " finished with a different " + file +
                          " than the protocol now makes; delete " +
                          dir.string() + " to rerun it");
      }
      continue;
    }
    FLS_RETURN_IF_ERROR(WriteText(dir / file, *text));
  }
  return Status::Ok();
}

std::string Key(const YAML::Node& config, const char* key,
                const std::string& fallback) {
  return config[key] && config[key].IsScalar() ? config[key].Scalar()
                                               : fallback;
}

// A shape's description from its config node (its text, defaults as
// sim_config.h's) and the same config as the simulator reads it.
ShapeInfo DescribeShape(const std::string& name, const YAML::Node& config,
                        const sim::SimConfig& parsed) {
  ShapeInfo s;
  s.name = name;
  s.clients = parsed.clients;
  s.clients_per_round = std::clamp(
      static_cast<int>(std::lround(parsed.participation * s.clients)), 1,
      std::max(1, s.clients));
  s.model = Key(config, "model", "mlp") + " (hidden " +
            Key(config, "hidden", "64") + ")";
  const std::string partition = Key(config, "partition", "dirichlet");
  s.partition = partition == "iid"
                    ? "iid"
                    : partition + "(" + Key(config, "alpha", "0.5") + ")";
  for (const char* key : {"dataset_dir", "train_examples", "test_examples",
                          "partition", "alpha", "participation", "local_epochs",
                          "lr", "lr_decay", "momentum", "batch_size"}) {
    if (!config[key] || !config[key].IsScalar()) continue;
    if (!s.setting.empty()) s.setting += ", ";
    s.setting += std::string(key) + "=" + config[key].Scalar();
  }
  return s;
}

// What every run of the plan shares while it is being expanded.
struct Expander {
  Expander(const Protocol& p, fs::path dir, Plan* into)
      : protocol(p), out(std::move(dir)), plan(into) {}
  const Protocol& protocol;
  fs::path out;
  std::string policy_text;
  std::map<std::string, YAML::Node> configs;  // shape -> config, no run keys
  std::map<std::string, AttackSpec> attacks;
  std::set<std::string> ids;
  std::ostringstream tsv;
  Plan* plan;

  Status Add(const std::string& shape, double fraction,
             const std::string& attack, const std::string& agg, int seed);
};

Status Expander::Add(const std::string& shape, double fraction,
                     const std::string& attack, const std::string& agg,
                     int seed) {
  RunSpec run;
  run.shape = shape;
  run.fraction = fraction;
  run.attack = attack;
  run.aggregator = agg;
  run.uses_filter = agg == "filter";
  run.shadow_filter = !run.uses_filter && fraction > 0.0 &&
                      sim::IsOracleAttack(attacks.at(attack).type.Scalar());
  run.seed = seed;
  run.id = shape + "-" + FractionTag(fraction) + "-" + attack + "-" + agg +
           "-s" + std::to_string(seed);
  if (!ids.insert(run.id).second) return Status::Ok();  // planned already
  YAML::Node config = YAML::Clone(configs.at(shape));
  config["seed"] = seed;
  YAML::Node attack_node(YAML::NodeType::Map);
  attack_node["type"] = "none";
  if (fraction > 0.0) {
    attack_node["type"] = attacks.at(attack).type;
    attack_node["fraction"] = fraction;
    attack_node["start_round"] = protocol.start_round;
    attack_node["params"] = attacks.at(attack).params;
  }
  config["attack"] = attack_node;
  const double defended =
      fraction == 0.0 ? protocol.fractions.front() : fraction;
  std::string type;
  YAML::Node params;
  FLS_RETURN_IF_ERROR(AggregatorFor(agg, defended,
                                    plan->Shape(shape)->clients_per_round,
                                    &type, &params, &run.agg_params));
  YAML::Node agg_node(YAML::NodeType::Map);
  agg_node["type"] = type;
  if (params.size() > 0) agg_node["params"] = params;
  config["aggregator"] = agg_node;
  YAML::Emitter emitter;
  emitter << config;
  const std::string sim_yaml =
      "# " + run.id + ": made by flsentry-benchmark-report plan from " +
      protocol.base_config + " (protocol " + protocol.name + ")\n" +
      emitter.c_str() + "\n";
  const fs::path dir = out / "runs" / run.id;
  // The run's config as flsentry-simulate will read it: refused here, not
  // after the runs before it.
  FLS_RETURN_IF_ERROR(
      sim::ParseSimConfig(sim_yaml, (dir / "sim.yaml").string()).status());
  const bool policy = run.uses_filter || run.shadow_filter;
  FLS_RETURN_IF_ERROR(
      WriteRun(dir, run.id, sim_yaml, policy ? &policy_text : nullptr));
  tsv << run.id << '\t' << dir.string() << '\t'
      << (run.uses_filter     ? 1
          : run.shadow_filter ? 2
                              : 0)
      << '\n';
  plan->runs.push_back(std::move(run));
  return Status::Ok();
}

// Every run, in the order they are planned: the attack table, then the
// honest shapes, then the detection shapes.
Status ExpandRuns(Expander& x) {
  const Protocol& p = x.protocol;
  std::vector<double> fractions = {0.0};
  fractions.insert(fractions.end(), p.fractions.begin(), p.fractions.end());
  for (const double f : fractions) {
    const std::vector<std::string> names =
        f == 0.0 ? std::vector<std::string>{"none"} : p.AttacksAt(f);
    for (const std::string& attack : names) {
      for (const std::string& agg : p.aggregators) {
        const bool full = agg == "filter" || (f == 0.0 && agg == "fedavg");
        for (const int seed : full ? p.seeds : p.baseline_seeds) {
          FLS_RETURN_IF_ERROR(x.Add(kBaseShape, f, attack, agg, seed));
        }
      }
    }
  }
  for (const std::string& shape : p.honest_shapes) {
    for (const char* agg : {"filter", "fedavg"}) {
      for (const int seed : p.seeds) {
        FLS_RETURN_IF_ERROR(x.Add(shape, 0.0, "none", agg, seed));
      }
    }
  }
  for (const std::string& shape : p.detection_shapes) {
    for (const std::string& attack : p.targets.detection_attacks) {
      for (const int seed : p.seeds) {
        FLS_RETURN_IF_ERROR(
            x.Add(shape, p.targets.fraction, attack, "filter", seed));
      }
    }
  }
  return Status::Ok();
}

// Sets the protocol's scalar sim keys (their YAML text) in `config`.
Status SetKeys(const std::map<std::string, std::string>& keys,
               YAML::Node& config) {
  for (const auto& [key, value] : keys) {
    auto node = yaml::LoadDocument(value, kMaxConfigBytes);
    if (!node.ok()) return node.status().WithContext(key);
    config[key] = *node;
  }
  return Status::Ok();
}

// `config` as the simulator reads it; `source` names it in errors.
Result<sim::SimConfig> ParseNode(const YAML::Node& config,
                                 const std::string& source) {
  YAML::Emitter emitter;
  emitter << config;
  return sim::ParseSimConfig(emitter.c_str(), source);
}

// Loads base_config + overrides and each shape's config; fills plan.shapes.
Status LoadConfigs(const fs::path& repo, Expander& x) {
  const Protocol& p = x.protocol;
  std::string base_text;
  FLS_RETURN_IF_ERROR(ReadText(repo / p.base_config, &base_text));
  FLS_ASSIGN_OR_RETURN(YAML::Node base,
                       LoadSimConfigNode(base_text, p.base_config));
  FLS_RETURN_IF_ERROR(SetKeys(p.overrides, base).WithContext("overrides"));
  base["rounds"] = p.rounds;
  base["threads"] = 1;
  FLS_ASSIGN_OR_RETURN(
      const sim::SimConfig parsed,
      ParseNode(base, p.base_config + " with the protocol's overrides"));
  x.configs[kBaseShape] = base;
  x.plan->shapes.push_back(DescribeShape(kBaseShape, base, parsed));
  for (const Shape& shape : p.shapes) {
    YAML::Node config = YAML::Clone(base);
    FLS_RETURN_IF_ERROR(
        SetKeys(shape.overrides, config).WithContext("shapes." + shape.name));
    FLS_ASSIGN_OR_RETURN(const sim::SimConfig shape_parsed,
                         ParseNode(config, "shape '" + shape.name + "'"));
    x.configs[shape.name] = config;
    x.plan->shapes.push_back(DescribeShape(shape.name, config, shape_parsed));
  }
  return Status::Ok();
}

}  // namespace

Result<Plan> WritePlan(const Protocol& protocol, const std::string& repo_root,
                       const std::string& out_dir) {
  const fs::path repo(repo_root);
  Plan plan;
  plan.protocol = protocol;
  Expander x(protocol, fs::absolute(out_dir), &plan);
  // The policy of the filter's runs and of oracle attacks' shadows.
  FLS_RETURN_IF_ERROR(ReadText(repo / protocol.policy, &x.policy_text));
  FLS_RETURN_IF_ERROR(ReadWarmupRounds(x.policy_text, protocol.policy,
                                       &plan.policy_warmup_rounds));
  for (const std::string& name : protocol.attacks) {
    FLS_RETURN_IF_ERROR(
        LoadAttack(repo, name, &x.attacks[name], &plan.attack_details[name]));
  }
  try {  // yaml-cpp's exceptions, if any, on configs checked above
    FLS_RETURN_IF_ERROR(LoadConfigs(repo, x));
    FLS_RETURN_IF_ERROR(ExpandRuns(x));
  } catch (const YAML::Exception& e) {
    return ConfigError(std::string("building the run configs: ") + e.what());
  }
  FLS_RETURN_IF_ERROR(WriteText(x.out / "plan.tsv", x.tsv.str()));
  FLS_RETURN_IF_ERROR(
      WriteText(x.out / "plan.json", PlanToJson(plan).dump(2) + "\n"));
  return plan;
}

}  // namespace flsentry::bench
