#include "sim_config.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

namespace flsentry::sim {
namespace {

constexpr int64_t kMaxClients = 10000;
constexpr int kMaxRounds = 100000;

// Reads the keys of one YAML mapping and rejects the ones nobody asked for.
class MapReader {
 public:
  MapReader(const YAML::Node& node, std::string path)
      : node_(node), path_(std::move(path)) {}

  Status CheckIsMap() const {
    if (!node_.IsMap()) return ConfigError(Where("") + "must be a mapping");
    return Status::Ok();
  }

  template <typename T>
  Status Get(const std::string& key, T* out) {
    seen_.insert(key);
    const YAML::Node v = node_[key];
    if (!v) return Status::Ok();
    if (!v.IsScalar()) return ConfigError(Where(key) + "must be a scalar");
    try {
      *out = v.as<T>();
    } catch (const YAML::Exception&) {
      return ConfigError(Where(key) + "has the wrong type ('" + v.Scalar() +
                         "')");
    }
    if constexpr (std::is_floating_point_v<T>) {
      if (!std::isfinite(*out))
        return ConfigError(Where(key) + "must be finite");
    }
    return Status::Ok();
  }

  // A nested mapping, or an undefined node when the key is absent.
  YAML::Node Child(const std::string& key) {
    seen_.insert(key);
    return node_[key];
  }

  Status RejectUnknown() const {
    for (const auto& kv : node_) {
      const std::string key = kv.first.as<std::string>();
      if (!seen_.count(key))
        return ConfigError(Where(key) + "is not a known key");
    }
    return Status::Ok();
  }

  std::string Where(const std::string& key) const {
    std::string full = path_.empty() ? key
                       : key.empty() ? path_
                                     : path_ + "." + key;
    return "'" + full + "' ";
  }

