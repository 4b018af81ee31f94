#include "benchmark_report_protocol.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace flsentry::bench {
namespace {

namespace fs = std::filesystem;

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

// Run ids become directory names: letters, digits, '_', '.', '-', no "..".
bool IsRunId(const std::string& s) {
  if (s.empty() || s.size() > 200 || s.find("..") != std::string::npos)
    return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
           c == '.' || c == '-';
  });
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

// yaml-cpp throws on type errors; each accessor converts to a ConfigError
// naming the key.
template <typename T>
Status Scalar(const YAML::Node& node, const std::string& key, T* out) {
  if (!node.IsScalar()) return ConfigError("'" + key + "' must be a scalar");
  try {
    *out = node.as<T>();
  } catch (const YAML::Exception&) {
    return ConfigError("'" + key + "' has the wrong type ('" + node.Scalar() +
                       "')");
  }
  return Status::Ok();
}

template <typename T>
Status List(const YAML::Node& node, const std::string& key,
            std::vector<T>* out) {
  if (!node.IsSequence() || node.size() == 0) {
    return ConfigError("'" + key + "' must be a non-empty list");
  }
  for (size_t i = 0; i < node.size(); ++i) {
    T v{};
    FLS_RETURN_IF_ERROR(
        Scalar(node[i], key + "[" + std::to_string(i) + "]", &v));
    out->push_back(std::move(v));
  }
  return Status::Ok();
}

Status ParseTargets(const YAML::Node& node, Targets* t) {
  if (!node.IsMap()) return ConfigError("'targets' must be a mapping");
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    double* dst = key == "max_fpr_per_round" ? &t->max_fpr_per_round
                  : key == "fraction"        ? &t->fraction
                  : key == "accuracy_points" ? &t->accuracy_points
                                             : nullptr;
    if (dst == nullptr)
      return ConfigError("'targets." + key + "' is not a known key");
    FLS_RETURN_IF_ERROR(Scalar(kv.second, "targets." + key, dst));
    if (!std::isfinite(*dst) || *dst < 0.0) {
      return ConfigError("'targets." + key + "' must be a finite number >= 0");
    }
  }
  return Status::Ok();
}

Status ParseProtocol(const YAML::Node& root, Protocol* p) {
  if (!root.IsMap()) return ConfigError("the protocol must be a mapping");
  bool has_rounds = false;
  for (const auto& kv : root) {
    const std::string key = kv.first.as<std::string>();
    const YAML::Node& v = kv.second;
    if (key == "name") {
      FLS_RETURN_IF_ERROR(Scalar(v, key, &p->name));
    } else if (key == "base_config") {
      FLS_RETURN_IF_ERROR(Scalar(v, key, &p->base_config));
    } else if (key == "policy") {
      FLS_RETURN_IF_ERROR(Scalar(v, key, &p->policy));
    } else if (key == "rounds") {
      FLS_RETURN_IF_ERROR(Scalar(v, key, &p->rounds));
      has_rounds = true;
    } else if (key == "start_round") {
      FLS_RETURN_IF_ERROR(Scalar(v, key, &p->start_round));
    } else if (key == "overrides") {
      if (!v.IsMap()) return ConfigError("'overrides' must be a mapping");
      for (const auto& o : v) {
        std::string value;
        FLS_RETURN_IF_ERROR(
            Scalar(o.second, "overrides." + o.first.as<std::string>(), &value));
        p->overrides[o.first.as<std::string>()] = value;
      }
    } else if (key == "fractions") {
      FLS_RETURN_IF_ERROR(List(v, key, &p->fractions));
    } else if (key == "attacks") {
      FLS_RETURN_IF_ERROR(List(v, key, &p->attacks));
    } else if (key == "aggregators") {
      FLS_RETURN_IF_ERROR(List(v, key, &p->aggregators));
    } else if (key == "targets") {
      FLS_RETURN_IF_ERROR(ParseTargets(v, &p->targets));
    } else {
      return ConfigError("'" + key + "' is not a known key");
    }
  }
  if (!IsPlainName(p->name)) return ConfigError("'name' must be a plain name");
  if (p->base_config.empty()) return ConfigError("'base_config' is required");
  if (p->policy.empty()) return ConfigError("'policy' is required");
  if (!has_rounds || p->rounds < 1 || p->rounds > 10000) {
    return ConfigError("'rounds' is required and must be in 1..10000");
  }
  if (p->start_round < 1 || p->start_round > p->rounds) {
    return ConfigError("'start_round' must be in 1..rounds");
  }
  for (const char* key : {"rounds", "threads", "attack", "aggregator"}) {
    if (p->overrides.count(key)) {
      return ConfigError(std::string("'overrides.") + key +
                         "' is set by the protocol itself");
    }
  }
  if (p->fractions.empty() || p->attacks.empty() || p->aggregators.empty()) {
    return ConfigError("'fractions', 'attacks' and 'aggregators' are required");
  }
  for (size_t i = 0; i < p->fractions.size(); ++i) {
    const double f = p->fractions[i];
    if (!(f > 0.0 && f < 1.0) || (i > 0 && !(f > p->fractions[i - 1]))) {
      return ConfigError("'fractions' must be ascending, each in (0, 1)");
    }
  }
  std::set<std::string> seen;
  for (const std::string& a : p->attacks) {
    if (!IsPlainName(a) || !seen.insert("a:" + a).second) {
      return ConfigError("'attacks': '" + a + "' is not a plain, unique name");
    }
  }
  for (const std::string& a : p->aggregators) {
    if (!KnownAggregators().count(a) || !seen.insert("g:" + a).second) {
      return ConfigError("'aggregators': '" + a +
                         "' is unknown or repeated (fedavg, filter, median, "
                         "trimmed_mean, multikrum, normclip)");
    }
  }
  return Status::Ok();
}

