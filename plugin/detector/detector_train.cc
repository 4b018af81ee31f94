#include "detector/detector_train.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>
#include <set>

#include "archive/round_archive.h"
#include "base/version.h"
#include "base/yaml_reader.h"
#include "detector/detector_file.h"
#include "tensor/tensor_file.h"

namespace flsentry {
namespace {

// Held-out rows below which calibration scores every row instead.
constexpr int64_t kMinHeldOut = 20;
// Bounds on what a train config may hold.
constexpr size_t kMaxPatterns = 10000;

// Reads the train config's document (docs/detector.md) into *c with the
// strict YAML reader: unknown or repeated keys and quoted numbers refused.
Status ParseInto(const YAML::Node& root, DetectorTrainConfig* c) {
  using namespace yaml;  // NOLINT(google-build-using-namespace): readers
  FeatureSettings& f = c->features;
  TrainOptions& t = c->train;
  const auto positive = [](double v) { return v >= 1e-8 && v <= 10.0; };
  const auto decay = [](double v) { return v >= 0.0 && v <= 10.0; };
  const auto fraction = [](double v) { return v >= 0.01 && v <= 0.9; };
  const Fields features = {
      {"mode", Enum(&f.mode, {{"identity", EmbeddingMode::kIdentity},
                              {"sketch", EmbeddingMode::kSketch}})},
      {"sketch_dim", Int64(&f.sketch_dim, kMinSketchDim, kMaxSketchDim)},
      {"seed", Uint64(&f.seed)},
      {"include", StringList(&f.include, kMaxPatterns)},
      {"exclude", StringList(&f.exclude, kMaxPatterns)},
      {"include_integer", Bool(&f.include_integer)},
      {"normalize", Bool(&f.normalize)},
      {"sketch_version", Int(&f.sketch_version, 1, 2)},
  };
  const Fields autoencoder = {
      {"hidden", IntList(&c->hidden, 1, 8, 1, 65536)},
      {"max_epochs", Int(&t.max_epochs, 1, 100000)},
      {"batch_size", Int(&t.batch_size, 1, 1 << 20)},
      {"learning_rate", Double(&t.learning_rate, positive, "in [1e-8, 10]")},
      {"weight_decay", Double(&t.weight_decay, decay, "in [0, 10]")},
      {"validation_fraction",
       Double(&t.validation_fraction, fraction, "in [0.01, 0.9]")},
      {"patience", Int(&t.patience, 1, 100000)},
      {"seed", Uint64(&t.seed)},
      {"threads", Int(&t.threads, 1, 1024)},
  };
  const Fields input = {
      {"first_round", Uint64(&c->first_round)},
      {"last_round", Uint64(&c->last_round)},
      {"key_path", String(&c->key_path)},
  };
  FLS_RETURN_IF_ERROR(ReadMap(root, "",
                              {{"features", Map(features)},
                               {"autoencoder", Map(autoencoder)},
                               {"input", Map(input)}}));
  if (c->first_round > c->last_round) {
    return ConfigError("input.first_round is after input.last_round");
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
      auto g = ReadArchiveGlobal(r, {config.key_path});
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
      auto set = ReadArchiveClient(r, i, {config.key_path});
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
  auto root = yaml::LoadDocument(text, kMaxTrainConfigBytes);
  if (!root.ok()) return root.status().WithContext("train config");
  DetectorTrainConfig config;
  FLS_RETURN_IF_ERROR(ParseInto(*root, &config).WithContext("train config"));
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
      {"tool", std::string("flsentry ") + kVersion},
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

namespace {

// The Linear layers of a seed state_dict, renamed layers.<i>.*, with the
// original weight names.
struct SeedLinears {
  std::vector<WeightArray> arrays;
  std::vector<std::string> weight_names;
};

// Linear layers in file order: a 2-D "<p>.weight" followed by "<p>.bias".
Result<SeedLinears> ReadSeedLinears(const std::string& pth_path) {
  FLS_ASSIGN_OR_RETURN(TensorSet seed, ReadTensorFile(pth_path));
  SeedLinears out;
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
    const size_t layer = out.weight_names.size();
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
      out.arrays.push_back(std::move(a));
    }
    out.weight_names.push_back(w.name);
  }
  if (out.arrays.empty())
    return Corrupt(pth_path +
                   ": no Linear layers ('*.weight' + '*.bias') found");
  return out;
}

// The activations stated by the user (`text`, one per Linear) or implied by
// the keys, with a record of which and what was assumed.
Result<std::vector<Activation>> ChooseActivations(
    const std::string& text, const std::vector<std::string>& weight_names,
    nlohmann::json* record) {
  const size_t layers = weight_names.size();
  if (!text.empty()) {
    auto stated = ParseActivationList(text, layers);
    if (!stated.ok()) return stated.status().WithContext("--activations");
    (*record)["activations_source"] = "--activations";
    return stated;
  }
  InferredActivations inferred = InferActivations(weight_names);
  (*record)["activations_source"] =
      inferred.from_indices
          ? "the state_dict keys (nn.Sequential indices)"
          : "the default (the keys carry no nn.Sequential indices)";
  (*record)["assumptions"] = inferred.assumptions;
  return std::move(inferred.activations);
}

}  // namespace

Result<nlohmann::json> ImportSeedAutoencoder(const std::string& pth_path,
                                             const std::string& reference,
                                             const std::string& calibrate,
                                             const std::string& out_dir,
                                             const std::string& activations) {
  FLS_ASSIGN_OR_RETURN(SeedLinears linears, ReadSeedLinears(pth_path));
  nlohmann::json chosen = nlohmann::json::object();
  FLS_ASSIGN_OR_RETURN(
      std::vector<Activation> acts,
      ChooseActivations(activations, linears.weight_names, &chosen));
  std::vector<TensorView> views;
  for (const auto& a : linears.arrays) views.push_back(a.view());
  auto net = Autoencoder::FromWeights(views, acts);
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
  meta.activations = acts;
  meta.provenance = {{"tool", std::string("flsentry ") + kVersion},
                     {"created", UtcNow()},
                     {"imported_from", pth_path},
                     {"layout_from", reference},
                     {"linear_layers", linears.weight_names}};
  meta.provenance.update(chosen);
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
  summary["activations"] = FormatActivations(acts);
  summary["calibration"] = CalibrationToJson(meta.calibration);
  summary["detector"] = out_dir;
  return summary;
}

}  // namespace flsentry
