#include "sim_config.h"

#include <cmath>
#include <cstdint>
#include <limits>

#include "base/file_reader.h"
#include "base/yaml_reader.h"

namespace flsentry::sim {
namespace {

constexpr int64_t kMaxClients = 10000;
constexpr int kMaxRounds = 100000;
constexpr size_t kMaxSimConfigBytes = size_t{1} << 20;

// A mapping read with `fields`; unlike yaml::Map, a key with nothing after
// it (a null node) is refused, as the simulator always did.
yaml::FieldReader Mapping(yaml::Fields fields) {
  return
      [fields = std::move(fields)](const YAML::Node& n, const std::string& p) {
        if (!n.IsMap())
          return yaml::ErrorAt(n, p, "expected a mapping of keys");
        return yaml::ReadMap(n, p, fields);
      };
}

// A name -> number mapping (attack, aggregator and eval_backdoor params):
// the names are checked by whoever reads the params; each appears once and
// holds an unquoted finite number.
Status ReadParams(const YAML::Node& node, const std::string& path,
                  Params* out) {
  if (!node.IsMap()) {
    return yaml::ErrorAt(node, path,
                         "expected a mapping of parameter names to numbers");
  }
  Params params;
  for (const auto& entry : node) {
    const YAML::Node& key = entry.first;
    if (!key.IsScalar()) {
      return yaml::ErrorAt(key, path, "keys must be plain strings");
    }
    const std::string key_path = yaml::Join(path, key.Scalar());
    if (params.count(key.Scalar()) != 0) {
      return yaml::ErrorAt(key, key_path, "key given twice");
    }
    double value = 0.0;
    FLS_RETURN_IF_ERROR(yaml::ReadDouble(entry.second, key_path, &value));
    params[key.Scalar()] = value;
  }
  *out = std::move(params);
  return Status::Ok();
}

yaml::FieldReader ParamsField(Params* out) {
  return [out](const YAML::Node& n, const std::string& p) {
    return ReadParams(n, p, out);
  };
}

// An integer of type T that `valid` accepts; otherwise the error says
// `requirement`.
template <typename T>
yaml::FieldReader Integer(T* out, bool (*valid)(int64_t),
                          const char* requirement) {
  return [=](const YAML::Node& n, const std::string& p) {
    int64_t value = 0;
    FLS_RETURN_IF_ERROR(yaml::ReadInt(n, p, std::numeric_limits<T>::min(),
                                      std::numeric_limits<T>::max(), &value));
    FLS_RETURN_IF_ERROR(yaml::CheckRange(valid(value), n, p, requirement));
    *out = static_cast<T>(value);
    return Status::Ok();
  };
}

// A string that is one of `a` or `b`.
yaml::FieldReader OneOf(std::string* out, const char* a, const char* b,
                        const char* requirement) {
  return [=](const YAML::Node& n, const std::string& p) {
    std::string value;
    FLS_RETURN_IF_ERROR(yaml::ReadString(n, p, &value));
    FLS_RETURN_IF_ERROR(
        yaml::CheckRange(value == a || value == b, n, p, requirement));
    *out = std::move(value);
    return Status::Ok();
  };
}

yaml::Fields AttackFields(AttackConfig* a) {
  return {
      {"type", yaml::String(&a->type)},
      {"fraction",
       yaml::Double(
           &a->fraction, [](double v) { return v >= 0.0 && v < 1.0; },
           "must be in [0, 1)")},
      {"start_round",
       Integer(
           &a->start_round, [](int64_t v) { return v >= 1; }, "must be >= 1")},
      {"params", ParamsField(&a->params)},
  };
}

yaml::Fields ModelAndDataFields(SimConfig* c) {
  return {
      {"model", OneOf(&c->model.kind, "mlp", "cnn", "must be mlp or cnn")},
      {"hidden",
       Integer(
           &c->model.hidden, [](int64_t v) { return v >= 1 && v <= 4096; },
           "must be in 1..4096")},
      {"dataset_dir", yaml::String(&c->dataset_dir)},
      {"train_examples",
       Integer(
           &c->train_examples, [](int64_t v) { return v >= 0; },
           "must be >= 0 (0 means all)")},
      {"test_examples", Integer(
                            &c->test_examples, [](int64_t v) { return v >= 0; },
                            "must be >= 0 (0 means all)")},
      {"clients",
       Integer(
           &c->clients, [](int64_t v) { return v >= 1 && v <= kMaxClients; },
           "must be in 1..10000")},
      {"partition",
       OneOf(&c->partition, "iid", "dirichlet", "must be iid or dirichlet")},
      {"alpha",
       yaml::Double(
           &c->alpha, [](double v) { return v > 0.0; }, "must be > 0")},
  };
}

yaml::Fields TrainingFields(SimConfig* c) {
  return {
      {"local_epochs",
       Integer(
           &c->local_epochs, [](int64_t v) { return v >= 1 && v <= 100; },
           "must be in 1..100")},
      {"lr", yaml::Double(
                 &c->lr, [](double v) { return v > 0.0 && v <= 10.0; },
                 "must be in (0, 10]")},
      {"lr_decay",
       yaml::Double(
           &c->lr_decay, [](double v) { return v > 0.0 && v <= 1.0; },
           "must be in (0, 1]")},
      {"momentum",
       yaml::Double(
           &c->momentum, [](double v) { return v >= 0.0 && v < 1.0; },
           "must be in [0, 1)")},
      {"batch_size",
       Integer(
           &c->batch_size, [](int64_t v) { return v >= 1 && v <= 65536; },
           "must be in 1..65536")},
      {"participation",
       yaml::Double(
           &c->participation, [](double v) { return v > 0.0 && v <= 1.0; },
           "must be in (0, 1]")},
      {"rounds",
       Integer(
           &c->rounds, [](int64_t v) { return v >= 1 && v <= kMaxRounds; },
           "must be in 1..100000")},
      {"seed", yaml::Uint64(&c->seed)},
      {"threads", Integer(
                      &c->threads, [](int64_t v) { return v >= 1 && v <= 256; },
                      "must be in 1..256")},
  };
}

Status ParseRoot(const YAML::Node& root, SimConfig* c) {
  if (!root.IsMap()) {
    return yaml::ErrorAt(root, "(document)", "expected a mapping of keys");
  }
  yaml::Fields fields = ModelAndDataFields(c);
  for (auto& field : TrainingFields(c)) fields.push_back(std::move(field));
  fields.emplace_back("attack", Mapping(AttackFields(&c->attack)));
  fields.emplace_back(
      "aggregator", Mapping({{"type", yaml::String(&c->aggregator.type)},
                             {"params", ParamsField(&c->aggregator.params)}}));
  fields.emplace_back("eval_backdoor",
                      [c](const YAML::Node& n, const std::string& p) {
                        Params params;
                        FLS_RETURN_IF_ERROR(ReadParams(n, p, &params));
                        c->eval_backdoor = std::move(params);
                        return Status::Ok();
                      });
  return yaml::ReadMap(root, "", fields);
}

// What the field readers cannot check alone (each range is checked where
// the key is read).
Status Validate(const SimConfig& c) {
  if (c.attack.type != "none" && c.NumMalicious() < 1) {
    return ConfigError(
        "'attack.fraction' selects no client: raise it or set attack.type to "
        "none");
  }
  return Status::Ok();
}

}  // namespace

int SimConfig::ClientsPerRound() const {
  const auto k = static_cast<int>(std::lround(participation * clients));
  return std::max(1, std::min(k, clients));
}

double SimConfig::LearningRate(int round) const {
  return lr * std::pow(lr_decay, std::max(0, round - 1));
}

int SimConfig::NumMalicious() const {
  if (attack.type == "none") return 0;
  return static_cast<int>(std::lround(attack.fraction * clients));
}

Result<SimConfig> ParseSimConfig(const std::string& yaml_text,
                                 const std::string& source) {
  auto root = yaml::LoadDocument(yaml_text, kMaxSimConfigBytes);
  if (!root.ok()) return root.status().WithContext(source);
  SimConfig config;
  Status s = ParseRoot(*root, &config);
  if (s.ok()) s = Validate(config);
  if (!s.ok()) return s.WithContext(source);
  return config;
}

Result<SimConfig> LoadSimConfig(const std::string& path) {
  FLS_ASSIGN_OR_RETURN(std::string text,
                       ReadWholeFile(path, kMaxSimConfigBytes));
  return ParseSimConfig(text, path);
}

}  // namespace flsentry::sim
