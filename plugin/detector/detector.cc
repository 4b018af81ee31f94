#include "detector/detector.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <tuple>

#include "base/hash.h"
#include "base/parallel.h"
#include "base/robust_stats.h"
#include "detector/autoencoder.h"
#include "detector/pairwise.h"
#include "features/column_outliers.h"
#include "features/feature_extractor.h"
#include "features/known_direction.h"

namespace flsentry {
namespace {

// A round whose median score is above this many times the median score the
// window's rows had when they were learned teaches nothing (see detector.h).
constexpr double kRoundGate = 2.0;

}  // namespace

Detector::Detector() = default;
Detector::~Detector() = default;

Result<std::unique_ptr<Detector>> Detector::Load(const std::string& path,
                                                 const DetectorConfig& config) {
  FLS_ASSIGN_OR_RETURN(DetectorFiles files, ReadDetectorDir(path));
  std::unique_ptr<Detector> d(new Detector());
  d->config_ = config;
  d->metadata_ = std::move(files.metadata);
  auto net =
      Autoencoder::FromWeights(files.weights.Views(), d->metadata_.activations);
  if (!net.ok())
    return net.status().WithContext(path + "/" + kDetectorWeightsName);
  if ((*net)->layer_sizes() != d->metadata_.layer_sizes) {
    return Corrupt(path +
                   ": weights do not match architecture.layer_sizes in " +
                   kDetectorJsonName);
  }
  FLS_RETURN_IF_ERROR(d->Init(std::move(net).value(), path));
  return d;
}

Status Detector::Init(std::shared_ptr<const Autoencoder> net,
                      const std::string& context) {
  auto fx = FeatureExtractor::Create(metadata_.features, metadata_.layout);
  if (!fx.ok()) return fx.status().WithContext(context);
  if (fx->dim() != net->input_dim()) {
    return Corrupt(context + ": the autoencoder's input size " +
                   std::to_string(net->input_dim()) +
                   " is not the embedding's " + std::to_string(fx->dim()));
  }
  features_ = std::make_unique<FeatureExtractor>(std::move(fx).value());
  references_ = ClientReferences(features_->dim());
  net_ = std::move(net);
  return Status::Ok();
}

Result<std::unique_ptr<Detector>> Detector::Bootstrap(
    const RoundInput& round, std::span<const size_t> eligible,
    const DetectorConfig& config) {
  if (eligible.empty())
    return InvalidArgument("bootstrap: no well-formed update in the round");
  return Bootstrap(round.round,
                   round.global.empty()
                       ? round.updates[eligible.front()].tensors
                       : round.global,
                   config);
}

Result<std::unique_ptr<Detector>> Detector::Bootstrap(
    uint64_t round, std::span<const TensorView> reference,
    const DetectorConfig& config) {
  std::unique_ptr<Detector> d(new Detector());
  d->config_ = config;
  d->bootstrapped_ = true;
  FeatureSettings& features = d->metadata_.features;
  features.mode = EmbeddingMode::kSketch;
  features.sketch_dim = config.bootstrap.sketch_dim;
  features.sketch_version = config.bootstrap.sketch_version;
  auto layout = SelectLayout(features, reference);
  if (!layout.ok()) return layout.status().WithContext("bootstrap");
  d->metadata_.layout = std::move(layout).value();
  std::vector<int64_t>& sizes = d->metadata_.layer_sizes;
  sizes.push_back(features.sketch_dim);
  sizes.insert(sizes.end(), config.bootstrap.hidden.begin(),
               config.bootstrap.hidden.end());
  sizes.push_back(features.sketch_dim);
  d->metadata_.provenance = {{"bootstrap", true},
                             {"first_round", round},
                             {"seed", config.seed},
                             {"warmup_rounds", config.refresh.warmup_rounds}};
  FLS_ASSIGN_OR_RETURN(std::unique_ptr<Autoencoder> net,
                       Autoencoder::Create(sizes, config.seed));
  FLS_RETURN_IF_ERROR(d->Init(std::move(net), "bootstrap"));
  return d;
}

Result<std::unique_ptr<Detector>> Detector::FromBootstrapState(
    const nlohmann::json& state, const DetectorConfig& config) {
  if (!state.is_object() || !state.contains("metadata")) {
    return StateError("detector state: no metadata of a bootstrapped detector");
  }
  auto metadata = DetectorMetadataFromJson(state.at("metadata"));
  if (!metadata.ok())
    return StateError("detector state: " + metadata.status().message());
  if (metadata->layer_sizes.size() < 3) {
    return StateError(
        "detector state: bad architecture of a bootstrapped detector");
  }
  std::unique_ptr<Detector> d(new Detector());
  d->config_ = config;
  d->bootstrapped_ = true;
  d->metadata_ = std::move(metadata).value();
  auto net = Autoencoder::Create(d->metadata_.layer_sizes, config.seed,
                                 d->metadata_.activations);
  if (!net.ok()) return StateError("detector state: " + net.status().message());
  Status init = d->Init(std::move(net).value(), "detector state");
  if (!init.ok()) return StateError(init.message());
  FLS_RETURN_IF_ERROR(d->LoadState(state));
  return d;
}

bool Detector::in_warmup() const {
  return config_.refresh.enabled &&
         rounds_learned_ <
             static_cast<uint64_t>(std::max(0, config_.refresh.warmup_rounds));
}

const Calibration& Detector::calibration() const {
  return metadata_.calibration;
}
const DetectorMetadata& Detector::metadata() const { return metadata_; }
uint64_t Detector::rounds_learned() const { return rounds_learned_; }

Result<std::unique_ptr<Autoencoder>> Detector::CopyNet() const {
  std::vector<WeightArray> weights = net_->ExportWeights();
  std::vector<TensorView> views;
  for (const WeightArray& w : weights) views.push_back(w.view());
  auto net = Autoencoder::FromWeights(views, net_->activations());
  if (!net.ok()) {
    return InternalError("detector: cannot copy its weights: " +
                         net.status().message());
  }
  return net;
}

Result<std::unique_ptr<Detector>> Detector::Clone() const {
  std::unique_ptr<Detector> copy(new Detector());
  copy->bootstrapped_ = bootstrapped_;
  copy->config_ = config_;
  copy->metadata_ = metadata_;
  FLS_RETURN_IF_ERROR(copy->Init(net_, "detector copy"));
  copy->window_ = window_;
  copy->references_ = references_;
  copy->rounds_learned_ = rounds_learned_;
  copy->pending_ = pending_;
  copy->have_last_ = have_last_;
  copy->last_round_ = last_round_;
  copy->last_embeddings_ = last_embeddings_;
  copy->last_scores_ = last_scores_;
  copy->last_clients_ = last_clients_;
  return copy;
}

Status Detector::CheckLayout(const RoundInput& round,
                             std::span<const size_t> eligible) const {
  if (eligible.empty() && round.global.empty()) return Status::Ok();
  return CheckLayout(round.global.empty()
                         ? round.updates[eligible.front()].tensors
                         : round.global);
}

Status Detector::CheckLayout(std::span<const TensorView> reference) const {
  FeatureSettings select = metadata_.features;
  select.mode = EmbeddingMode::kSketch;  // only the selection matters here
  auto layout = SelectLayout(select, reference);
  if (layout.ok() && layout->signature == metadata_.layout.signature) {
    return Status::Ok();
  }
  std::string got = layout.ok() ? layout->signature : layout.status().message();
  if (got.size() > 200) got = got.substr(0, 200) + "...";
  std::string want = metadata_.layout.signature;
  if (want.size() > 200) want = want.substr(0, 200) + "...";
  return InvalidArgument(
      "the round's model layout does not match the detector's: got " + got +
      ", detector expects " + want);
}

namespace {

// Embeds round.updates[eligible[r]] into row r of *rows (resized to
// eligible.size() x dim) on plain threads; ParallelFor lets no exception or
// failed thread start terminate the host.
std::vector<Result<UpdateFeatures>> EmbedInParallel(
    const Detector& detector, const RoundInput& round,
    std::span<const size_t> eligible, int threads, std::vector<float>* rows) {
  const int64_t dim = detector.embedding_dim();
  rows->assign(eligible.size() * static_cast<size_t>(dim), 0.0f);
  // An update whose embedding did not finish keeps this error.
  std::vector<Result<UpdateFeatures>> measured(
      eligible.size(), InternalError("embedding did not finish"));
  (void)ParallelFor(eligible.size(), threads, [&](size_t r) {
    measured[r] = detector.Embed(round.updates[eligible[r]], round.global,
                                 std::span<float>(rows->data() + r * dim, dim));
  });
  return measured;
}

// The rows that embedded cleanly, to be scored together.
struct EmbeddedBatch {
  std::vector<float> rows;      // updates.size() x dim
  std::vector<size_t> updates;  // index into the round of each row
  std::vector<double> norms;    // each row's update norm
  // Each row's column energies (UpdateFeatures::column_energy); borrowed
  // from the `measured` SelectEmbedded was given.
  std::vector<const std::vector<float>*> column_energies;
};

// Picks the clean rows of `measured`, moved down in `rows` (taken; its
// order kept); every other eligible update gets its norm and the reason it
// was not embedded in (*scores)[i].error.
EmbeddedBatch SelectEmbedded(std::span<const size_t> eligible,
                             std::span<const Result<UpdateFeatures>> measured,
                             std::vector<float> rows, int64_t dim,
                             std::vector<UpdateScore>* scores) {
  EmbeddedBatch out;
  size_t kept = 0;
  for (size_t r = 0; r < eligible.size(); ++r) {
    UpdateScore& s = (*scores)[eligible[r]];
    if (!measured[r].ok()) {
      s.error = measured[r].status().message();
      continue;
    }
    const UpdateFeatures& f = *measured[r];
    s.norm = f.norm;
    s.nonfinite = f.nonfinite;
    if (f.nonfinite > 0) {
      s.error = "nonfinite: " + std::to_string(f.nonfinite) + " NaN/Inf values";
      continue;
    }
    if (!f.embedded) {
      s.error = f.norm == 0.0 ? "zero update: every selected value is 0"
                              : "update norm is not finite";
      continue;
    }
    out.norms.push_back(f.norm);
    out.column_energies.push_back(&f.column_energy);
    out.updates.push_back(eligible[r]);
    if (kept != r) {  // kept < r: the destination ends before the source
      std::copy(rows.begin() + r * dim, rows.begin() + (r + 1) * dim,
                rows.begin() + kept * dim);
    }
    ++kept;
  }
  rows.resize(kept * static_cast<size_t>(dim));
  out.rows = std::move(rows);
  return out;
}

}  // namespace

int64_t Detector::embedding_dim() const { return features_->dim(); }

Result<UpdateFeatures> Detector::Embed(const UpdateInput& update,
                                       std::span<const TensorView> global,
                                       std::span<float> out) const {
  try {
    return features_->Embed(update, global, out, config_.column_energy);
  } catch (const std::exception& e) {
    return InternalError(std::string("embedding failed: ") + e.what());
  }
}

Result<std::vector<UpdateScore>> Detector::ScoreRound(
    const RoundInput& round, std::span<const size_t> eligible) {
  for (size_t i : eligible) {
    if (i >= round.updates.size())
      return InvalidArgument("eligible index " + std::to_string(i) +
                             " out of range");
  }
  std::vector<std::string> client_ids;
  client_ids.reserve(round.updates.size());
  for (const UpdateInput& u : round.updates) client_ids.push_back(u.client_id);
  if (!eligible.empty()) FLS_RETURN_IF_ERROR(CheckLayout(round, eligible));
  std::vector<float> rows;
  const std::vector<Result<UpdateFeatures>> measured = EmbedInParallel(
      *this, round, eligible, std::max(1, config_.threads), &rows);
  return ScoreEmbedded(round.round, client_ids, eligible, measured,
                       std::move(rows));
}

Result<std::vector<UpdateScore>> Detector::ScoreEmbedded(
    uint64_t round, std::span<const std::string> client_ids,
    std::span<const size_t> eligible,
    std::span<const Result<UpdateFeatures>> measured, std::vector<float> rows) {
  const size_t n = client_ids.size();
  const int64_t dim = features_->dim();
  for (size_t i : eligible) {
    if (i >= n)
      return InvalidArgument("eligible index " + std::to_string(i) +
                             " out of range");
  }
  if (measured.size() != eligible.size() ||
      rows.size() != eligible.size() * static_cast<size_t>(dim)) {
    return InvalidArgument(
        "detector: " + std::to_string(eligible.size()) + " eligible updates, " +
        std::to_string(measured.size()) + " embeddings and " +
        std::to_string(rows.size()) + " floats of rows");
  }
  if (pending_) {
    return InternalError("detector: the refresh of round " +
                         std::to_string(pending_->round) +
                         " is pending; it must run before a round is scored");
  }
  std::vector<UpdateScore> scores(n);
  have_last_ = false;
  last_embeddings_.assign(n, nullptr);
  last_scores_.assign(n, NAN);
  last_clients_.assign(client_ids.begin(), client_ids.end());
  if (eligible.empty()) {
    have_last_ = true;
    last_round_ = round;
    return scores;
  }
  const int threads = std::max(1, config_.threads);
  const EmbeddedBatch embedded =
      SelectEmbedded(eligible, measured, std::move(rows), dim, &scores);
  const std::vector<float>& batch = embedded.rows;
  const std::vector<size_t>& batch_updates = embedded.updates;
  const std::vector<double>& norms = embedded.norms;
  const double median = Median(norms);
  FLS_ASSIGN_OR_RETURN(
      const std::vector<double> similarity,
      MaxCosineSimilarity(batch, static_cast<int64_t>(batch_updates.size()),
                          dim, threads));
  const std::vector<double> centrality = LeaveOneOutCentrality(
      batch, static_cast<int64_t>(batch_updates.size()), dim);
  std::vector<ColumnOutliers> columns(batch_updates.size());
  // The band's weights cost O(n^2 x dim): only for a round with profiles
  // (none when the guard is off or the layout has no 2-D tensor).
  const bool profiled = std::any_of(
      embedded.column_energies.begin(), embedded.column_energies.end(),
      [](const std::vector<float>* e) { return !e->empty(); });
  if (profiled) {
    const int64_t rows = static_cast<int64_t>(batch_updates.size());
    columns = ColumnOutlierShares(
        embedded.column_energies, norms,
        KnownRowWeights(batch, rows, dim, std::vector<uint8_t>(rows, 1),
                        kColumnCopyCosine));
  }
  FLS_ASSIGN_OR_RETURN(
      std::vector<double> errors,
      net_->Score(batch, static_cast<int64_t>(batch_updates.size()), threads));
  // Each row on its own: scores[i] and last_embeddings_[i] are the row's
  // alone; references_ is only read.
  auto finish_row = [&](size_t b) {
    const size_t i = batch_updates[b];
    scores[i].score = errors[b];
    scores[i].scored = true;
    scores[i].log_norm_ratio = std::log(scores[i].norm / median);
    scores[i].max_similarity = similarity[b];
    scores[i].centrality = centrality[b];
    scores[i].column_share = columns[b].share;
    scores[i].column_peak_share = columns[b].peak_share;
    const std::span<const float> embedding(batch.data() + b * dim,
                                           static_cast<size_t>(dim));
    last_embeddings_[i] = std::make_shared<const std::vector<float>>(
        embedding.begin(), embedding.end());
    scores[i].consistency = references_.Consistency(client_ids[i], embedding);
    std::tie(scores[i].rejected_similarity, scores[i].rejected_round) =
        references_.RejectedSimilarity(client_ids[i], embedding);
    Hasher hash;
    hash.AddBytes(embedding.data(), embedding.size() * sizeof(float));
    scores[i].embedding_hash = hash.value();
    last_scores_[i] = errors[b];
  };
  FLS_RETURN_IF_ERROR(ParallelFor(batch_updates.size(), threads, finish_row));
  std::vector<uint8_t> known(batch_updates.size());
  for (size_t b = 0; b < batch_updates.size(); ++b) {
    known[b] = scores[batch_updates[b]].consistency > 0 ? 1 : 0;
  }
  if (std::count(known.begin(), known.end(), 1) >= kMinKnownForAgreement) {
    const int64_t n = static_cast<int64_t>(batch_updates.size());
    const std::vector<double> agreement = WeightedLeaveOneOutAgreement(
        batch, n, dim, KnownRowWeights(batch, n, dim, known));
    for (size_t b = 0; b < batch_updates.size(); ++b) {
      scores[batch_updates[b]].agreement = agreement[b];
    }
  }
  have_last_ = true;
  last_round_ = round;
  return scores;
}

Result<LearnReport> Detector::LearnFromRound(
    uint64_t round, std::span<const size_t> clean,
    std::span<const std::string> client_ids) {
  FLS_ASSIGN_OR_RETURN(LearnReport report,
                       LearnDeferred(round, clean, client_ids));
  FLS_RETURN_IF_ERROR(RunPendingRefresh().status());
  return report;
}

Status Detector::CheckRoundIndices(
    const char* who, uint64_t round, std::span<const size_t> indices,
    std::span<const std::string> client_ids) const {
  const std::string caller(who);
  if (indices.size() != client_ids.size()) {
    return InvalidArgument(caller +
                           ": indices and client_ids differ in length");
  }
  if (!have_last_ || round != last_round_) {
    return InvalidArgument(caller + ": round " + std::to_string(round) +
                           " is not the round last scored");
  }
  for (size_t i : indices) {
    if (i >= last_embeddings_.size()) {
      return InvalidArgument(caller + ": index out of range");
    }
  }
  return Status::Ok();
}

Status Detector::RememberRejected(uint64_t round,
                                  std::span<const size_t> rejected,
                                  std::span<const std::string> client_ids) {
  FLS_RETURN_IF_ERROR(
      CheckRoundIndices("RememberRejected", round, rejected, client_ids));
  for (size_t k = 0; k < rejected.size(); ++k) {
    if (const SharedEmbedding& embedding = last_embeddings_[rejected[k]]) {
      references_.Reject(client_ids[k], round, embedding);
    }
  }
  return Status::Ok();
}

Status Detector::RenewRejected(uint64_t round, std::span<const size_t> repeated,
                               std::span<const std::string> client_ids) {
  FLS_RETURN_IF_ERROR(
      CheckRoundIndices("RenewRejected", round, repeated, client_ids));
  for (const std::string& client : client_ids) {
    references_.Renew(client, round);
  }
  return Status::Ok();
}

Result<LearnReport> Detector::LearnDeferred(
    uint64_t round, std::span<const size_t> clean,
    std::span<const std::string> client_ids) {
  FLS_RETURN_IF_ERROR(
      CheckRoundIndices("LearnFromRound", round, clean, client_ids));
  if (pending_) {
    return InternalError("LearnFromRound: the refresh of round " +
                         std::to_string(pending_->round) + " is pending");
  }
  have_last_ = false;
  LearnReport report;
  if (!config_.refresh.enabled) return report;
  const bool warmup = in_warmup();
  std::vector<std::pair<size_t, std::string>> learn;
  if (warmup) {
    for (size_t i = 0; i < last_embeddings_.size(); ++i)
      learn.emplace_back(i, last_clients_[i]);
  } else {
    report.note = RoundGateNote(round);
    if (!report.note.empty()) {
      report.gated = true;
      AgeWindow();
      return report;
    }
    for (size_t k = 0; k < clean.size(); ++k) {
      learn.emplace_back(clean[k], client_ids[k]);
    }
  }
  // One row per client per round: a client that sent two updates counts
  // once. Every such client's reference is renewed.
  std::set<std::string> seen;
  std::vector<std::pair<size_t, std::string>> rows;
  for (auto& [i, client] : learn) {
    if (!last_embeddings_[i] || !seen.insert(client).second) continue;
    references_.Update(client, round, last_embeddings_[i]);
    rows.emplace_back(i, std::move(client));
  }
  // At most max_rows of them enter the window, evenly spaced in the order
  // of the round (a fine-tune trains on at most max_rows rows anyway), so
  // that the window and the state that records it stay bounded whatever
  // the round's size.
  const size_t count = rows.size();
  const size_t keep = std::min(
      count, static_cast<size_t>(std::max(1, config_.refresh.max_rows)));
  for (size_t j = 0; j < keep; ++j) {
    const auto& [i, client] = rows[j * count / keep];
    window_.push_back(
        {round, client, last_embeddings_[i], warmup ? NAN : last_scores_[i]});
  }
  report.rows_learned = keep;
  ++rounds_learned_;
  AgeWindow();
  const int epochs =
      warmup ? config_.refresh.warmup_epochs : config_.refresh.epochs;
  if (!window_.empty() && epochs > 0) pending_ = PendingRefresh{round, epochs};
  return report;
}

std::string Detector::RoundGateNote(uint64_t round) const {
  std::vector<double> round_scores, window_scores;
  for (double s : last_scores_) {
    if (std::isfinite(s)) round_scores.push_back(s);
  }
  for (const WindowRow& r : window_) {
    if (std::isfinite(r.score)) window_scores.push_back(r.score);
  }
  if (round_scores.empty() || window_scores.size() < 3) return "";
  const double round_median = Median(round_scores);
  const double window_median = Median(window_scores);
  if (!(round_median > kRoundGate * window_median)) return "";
  char text[200];
  std::snprintf(text, sizeof text,
                "round %llu not learned: its median score %.3g is %.2g x the "
                "median the detector learned (%.3g); most of the round may be "
                "one attack",
                static_cast<unsigned long long>(round), round_median,
                round_median / window_median, window_median);
  return text;
}

void Detector::AgeWindow() {
  std::set<uint64_t> rounds;
  for (const auto& r : window_) rounds.insert(r.round);
  const size_t keep =
      static_cast<size_t>(std::max(1, config_.refresh.window_rounds));
  while (rounds.size() > keep) rounds.erase(rounds.begin());
  std::erase_if(window_,
                [&](const WindowRow& r) { return !rounds.count(r.round); });
}

std::vector<float> Detector::RefreshRows(int64_t* rows) const {
  const size_t cap = std::max<size_t>(
      1, static_cast<size_t>(std::floor(config_.refresh.max_client_share *
                                        static_cast<double>(window_.size()))));
  std::map<std::string, size_t> taken;
  std::vector<const WindowRow*> eligible;  // newest first
  for (auto it = window_.rbegin(); it != window_.rend(); ++it) {
    if (taken[it->client]++ < cap) eligible.push_back(&*it);
  }
  // At most max_rows of them, every (count / max_rows)-th.
  const size_t count = eligible.size();
  const size_t keep = std::min(
      count, static_cast<size_t>(std::max(1, config_.refresh.max_rows)));
  std::vector<float> data;
  for (size_t j = 0; j < keep; ++j) {
    const WindowRow* row = eligible[j * count / keep];
    data.insert(data.end(), row->embedding->begin(), row->embedding->end());
  }
  *rows = static_cast<int64_t>(keep);
  return data;
}

Result<RefreshReport> Detector::RunPendingRefresh() {
  if (!pending_) return RefreshReport{};
  const PendingRefresh due = *pending_;
  pending_.reset();
  RefreshReport report{true, due.round, due.epochs, 0};
  try {
    const std::vector<float> data = RefreshRows(&report.rows);
    // The fine-tune runs on a copy, which replaces the network only when it
    // succeeded: a failure leaves the weights as they were.
    FLS_ASSIGN_OR_RETURN(std::unique_ptr<Autoencoder> tuned, CopyNet());
    const uint64_t seed = config_.seed ^ (due.round * 0x9e3779b97f4a7c15ULL);
    FLS_RETURN_IF_ERROR(tuned->FineTune(data, report.rows, due.epochs,
                                        config_.refresh.learning_rate, 32, seed,
                                        std::max(1, config_.threads)));
    net_ = std::move(tuned);
  } catch (const std::exception& e) {
    return InternalError(std::string("refresh failed: ") + e.what());
  } catch (...) {
    return InternalError("refresh failed: unknown exception");
  }
  return report;
}

}  // namespace flsentry