std::string Num(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

// The attack section of configs/sim/attack_<name>.yaml: type and params.
Status LoadAttack(const fs::path& repo, const std::string& name,
                  YAML::Node* type, YAML::Node* params, std::string* details) {
  const fs::path path = repo / "configs" / "sim" / ("attack_" + name + ".yaml");
  std::string text;
  FLS_RETURN_IF_ERROR(ReadText(path, &text));
  try {
    const YAML::Node root = YAML::Load(text);
    const YAML::Node attack = root["attack"];
    if (!attack || !attack.IsMap() || !attack["type"] ||
        !attack["type"].IsScalar()) {
      return ConfigError(path.string() + ": no 'attack.type'");
    }
    *type = YAML::Clone(attack["type"]);
    *params = attack["params"] ? YAML::Clone(attack["params"])
                               : YAML::Node(YAML::NodeType::Map);
    if (!params->IsMap())
      return ConfigError(path.string() + ": 'attack.params' must be a mapping");
    *details = type->Scalar();
    for (const auto& kv : *params) {
      *details +=
          " " + kv.first.as<std::string>() + "=" + kv.second.as<std::string>();
    }
  } catch (const YAML::Exception& e) {
    return ConfigError(path.string() + ": " + e.what());
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

// detector.refresh.warmup_rounds of a policy (0 when absent); the plugin
// validates the policy itself when it loads it.
Status ReadWarmupRounds(const std::string& policy_text,
                        const std::string& source, int* out) {
  try {
    const YAML::Node root = YAML::Load(policy_text);
    const YAML::Node n = root.IsMap() && root["detector"] &&
                                 root["detector"].IsMap() &&
                                 root["detector"]["refresh"] &&
                                 root["detector"]["refresh"].IsMap()
                             ? root["detector"]["refresh"]["warmup_rounds"]
                             : YAML::Node();
    *out = n && n.IsScalar() ? n.as<int>() : 0;
  } catch (const YAML::Exception& e) {
    return ConfigError(source + ": " + e.what());
  }
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

}  // namespace

std::string FractionTag(double fraction) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "f%02ld", std::lround(fraction * 100.0));
  return buf;
}

Result<Protocol> LoadProtocol(const std::string& path) {
  std::string text;
  FLS_RETURN_IF_ERROR(ReadText(path, &text));
  Protocol p;
  try {
    Status s = ParseProtocol(YAML::Load(text), &p);
    if (!s.ok()) return s.WithContext(path);
  } catch (const YAML::Exception& e) {
    return ConfigError(path + ": not valid YAML: " + e.what());
  }
  return p;
}

Result<Plan> WritePlan(const Protocol& protocol, const std::string& repo_root,
                       const std::string& out_dir) {
  const fs::path repo(repo_root);
  const fs::path out = fs::absolute(out_dir);
  Plan plan;
  plan.protocol = protocol;
  std::string base_text, policy_text;
  FLS_RETURN_IF_ERROR(ReadText(repo / protocol.base_config, &base_text));
  const bool any_filter = std::count(protocol.aggregators.begin(),
                                     protocol.aggregators.end(), "filter") > 0;
  if (any_filter) {
    FLS_RETURN_IF_ERROR(ReadText(repo / protocol.policy, &policy_text));
    FLS_RETURN_IF_ERROR(ReadWarmupRounds(policy_text, protocol.policy,
                                         &plan.policy_warmup_rounds));
  }
  try {
    YAML::Node base = YAML::Load(base_text);
    if (!base.IsMap())
      return ConfigError(protocol.base_config + ": not a mapping");
    for (const auto& [key, value] : protocol.overrides)
      base[key] = YAML::Load(value);
    base["rounds"] = protocol.rounds;
    base["threads"] = 1;
    const double participation =
        base["participation"] ? base["participation"].as<double>() : 0.2;
    plan.clients = base["clients"] ? base["clients"].as<int>() : 50;
    const auto per_round =
        static_cast<int>(std::lround(participation * plan.clients));
    plan.clients_per_round =
        std::clamp(per_round, 1, std::max(1, plan.clients));
    plan.model =
        (base["model"] ? base["model"].as<std::string>() : std::string("mlp")) +
        " (hidden " +
        (base["hidden"] ? base["hidden"].as<std::string>() : "64") + ")";
    for (const char* key :
         {"dataset_dir", "train_examples", "test_examples", "partition",
          "alpha", "participation", "local_epochs", "lr", "momentum",
          "batch_size", "seed"}) {
      if (!base[key] || !base[key].IsScalar()) continue;
      if (!plan.setting.empty()) plan.setting += ", ";
      plan.setting += std::string(key) + "=" + base[key].Scalar();
    }

    std::vector<double> fractions = {0.0};
    fractions.insert(fractions.end(), protocol.fractions.begin(),
                     protocol.fractions.end());
    std::map<std::string, std::pair<YAML::Node, YAML::Node>> attacks;
    for (const std::string& name : protocol.attacks) {
      YAML::Node type, params;
      FLS_RETURN_IF_ERROR(
          LoadAttack(repo, name, &type, &params, &plan.attack_details[name]));
      attacks[name] = {type, params};
    }
    std::ostringstream tsv;
    for (const double fraction : fractions) {
      const std::vector<std::string> names =
          fraction == 0.0 ? std::vector<std::string>{"none"} : protocol.attacks;
      const double defended =
          fraction == 0.0 ? protocol.fractions.front() : fraction;
      for (const std::string& attack : names) {
        for (const std::string& agg : protocol.aggregators) {
          RunSpec run;
          run.fraction = fraction;
          run.attack = attack;
          run.aggregator = agg;
          run.uses_filter = agg == "filter";
          run.id = FractionTag(fraction) + "-" + attack + "-" + agg;
          YAML::Node config = YAML::Clone(base);
          YAML::Node attack_node(YAML::NodeType::Map);
          attack_node["type"] = "none";
          if (fraction > 0.0) {
            attack_node["type"] = attacks[attack].first;
            attack_node["fraction"] = fraction;
            attack_node["start_round"] = protocol.start_round;
            attack_node["params"] = attacks[attack].second;
          }
          config["attack"] = attack_node;
          std::string type;
          YAML::Node params;
          FLS_RETURN_IF_ERROR(AggregatorFor(agg, defended,
                                            plan.clients_per_round, &type,
                                            &params, &run.agg_params));
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
          FLS_RETURN_IF_ERROR(WriteRun(
              dir, run.id, sim_yaml, run.uses_filter ? &policy_text : nullptr));
          tsv << run.id << '\t' << dir.string() << '\t'
              << (run.uses_filter ? 1 : 0) << '\n';
          plan.runs.push_back(std::move(run));
        }
      }
    }
    FLS_RETURN_IF_ERROR(WriteText(out / "plan.tsv", tsv.str()));
  } catch (const YAML::Exception& e) {
    return ConfigError(std::string("building the run configs: ") + e.what());
  }
  FLS_RETURN_IF_ERROR(
      WriteText(out / "plan.json", PlanToJson(plan).dump(2) + "\n"));
  return plan;
}

nlohmann::json PlanToJson(const Plan& plan) {
  const Protocol& p = plan.protocol;
  nlohmann::json runs = nlohmann::json::array();
  for (const RunSpec& r : plan.runs) {
    runs.push_back({{"id", r.id},
                    {"fraction", r.fraction},
                    {"attack", r.attack},
                    {"aggregator", r.aggregator},
                    {"agg_params", r.agg_params},
                    {"uses_filter", r.uses_filter}});
  }
  return {{"protocol",
           {{"name", p.name},
            {"base_config", p.base_config},
            {"policy", p.policy},
            {"rounds", p.rounds},
            {"start_round", p.start_round},
            {"overrides", p.overrides},
            {"fractions", p.fractions},
            {"attacks", p.attacks},
            {"aggregators", p.aggregators},
            {"targets",
             {{"max_fpr_per_round", p.targets.max_fpr_per_round},
              {"fraction", p.targets.fraction},
              {"accuracy_points", p.targets.accuracy_points}}}}},
          {"clients", plan.clients},
          {"clients_per_round", plan.clients_per_round},
          {"model", plan.model},
          {"setting", plan.setting},
          {"policy_warmup_rounds", plan.policy_warmup_rounds},
          {"attack_details", plan.attack_details},
          {"runs", std::move(runs)}};
}

Result<Plan> PlanFromJson(const nlohmann::json& j) {
  Plan plan;
  try {
    const nlohmann::json& p = j.at("protocol");
    Protocol& q = plan.protocol;
    p.at("name").get_to(q.name);
    p.at("base_config").get_to(q.base_config);
    p.at("policy").get_to(q.policy);
    p.at("rounds").get_to(q.rounds);
    p.at("start_round").get_to(q.start_round);
    p.at("overrides").get_to(q.overrides);
    p.at("fractions").get_to(q.fractions);
    p.at("attacks").get_to(q.attacks);
    p.at("aggregators").get_to(q.aggregators);
    const nlohmann::json& t = p.at("targets");
    t.at("max_fpr_per_round").get_to(q.targets.max_fpr_per_round);
    t.at("fraction").get_to(q.targets.fraction);
    t.at("accuracy_points").get_to(q.targets.accuracy_points);
    j.at("clients").get_to(plan.clients);
    j.at("clients_per_round").get_to(plan.clients_per_round);
    j.at("model").get_to(plan.model);
    j.at("setting").get_to(plan.setting);
    j.at("policy_warmup_rounds").get_to(plan.policy_warmup_rounds);
    j.at("attack_details").get_to(plan.attack_details);
    for (const nlohmann::json& r : j.at("runs")) {
      RunSpec run;
      r.at("id").get_to(run.id);
      r.at("fraction").get_to(run.fraction);
      r.at("attack").get_to(run.attack);
      r.at("aggregator").get_to(run.aggregator);
      r.at("agg_params").get_to(run.agg_params);
      r.at("uses_filter").get_to(run.uses_filter);
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
      plan.runs.empty()) {
    return InvalidArgument("plan.json: no rounds, fractions or runs");
  }
  return plan;
}

}  // namespace flsentry::bench
