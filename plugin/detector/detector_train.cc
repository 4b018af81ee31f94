#include "detector/detector_train.h"

#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>
#include <set>

#include "archive/round_archive.h"
#include "detector/detector_file.h"
#include "tensor/tensor_file.h"

namespace flsentry {
namespace {

const char* kVersion = "flsentry 0.1.0";
// Held-out rows below which calibration scores every row instead.
constexpr int64_t kMinHeldOut = 20;

std::string Where(const YAML::Node& node, const std::string& key) {
  const YAML::Mark m = node.Mark();
  return "train config: " + key + " (line " + std::to_string(m.line + 1) +
         ", column " + std::to_string(m.column + 1) + ")";
}

// Reads node[key] as T into *out when present. Refuses unknown keys of
// `node` against `known`.
class Section {
 public:
  Section(const YAML::Node& node, std::string path)
      : node_(node), path_(std::move(path)) {}

  Status CheckKeys(const std::set<std::string>& known) const {
    if (!node_ || node_.IsNull()) return Status::Ok();
    if (!node_.IsMap())
      return ConfigError(Where(node_, path_) + ": expected a mapping");
    for (const auto& kv : node_) {
      const std::string key = kv.first.as<std::string>();
      if (!known.count(key))
        return ConfigError(Where(kv.first, Prefix() + key) + ": unknown key");
    }
    return Status::Ok();
  }

  template <typename T>
  Status Get(const std::string& key, T* out, T min, T max) const {
    if (!node_ || !node_.IsMap() || !node_[key]) return Status::Ok();
    const YAML::Node v = node_[key];
    T value;
    if (!v.IsScalar() || !YAML::convert<T>::decode(v, value)) {
      return ConfigError(Where(v, Prefix() + key) + ": wrong type");
    }
    if (!(value >= min && value <= max)) {
      return ConfigError(Where(v, Prefix() + key) + ": out of range");
    }
    *out = value;
    return Status::Ok();
  }

  Status GetBool(const std::string& key, bool* out) const {
    if (!node_ || !node_.IsMap() || !node_[key]) return Status::Ok();
    const YAML::Node v = node_[key];
    if (!v.IsScalar() || !YAML::convert<bool>::decode(v, *out)) {
      return ConfigError(Where(v, Prefix() + key) + ": expected true or false");
    }
    return Status::Ok();
  }

  Status GetString(const std::string& key, std::string* out) const {
    if (!node_ || !node_.IsMap() || !node_[key]) return Status::Ok();
    const YAML::Node v = node_[key];
    if (!v.IsScalar())
      return ConfigError(Where(v, Prefix() + key) + ": expected a string");
    *out = v.Scalar();
    return Status::Ok();
  }

  Status GetStrings(const std::string& key,
                    std::vector<std::string>* out) const {
    if (!node_ || !node_.IsMap() || !node_[key]) return Status::Ok();
    const YAML::Node v = node_[key];
    if (!v.IsSequence())
      return ConfigError(Where(v, Prefix() + key) + ": expected a list");
    out->clear();
    for (const auto& e : v) {
      if (!e.IsScalar())
        return ConfigError(Where(e, Prefix() + key) + ": expected strings");
      out->push_back(e.Scalar());
    }
    return Status::Ok();
  }

  Section Child(const std::string& key) const {
    return Section(node_ && node_.IsMap() ? node_[key] : YAML::Node(),
                   Prefix() + key);
  }