 private:
  YAML::Node node_;
  std::string path_;
  std::set<std::string> seen_;
};

Status ReadParams(const YAML::Node& node, const std::string& path,
                  Params* out) {
  if (!node) return Status::Ok();
  if (!node.IsMap()) return ConfigError("'" + path + "' must be a mapping");
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    double value = 0.0;
    try {
      value = kv.second.as<double>();
    } catch (const YAML::Exception&) {
      return ConfigError("'" + path + "." + key + "' must be a number");
    }
    if (!std::isfinite(value)) {
      return ConfigError("'" + path + "." + key + "' must be finite");
    }
    (*out)[key] = value;
  }
  return Status::Ok();
}

Status CheckRange(bool ok, const std::string& key, const std::string& what) {
  return ok ? Status::Ok() : ConfigError("'" + key + "' " + what);
}

Status ParseRoot(const YAML::Node& root, SimConfig* c) {
  MapReader r(root, "");
  FLS_RETURN_IF_ERROR(r.CheckIsMap());
  FLS_RETURN_IF_ERROR(r.Get("model", &c->model.kind));
  FLS_RETURN_IF_ERROR(r.Get("hidden", &c->model.hidden));
  FLS_RETURN_IF_ERROR(r.Get("dataset_dir", &c->dataset_dir));
  FLS_RETURN_IF_ERROR(r.Get("train_examples", &c->train_examples));
  FLS_RETURN_IF_ERROR(r.Get("test_examples", &c->test_examples));
  FLS_RETURN_IF_ERROR(r.Get("clients", &c->clients));
  FLS_RETURN_IF_ERROR(r.Get("partition", &c->partition));
  FLS_RETURN_IF_ERROR(r.Get("alpha", &c->alpha));
  FLS_RETURN_IF_ERROR(r.Get("local_epochs", &c->local_epochs));
  FLS_RETURN_IF_ERROR(r.Get("lr", &c->lr));
  FLS_RETURN_IF_ERROR(r.Get("momentum", &c->momentum));
  FLS_RETURN_IF_ERROR(r.Get("batch_size", &c->batch_size));
  FLS_RETURN_IF_ERROR(r.Get("participation", &c->participation));
  FLS_RETURN_IF_ERROR(r.Get("rounds", &c->rounds));
  FLS_RETURN_IF_ERROR(r.Get("seed", &c->seed));
  FLS_RETURN_IF_ERROR(r.Get("threads", &c->threads));

  if (YAML::Node attack = r.Child("attack")) {
    MapReader a(attack, "attack");
    FLS_RETURN_IF_ERROR(a.CheckIsMap());
    FLS_RETURN_IF_ERROR(a.Get("type", &c->attack.type));
    FLS_RETURN_IF_ERROR(a.Get("fraction", &c->attack.fraction));
    FLS_RETURN_IF_ERROR(a.Get("start_round", &c->attack.start_round));
    FLS_RETURN_IF_ERROR(
        ReadParams(a.Child("params"), "attack.params", &c->attack.params));
    FLS_RETURN_IF_ERROR(a.RejectUnknown());
  }
  if (YAML::Node agg = r.Child("aggregator")) {
    MapReader a(agg, "aggregator");
    FLS_RETURN_IF_ERROR(a.CheckIsMap());
    FLS_RETURN_IF_ERROR(a.Get("type", &c->aggregator.type));
    FLS_RETURN_IF_ERROR(ReadParams(a.Child("params"), "aggregator.params",
                                   &c->aggregator.params));
    FLS_RETURN_IF_ERROR(a.RejectUnknown());
  }
  if (YAML::Node eval = r.Child("eval_backdoor")) {
    Params params;
    FLS_RETURN_IF_ERROR(ReadParams(eval, "eval_backdoor", &params));
    c->eval_backdoor = std::move(params);
  }
  return r.RejectUnknown();
}

Status Validate(const SimConfig& c) {
  FLS_RETURN_IF_ERROR(CheckRange(c.model.kind == "mlp" || c.model.kind == "cnn",
                                 "model", "must be mlp or cnn"));
  FLS_RETURN_IF_ERROR(CheckRange(c.model.hidden >= 1 && c.model.hidden <= 4096,
                                 "hidden", "must be in 1..4096"));
  FLS_RETURN_IF_ERROR(CheckRange(c.train_examples >= 0 && c.test_examples >= 0,
                                 "train_examples/test_examples",
                                 "must be >= 0 (0 means all)"));
  FLS_RETURN_IF_ERROR(CheckRange(c.clients >= 1 && c.clients <= kMaxClients,
                                 "clients", "must be in 1..10000"));
  FLS_RETURN_IF_ERROR(
      CheckRange(c.partition == "iid" || c.partition == "dirichlet",
                 "partition", "must be iid or dirichlet"));
  FLS_RETURN_IF_ERROR(CheckRange(c.alpha > 0.0, "alpha", "must be > 0"));
  FLS_RETURN_IF_ERROR(CheckRange(c.local_epochs >= 1 && c.local_epochs <= 100,
                                 "local_epochs", "must be in 1..100"));
  FLS_RETURN_IF_ERROR(
      CheckRange(c.lr > 0.0 && c.lr <= 10.0, "lr", "must be in (0, 10]"));
  FLS_RETURN_IF_ERROR(CheckRange(c.momentum >= 0.0 && c.momentum < 1.0,
                                 "momentum", "must be in [0, 1)"));
  FLS_RETURN_IF_ERROR(CheckRange(c.batch_size >= 1 && c.batch_size <= 65536,
                                 "batch_size", "must be in 1..65536"));
  FLS_RETURN_IF_ERROR(
      CheckRange(c.participation > 0.0 && c.participation <= 1.0,
                 "participation", "must be in (0, 1]"));
  FLS_RETURN_IF_ERROR(CheckRange(c.rounds >= 1 && c.rounds <= kMaxRounds,
                                 "rounds", "must be in 1..100000"));
  FLS_RETURN_IF_ERROR(CheckRange(c.threads >= 1 && c.threads <= 256, "threads",
                                 "must be in 1..256"));
  FLS_RETURN_IF_ERROR(
      CheckRange(c.attack.fraction >= 0.0 && c.attack.fraction < 1.0,
                 "attack.fraction", "must be in [0, 1)"));
  FLS_RETURN_IF_ERROR(CheckRange(c.attack.start_round >= 1,
                                 "attack.start_round", "must be >= 1"));
  FLS_RETURN_IF_ERROR(CheckRange(
      c.attack.type == "none" || c.NumMalicious() >= 1, "attack.fraction",
      "selects no client: raise it or set attack.type to none"));
  return Status::Ok();
}

}  // namespace

int SimConfig::ClientsPerRound() const {
  const auto k = static_cast<int>(std::lround(participation * clients));
  return std::max(1, std::min(k, clients));
}

int SimConfig::NumMalicious() const {
  if (attack.type == "none") return 0;
  return static_cast<int>(std::lround(attack.fraction * clients));
}

Result<SimConfig> ParseSimConfig(const std::string& yaml_text,
                                 const std::string& source) {
  SimConfig config;
  try {
    const YAML::Node root = YAML::Load(yaml_text);
    Status s = ParseRoot(root, &config);
    if (s.ok()) s = Validate(config);
    if (!s.ok()) return s.WithContext(source);
  } catch (const YAML::Exception& e) {
    return ConfigError(source + ": not valid YAML: " + e.what());
  }
  return config;
}

Result<SimConfig> LoadSimConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound(path + ": cannot open the simulation config");
  std::ostringstream text;
  text << in.rdbuf();
  if (!in.good() && !in.eof()) return IoError(path + ": read failed");
  return ParseSimConfig(text.str(), path);
}

}  // namespace flsentry::sim