 private:
  std::string Prefix() const { return path_.empty() ? "" : path_ + "."; }
  YAML::Node node_;
  std::string path_;
};

Status ParseInto(const YAML::Node& root, DetectorTrainConfig* c) {
  Section top(root, "");
  FLS_RETURN_IF_ERROR(top.CheckKeys({"features", "autoencoder", "input"}));
  Section f = top.Child("features");
  FLS_RETURN_IF_ERROR(
      f.CheckKeys({"mode", "sketch_dim", "seed", "include", "exclude",
                   "include_integer", "normalize", "sketch_version"}));
  std::string mode = EmbeddingModeName(c->features.mode);
  FLS_RETURN_IF_ERROR(f.GetString("mode", &mode));
  if (mode == "identity") {
    c->features.mode = EmbeddingMode::kIdentity;
  } else if (mode == "sketch") {
    c->features.mode = EmbeddingMode::kSketch;
  } else {
    return ConfigError(
        "train config: features.mode must be identity or sketch");
  }
  FLS_RETURN_IF_ERROR(f.Get<int64_t>("sketch_dim", &c->features.sketch_dim,
                                     kMinSketchDim, kMaxSketchDim));
  FLS_RETURN_IF_ERROR(
      f.Get<uint64_t>("seed", &c->features.seed, 0, UINT64_MAX));
  FLS_RETURN_IF_ERROR(f.GetStrings("include", &c->features.include));
  FLS_RETURN_IF_ERROR(f.GetStrings("exclude", &c->features.exclude));
  FLS_RETURN_IF_ERROR(
      f.GetBool("include_integer", &c->features.include_integer));
  FLS_RETURN_IF_ERROR(f.GetBool("normalize", &c->features.normalize));
  FLS_RETURN_IF_ERROR(
      f.Get<int>("sketch_version", &c->features.sketch_version, 1, 2));

  Section a = top.Child("autoencoder");
  FLS_RETURN_IF_ERROR(a.CheckKeys(
      {"hidden", "max_epochs", "batch_size", "learning_rate", "weight_decay",
       "validation_fraction", "patience", "seed", "threads"}));
  std::vector<std::string> hidden;
  FLS_RETURN_IF_ERROR(a.GetStrings("hidden", &hidden));
  if (!hidden.empty()) {
    c->hidden.clear();
    for (const std::string& h : hidden) {
      char* end = nullptr;
      const long long v = std::strtoll(h.c_str(), &end, 10);
      if (h.empty() || *end || v < 1 || v > 65536) {
        return ConfigError(
            "train config: autoencoder.hidden: sizes must be integers in [1, "
            "65536]");
      }
      c->hidden.push_back(v);
    }
  }
  TrainOptions& t = c->train;
  FLS_RETURN_IF_ERROR(a.Get<int>("max_epochs", &t.max_epochs, 1, 100000));
  FLS_RETURN_IF_ERROR(a.Get<int>("batch_size", &t.batch_size, 1, 1 << 20));
  FLS_RETURN_IF_ERROR(
      a.Get<double>("learning_rate", &t.learning_rate, 1e-8, 10.0));
  FLS_RETURN_IF_ERROR(
      a.Get<double>("weight_decay", &t.weight_decay, 0.0, 10.0));
  FLS_RETURN_IF_ERROR(
      a.Get<double>("validation_fraction", &t.validation_fraction, 0.01, 0.9));
  FLS_RETURN_IF_ERROR(a.Get<int>("patience", &t.patience, 1, 100000));
  FLS_RETURN_IF_ERROR(a.Get<uint64_t>("seed", &t.seed, 0, UINT64_MAX));
  FLS_RETURN_IF_ERROR(a.Get<int>("threads", &t.threads, 1, 1024));

  Section in = top.Child("input");
  FLS_RETURN_IF_ERROR(in.CheckKeys({"first_round", "last_round", "key_path"}));
  FLS_RETURN_IF_ERROR(
      in.Get<uint64_t>("first_round", &c->first_round, 0, UINT64_MAX));
  FLS_RETURN_IF_ERROR(
      in.Get<uint64_t>("last_round", &c->last_round, 0, UINT64_MAX));
  FLS_RETURN_IF_ERROR(in.GetString("key_path", &c->key_path));
  if (c->first_round > c->last_round) {
    return ConfigError(
        "train config: input.first_round is after input.last_round");
  }
  return Status::Ok();
}

std::string UtcNow() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

UpdateKind KindOf(const ArchiveRound& r) {
  return r.kind == ArchiveKind::kWeights ? UpdateKind::kWeights
                                         : UpdateKind::kDelta;
}

// Every usable update of the selected rounds, embedded.
struct EmbeddedSet {
  std::vector<float> rows;
  int64_t count = 0;
  std::vector<std::string> files;
  nlohmann::json skipped = nlohmann::json::array();
  std::set<uint64_t> rounds;
  bool labelled = false;
};

// Embeds the updates of `archive` with `fx` (created on the first usable
// update when null, from `settings`).
Result<EmbeddedSet> EmbedArchive(const RoundArchive& archive,
                                 const DetectorTrainConfig& config,
                                 const FeatureSettings& settings,
                                 std::unique_ptr<FeatureExtractor>* fx,
                                 bool progress) {
  EmbeddedSet out;
  size_t total = 0, done = 0;
  for (const auto& r : archive.rounds) {
    if (r.number >= config.first_round && r.number <= config.last_round)
      total += r.clients.size();
  }
  std::vector<float> row;
  for (const ArchiveRound& r : archive.rounds) {
    if (r.number < config.first_round || r.number > config.last_round) continue;
    const bool labelled = r.HasLabels();
    out.labelled |= labelled;
    TensorSet global;
    if (!r.global_file.empty()) {
      auto g = ReadTensorFile(r.GlobalPath(), {config.key_path});
      if (!g.ok()) return g.status();
      global = std::move(g).value();
    }
    const std::vector<TensorView> global_views = global.Views();
    for (size_t i = 0; i < r.clients.size(); ++i) {
      const ArchiveClient& c = r.clients[i];
      if (progress && isatty(2))
        std::fprintf(stderr, "\rembedding %zu/%zu", ++done, total);
      if (labelled && c.label != ArchiveLabel::kBenign) continue;
      const std::string path = r.ClientPath(i);
      auto skip = [&](const std::string& why) {
        out.skipped.push_back({{"file", path}, {"reason", why}});
      };
      auto set = ReadTensorFile(path, {config.key_path});
      if (!set.ok()) {
        skip(set.status().message());
        continue;
      }
      UpdateInput update;
      update.client_id = c.id;
      update.kind = KindOf(r);
      update.tensors = set->Views();
      if (!*fx) {
        auto layout = SelectLayout(
            settings, global_views.empty() ? update.tensors : global_views);
        if (!layout.ok()) return layout.status().WithContext(path);
        auto created =
            FeatureExtractor::Create(settings, std::move(layout).value());
        if (!created.ok()) return created.status();
        *fx = std::make_unique<FeatureExtractor>(std::move(created).value());
      }
      row.assign((*fx)->dim(), 0.0f);
      auto f = (*fx)->Embed(update, global_views, row);
      if (!f.ok()) {
        skip(f.status().message());
        continue;
      }
      if (f->nonfinite > 0) {
        skip(std::to_string(f->nonfinite) + " non-finite values");
        continue;
      }
      if (!f->embedded) {
        skip("all-zero update");
        continue;
      }
      out.rows.insert(out.rows.end(), row.begin(), row.end());
      out.files.push_back(path);
      out.rounds.insert(r.number);
      ++out.count;
    }
  }
  if (progress && isatty(2) && total) std::fprintf(stderr, "\n");
  return out;
}

}  // namespace

Result<DetectorTrainConfig> ParseTrainConfigYaml(const std::string& text) {
  DetectorTrainConfig config;
  try {
    const YAML::Node root = YAML::Load(text);
    if (root && !root.IsNull()) FLS_RETURN_IF_ERROR(ParseInto(root, &config));
  } catch (const YAML::Exception& e) {
    return ConfigError(std::string("train config: ") + e.what());
  }
  return config;
}

Result<nlohmann::json> TrainDetector(const std::string& input,
                                     const DetectorTrainConfig& config,
                                     const std::string& out_dir,
                                     bool progress) {
  FLS_ASSIGN_OR_RETURN(RoundArchive archive, OpenRoundArchive(input));
  std::unique_ptr<FeatureExtractor> fx;
  FLS_ASSIGN_OR_RETURN(
      EmbeddedSet set,
      EmbedArchive(archive, config, config.features, &fx, progress));
  if (set.count < 2) {
    return InvalidArgument(
        input + ": " + std::to_string(set.count) +
        " usable update(s); training needs at least 2" +
        (set.skipped.empty()
             ? ""
             : " (" + std::to_string(set.skipped.size()) + " skipped, first: " +
                   set.skipped[0]["reason"].get<std::string>() + ")"));
  }
  std::vector<int64_t> sizes = {fx->dim()};
  for (int64_t h : config.hidden) sizes.push_back(h);
  for (size_t i = config.hidden.size(); i-- > 1;)
    sizes.push_back(config.hidden[i - 1]);
  sizes.push_back(fx->dim());
  FLS_ASSIGN_OR_RETURN(std::unique_ptr<Autoencoder> net,
                       Autoencoder::Create(sizes, config.train.seed));
  TrainOptions options = config.train;
  options.progress = progress && isatty(2);
  FLS_ASSIGN_OR_RETURN(TrainReport report,
                       net->Train(set.rows, set.count, options));

  // Calibrate on the held-out rows; with fewer than kMinHeldOut of them
  // their quantiles mean little, so every row is scored (early stopping
  // keeps training rows' errors close to unseen ones'; recorded).
  const int64_t dim = fx->dim();
  const bool all_rows = report.validation_rows < kMinHeldOut;
  std::vector<float> held;
  int64_t held_count = 0;
  if (all_rows) {
    held = set.rows;
    held_count = set.count;
  } else {
    for (int64_t i : report.validation_indices) {
      held.insert(held.end(), set.rows.begin() + i * dim,
                  set.rows.begin() + (i + 1) * dim);
    }
    held_count = static_cast<int64_t>(report.validation_indices.size());
  }
  FLS_ASSIGN_OR_RETURN(std::vector<double> held_scores,
                       net->Score(held, held_count, config.train.threads));
  DetectorMetadata meta;
  meta.features = fx->settings();
  meta.layout = fx->layout();
  meta.layer_sizes = sizes;
  meta.calibration = CalibrationFromScores(held_scores);
  meta.provenance = {
      {"tool", kVersion},
      {"created", UtcNow()},
      {"input", input},
      {"rounds", set.rounds},
      {"labels_used", set.labelled},
      {"updates_used", set.count},
      {"updates_skipped", set.skipped.size()},
      {"train_rows", report.train_rows},
      {"validation_rows", report.validation_rows},
      {"calibration_rows", held_count},
      {"calibration_source",
       all_rows ? "all rows (fewer than 20 held out)" : "held-out rows"},
      {"seed", config.train.seed},
      {"threads", config.train.threads},
      {"epochs_run", report.epochs_run},
      {"best_epoch", report.best_epoch},
      {"best_validation_loss", report.best_validation_loss},
      {"final_train_loss", report.final_train_loss},
      {"training_seconds", report.seconds}};
  std::vector<WeightArray> weights = net->ExportWeights();
  std::vector<TensorView> views;
  for (const auto& w : weights) views.push_back(w.view());
  FLS_RETURN_IF_ERROR(WriteDetectorDir(out_dir, meta, views));
  nlohmann::json summary = meta.provenance;
  summary["skipped"] = set.skipped;
  summary["calibration"] = CalibrationToJson(meta.calibration);
  summary["detector"] = out_dir;
  return summary;
}

Result<nlohmann::json> ImportSeedAutoencoder(const std::string& pth_path,
                                             const std::string& reference,
                                             const std::string& calibrate,
                                             const std::string& out_dir) {
  FLS_ASSIGN_OR_RETURN(TensorSet seed, ReadTensorFile(pth_path));
  // Linear layers in file order: a 2-D "<p>.weight" followed by "<p>.bias".
  std::vector<WeightArray> arrays;
  size_t layer = 0;
  for (size_t i = 0; i < seed.tensors.size(); ++i) {
    const OwnedTensor& w = seed.tensors[i];
    const std::string_view name = w.name;
    if (!name.ends_with(".weight")) continue;
    const std::string prefix(name.substr(0, name.size() - 7));
    const OwnedTensor* b = seed.Find(prefix + ".bias");
    if (w.shape.size() != 2 || !b || b->shape.size() != 1 ||
        b->shape[0] != w.shape[0] || !IsFloating(w.dtype) ||
        !IsFloating(b->dtype)) {
      return Corrupt(
          pth_path + ": '" + w.name +
          "' is not a Linear layer (2-D float weight with a matching bias)");
    }
    for (const OwnedTensor* t : {&w, b}) {
      WeightArray a;
      a.name =
          "layers." + std::to_string(layer) + (t == &w ? ".weight" : ".bias");
      a.shape = t->shape;
      const TensorView v = t->view();
      int64_t numel = 0, extent = 0;
      FLS_RETURN_IF_ERROR(
          ValidateView(v, &numel, &extent).WithContext(pth_path));
      a.data.resize(numel);
      const auto* base = static_cast<const unsigned char*>(v.data);
      ForEachElementOffset(v, [&](int64_t k, int64_t off) {
        a.data[k] = static_cast<float>(ElementAsDouble(base + off, v.dtype, 0));
      });
      arrays.push_back(std::move(a));
    }
    ++layer;
  }
  if (arrays.empty())
    return Corrupt(pth_path +
                   ": no Linear layers ('*.weight' + '*.bias') found");
  std::vector<TensorView> views;
  for (const auto& a : arrays) views.push_back(a.view());
  auto net = Autoencoder::FromWeights(views);
  if (!net.ok()) return net.status().WithContext(pth_path);

  FeatureSettings settings;
  settings.mode = EmbeddingMode::kIdentity;
  settings.normalize = false;
  FLS_ASSIGN_OR_RETURN(TensorSet ref, ReadTensorFile(reference));
  const std::vector<TensorView> ref_views = ref.Views();
  FLS_ASSIGN_OR_RETURN(FeatureLayout layout, SelectLayout(settings, ref_views));
  if (layout.num_coordinates != (*net)->input_dim()) {
    return InvalidArgument(pth_path + ": the autoencoder's input size " +
                           std::to_string((*net)->input_dim()) +
                           " differs from the " +
                           std::to_string(layout.num_coordinates) +
                           " float parameters of " + reference);
  }
  DetectorMetadata meta;
  meta.features = settings;
  meta.layout = layout;
  meta.layer_sizes = (*net)->layer_sizes();
  meta.provenance = {{"tool", kVersion},
                     {"created", UtcNow()},
                     {"imported_from", pth_path},
                     {"layout_from", reference}};
  if (!calibrate.empty()) {
    FLS_ASSIGN_OR_RETURN(RoundArchive archive, OpenRoundArchive(calibrate));
    FLS_ASSIGN_OR_RETURN(FeatureExtractor created,
                         FeatureExtractor::Create(settings, layout));
    auto fx = std::make_unique<FeatureExtractor>(std::move(created));
    DetectorTrainConfig all;
    FLS_ASSIGN_OR_RETURN(EmbeddedSet set,
                         EmbedArchive(archive, all, settings, &fx, false));
    FLS_ASSIGN_OR_RETURN(std::vector<double> scores,
                         (*net)->Score(set.rows, set.count, 1));
    meta.calibration = CalibrationFromScores(scores);
    meta.provenance["calibrated_on"] = calibrate;
    meta.provenance["calibration_updates"] = set.count;
  }
  FLS_RETURN_IF_ERROR(WriteDetectorDir(out_dir, meta, views));
  nlohmann::json summary = meta.provenance;
  summary["layer_sizes"] = meta.layer_sizes;
  summary["calibration"] = CalibrationToJson(meta.calibration);
  summary["detector"] = out_dir;
  return summary;
}

}  // namespace flsentry
