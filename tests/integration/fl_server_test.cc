#include "fl_server.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "archive/round_archive.h"
#include "attacks.h"
#include "fashion_mnist.h"
#include "local_training.h"
#include "models.h"
#include "round_results.h"
#include "tensor/tensor_file.h"

namespace flsentry::sim {
namespace {

namespace fs = std::filesystem;

SimConfig SmokeConfig() {
  auto c = LoadSimConfig(std::string(FLSENTRY_SOURCE_DIR) +
                         "/configs/sim/smoke.yaml");
  REQUIRE_MESSAGE(c.ok(), c.status().message());
  return *c;
}

std::string PluginPath() {
  return std::string(FLSENTRY_BINARY_DIR) + "/plugin/libflsentry_filter.so";
}

std::string FlsentryPath() {
  return std::string(FLSENTRY_BINARY_DIR) + "/plugin/flsentry";
}

// Runs `flsentry inspect --json FILE` as a user would; returns its stdout,
// or "" when it did not exit with 0.
std::string InspectJson(const std::string& file) {
  const std::string command =
      "'" + FlsentryPath() + "' inspect --json '" + file + "' 2>/dev/null";
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;)
    out.append(buf, n);
  return ::pclose(pipe) == 0 ? out : "";
}

// Run options that keep every update of round 2 in *into, by client id.
RunOptions CaptureRound2(std::map<std::string, ClientUpdate>* into) {
  RunOptions options;
  options.on_updates = [into](int round,
                              const std::vector<ClientUpdate>& updates) {
    if (round != 2) return;
    for (const auto& u : updates) (*into)[u.client_id] = u;
  };
  return options;
}

fs::path FreshDir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() /
                 ("fls_sim_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  return dir;
}

std::vector<RoundResult> RunAll(const SimConfig& config, RunOptions options,
                                torch::Tensor* final_global = nullptr) {
  auto sim = Simulation::Create(config, std::move(options));
  REQUIRE_MESSAGE(sim.ok(), sim.status().message());
  std::vector<RoundResult> results;
  for (int r = 0; r < config.rounds; ++r) {
    auto result = (*sim)->RunRound();
    REQUIRE_MESSAGE(result.ok(), result.status().message());
    results.push_back(*result);
  }
  if (final_global) *final_global = (*sim)->GlobalParameters();
  return results;
}

TEST_CASE("The smoke configuration trains in a few seconds") {
  const auto start = std::chrono::steady_clock::now();
  const SimConfig config = SmokeConfig();
  const auto results = RunAll(config, {});
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  REQUIRE(results.size() == 2);
  // Far better than chance (0.1) after two rounds on a few thousand images.
  CHECK(results.back().accuracy > 0.5);
  CHECK(results[0].clients.size() ==
        static_cast<size_t>(config.ClientsPerRound()));
  CHECK(results[0].aggregated == config.ClientsPerRound());
  CHECK(seconds < 30.0);
}

TEST_CASE("A run is reproducible from its seed") {
  SimConfig config = SmokeConfig();
  config.attack = {"gaussian_noise", 0.25, 2, {{"sigma", 0.01}}};
  torch::Tensor a, b, c;
  const auto first = RunAll(config, {}, &a);
  const auto second = RunAll(config, {}, &b);
  CHECK(torch::equal(a, b));
  for (size_t r = 0; r < first.size(); ++r) {
    CHECK(first[r].accuracy == second[r].accuracy);
    for (size_t i = 0; i < first[r].clients.size(); ++i) {
      CHECK(first[r].clients[i].delta_norm == second[r].clients[i].delta_norm);
    }
  }
  config.seed += 1;
  RunAll(config, {}, &c);
  CHECK_FALSE(torch::equal(a, c));
}

TEST_CASE("Attackers are a fixed set and only attack from start_round") {
  SimConfig config = SmokeConfig();
  config.attack = {"sign_flip", 0.25, 2, {}};
  config.participation = 1.0;
  auto sim = Simulation::Create(config, {});
  REQUIRE(sim.ok());
  const auto malicious = (*sim)->MaliciousClients();
  REQUIRE(malicious.size() == 1);
  auto r1 = (*sim)->RunRound();
  auto r2 = (*sim)->RunRound();
  REQUIRE((r1.ok() && r2.ok()));
  for (const auto& c : r1->clients) CHECK_FALSE(c.malicious);
  int flagged = 0;
  for (const auto& c : r2->clients) {
    CHECK(c.malicious == (c.client_id == malicious[0]));
    if (c.malicious) {
      CHECK(c.attack == "sign_flip");
      ++flagged;
    }
  }
  CHECK(flagged == 1);
}

TEST_CASE(
    "An attack on a model that FedAvg already broke does not stop the run") {
  // IPM with a huge epsilon makes FedAvg's model non-finite in its first
  // attacked round; from the next round on every client trains non-finite
  // updates. The run goes on (accuracy at chance) instead of failing on the
  // attack (it stopped at round 25 of the benchmark's FedAvg / ipm_100 run).
  SimConfig config = SmokeConfig();
  config.attack = {"ipm", 0.25, 1, {{"epsilon", 1e30}}};
  config.rounds = 3;
  auto sim = Simulation::Create(config, {});
  REQUIRE(sim.ok());
  for (int round = 1; round <= 3; ++round) {
    auto r = (*sim)->RunRound();
    REQUIRE_MESSAGE(r.ok(), "round ", round, ": ", r.status().message());
    if (round == 3) CHECK(r->accuracy <= 0.2);
  }
}

TEST_CASE("ALIE in a round its attackers dominate uses z_max with s = 1") {
  // 4 of 6 clients attack: s = floor(6/2 + 1) - 4 = 0, where the paper's
  // z_max is undefined; the server takes f = 3 (s = 1) instead of failing.
  SimConfig config = SmokeConfig();
  config.clients = 6;
  config.participation = 1.0;
  config.rounds = 1;
  config.attack = {"alie", 4.0 / 6.0, 1, {}};
  std::vector<ClientUpdate> sent;
  RunOptions options;
  options.on_updates = [&](int, const std::vector<ClientUpdate>& u) {
    sent = u;
  };
  const auto results = RunAll(config, options);
  REQUIRE(sent.size() == 6);
  std::vector<torch::Tensor> benign, crafted;
  for (size_t i = 0; i < sent.size(); ++i) {
    (results[0].clients[i].malicious ? crafted : benign)
        .push_back(sent[i].delta);
  }
  REQUIRE(benign.size() == 2);
  REQUIRE(crafted.size() == 4);
  const torch::Tensor stack = torch::stack(benign).to(torch::kFloat64);
  const torch::Tensor expected =
      stack.mean(0) + AlieZMax(6, 3).value() * stack.std(0, /*unbiased=*/true);
  for (const auto& c : crafted) {
    CHECK(torch::allclose(c.to(torch::kFloat64), expected, 1e-5, 1e-7));
  }
}

// The defining property of sample_inflation: the attacker's update is the
// honest one, its claim factor x its real number of examples.
TEST_CASE("sample_inflation sends honest updates with inflated claims") {
  SimConfig config = SmokeConfig();
  config.participation = 1.0;
  config.rounds = 2;
  std::map<std::string, ClientUpdate> honest, attacked;
  RunAll(config, CaptureRound2(&honest));
  config.attack = {"sample_inflation", 0.5, 2, {{"factor", 7}}};
  auto sim = Simulation::Create(config, CaptureRound2(&attacked));
  REQUIRE(sim.ok());
  REQUIRE((*sim)->RunRound().ok());
  auto round2 = (*sim)->RunRound();
  REQUIRE(round2.ok());
  const auto malicious = (*sim)->MaliciousClients();
  REQUIRE(malicious.size() == 2);
  const std::vector<int64_t> sizes = (*sim)->ClientSizes();
  REQUIRE(attacked.size() == 4);
  for (int k = 0; k < 4; ++k) {
    const std::string id = ClientId(k);
    const bool bad =
        std::find(malicious.begin(), malicious.end(), id) != malicious.end();
    const auto real = static_cast<uint64_t>(sizes[static_cast<size_t>(k)]);
    CHECK(attacked[id].num_examples == (bad ? 7 * real : real));
    CHECK(honest[id].num_examples == real);
    CHECK(torch::equal(attacked[id].delta, honest[id].delta));
    CHECK(round2->clients[static_cast<size_t>(k)].malicious == bad);
    CHECK(round2->clients[static_cast<size_t>(k)].num_examples ==
          attacked[id].num_examples);
  }
  config.attack.params = {{"factor", 0.5}};
  CHECK(Simulation::Create(config, {}).status().code() == ErrorCode::kConfig);
}

// slow_drift in the server: t counts the attack's rounds from its start_round
// (lambda_1 = 0.05 in round 2 when it starts there, not 0.05 x 2).
TEST_CASE("slow_drift biases the honest update against the benign mean") {
  SimConfig config = SmokeConfig();
  config.participation = 1.0;
  config.rounds = 2;
  std::map<std::string, ClientUpdate> honest, attacked;
  RunAll(config, CaptureRound2(&honest));
  config.attack = {"slow_drift", 0.5, 2, {}};
  auto sim = Simulation::Create(config, CaptureRound2(&attacked));
  REQUIRE(sim.ok());
  REQUIRE((*sim)->RunRound().ok());
  REQUIRE((*sim)->RunRound().ok());
  const auto malicious = (*sim)->MaliciousClients();
  REQUIRE(malicious.size() == 2);
  REQUIRE(attacked.size() == 4);
  auto is_bad = [&](const std::string& id) {
    return std::find(malicious.begin(), malicious.end(), id) != malicious.end();
  };
  torch::Tensor mean =
      torch::zeros_like(honest.begin()->second.delta, torch::kDouble);
  for (const auto& [id, u] : honest) {
    if (!is_bad(id)) mean += u.delta.to(torch::kDouble) / 2.0;
  }
  for (const auto& [id, u] : attacked) {
    CAPTURE(id);
    const torch::Tensor own = honest[id].delta.to(torch::kDouble);
    if (!is_bad(id)) {
      CHECK(torch::equal(u.delta, honest[id].delta));
      continue;
    }
    const torch::Tensor bias = u.delta.to(torch::kDouble) - own;
    CHECK((bias.dot(mean) / (bias.norm() * mean.norm())).item<double>() ==
          doctest::Approx(-1.0).epsilon(1e-4));
    CHECK((bias.norm() / own.norm()).item<double>() ==
          doctest::Approx(0.05).epsilon(1e-3));
  }
}

// Neurotoxin's defining property: the attackers' updates leave untouched
// the coordinates the global model moved most in the round before.
TEST_CASE("neurotoxin attackers never change the coordinates benign ones do") {
  SimConfig config = SmokeConfig();
  config.participation = 1.0;
  config.rounds = 2;
  config.attack = {"neurotoxin", 0.5, 2, {{"keep_ratio", 0.9}}};
  std::map<std::string, ClientUpdate> round2;
  RunOptions options;
  options.on_updates = [&](int round, const std::vector<ClientUpdate>& u) {
    if (round != 2) return;
    for (const auto& update : u) round2[update.client_id] = update;
  };
  auto sim = Simulation::Create(config, options);
  REQUIRE(sim.ok());
  const torch::Tensor start = (*sim)->GlobalParameters();
  REQUIRE((*sim)->RunRound().ok());
  const torch::Tensor step = (*sim)->GlobalParameters() - start;
  auto round = (*sim)->RunRound();
  REQUIRE(round.ok());
  CHECK(round->backdoor_success.has_value());
  const torch::Tensor frozen = NeurotoxinMask(step, step.numel(), 0.9) == 0;
  REQUIRE(frozen.sum().item<int64_t>() > 0);
  const auto malicious = (*sim)->MaliciousClients();
  REQUIRE(malicious.size() == 2);
  for (const auto& [id, u] : round2) {
    CAPTURE(id);
    const bool bad =
        std::find(malicious.begin(), malicious.end(), id) != malicious.end();
    const int64_t moved =
        (u.delta.masked_select(frozen) != 0).sum().item<int64_t>();
    if (bad) {
      CHECK(moved == 0);
    } else {
      CHECK(moved > 0);  // benign clients train every coordinate
    }
  }
}

// constrain_scale: the attackers' backdoor is trained close to the global
// model (closer than the plain backdoor's) and sent scaled by `scale`.
TEST_CASE("constrain_scale sends a constrained backdoor, scaled") {
  SimConfig config = SmokeConfig();
  config.participation = 1.0;
  config.rounds = 2;
  // Each attacker's round-2 update under `attack` and `params`.
  auto attackers_updates = [&](const std::string& attack,
                               const Params& params) {
    config.attack = {attack, 0.5, 2, params};
    std::map<std::string, torch::Tensor> out;
    RunOptions options;
    options.on_updates = [&](int round, const std::vector<ClientUpdate>& u) {
      if (round != 2) return;
      for (const auto& update : u) out[update.client_id] = update.delta;
    };
    auto sim = Simulation::Create(config, options);
    REQUIRE(sim.ok());
    REQUIRE((*sim)->RunRound().ok());
    REQUIRE((*sim)->RunRound().ok());
    std::map<std::string, torch::Tensor> bad;
    for (const auto& id : (*sim)->MaliciousClients()) bad[id] = out.at(id);
    REQUIRE(bad.size() == 2);
    return bad;
  };
  const auto plain = attackers_updates("backdoor", {});
  const auto once = attackers_updates("constrain_scale", {{"scale", 1}});
  const auto thrice = attackers_updates("constrain_scale", {{"scale", 3}});
  for (const auto& [id, delta] : once) {
    CAPTURE(id);
    CHECK(delta.norm().item<double>() < plain.at(id).norm().item<double>());
    CHECK(torch::equal(thrice.at(id), delta * 3));
  }
}

TEST_CASE("Each client's own-distribution accuracy follows its labels") {
  SimConfig config = SmokeConfig();
  auto sim = Simulation::Create(config, {});
  REQUIRE(sim.ok());
  CHECK((*sim)->ClassAccuracy().empty());
  RoundResult last;
  for (int r = 0; r < config.rounds; ++r) {
    auto result = (*sim)->RunRound();
    REQUIRE(result.ok());
    last = *result;
  }
  const std::vector<double> acc = (*sim)->ClassAccuracy();
  REQUIRE(acc.size() == static_cast<size_t>(kNumClasses));
  const auto counts = (*sim)->ClientLabelCounts();
  const auto sizes = (*sim)->ClientSizes();
  REQUIRE(counts.size() == sizes.size());
  for (size_t k = 0; k < counts.size(); ++k) {
    int64_t total = 0;
    for (const int64_t c : counts[k]) total += c;
    CHECK(total == sizes[k]);
    // IID shards of 1000 images: each client's label mix is close to the
    // test set's, so its own accuracy is close to the overall accuracy.
    CHECK(OwnDistributionAccuracy(acc, counts[k]) ==
          doctest::Approx(last.accuracy).epsilon(0.05));
  }
}

TEST_CASE("The recorded archive equals the live updates byte for byte") {
  SimConfig config = SmokeConfig();
  config.attack = {"scaling", 0.25, 2, {{"lambda", 5}}};
  const fs::path dir = FreshDir("archive");
  std::map<std::pair<int, std::string>, torch::Tensor> live;
  RunOptions options;
  options.record_dir = dir.string();
  options.on_updates = [&](int round,
                           const std::vector<ClientUpdate>& updates) {
    for (const auto& u : updates) live[{round, u.client_id}] = u.delta.clone();
  };
  torch::Tensor final_global;
  auto sim = Simulation::Create(config, options);
  REQUIRE_MESSAGE(sim.ok(), sim.status().message());
  const torch::Tensor initial_global = (*sim)->GlobalParameters();
  const ParameterLayout layout = (*sim)->layout();
  std::vector<RoundResult> results;
  for (int r = 0; r < config.rounds; ++r) {
    auto result = (*sim)->RunRound();
    REQUIRE(result.ok());
    results.push_back(*result);
  }

  auto archive = OpenRoundArchive(dir.string());
  REQUIRE_MESSAGE(archive.ok(), archive.status().message());
  REQUIRE(archive->rounds.size() == 2);
  size_t compared = 0;
  for (const ArchiveRound& round : archive->rounds) {
    CHECK(round.kind == ArchiveKind::kDelta);
    REQUIRE(round.clients.size() == results[round.number - 1].clients.size());
    for (size_t i = 0; i < round.clients.size(); ++i) {
      const ArchiveClient& ac = round.clients[i];
      const ClientOutcome& outcome = results[round.number - 1].clients[i];
      CHECK(ac.id == outcome.client_id);
      CHECK(ac.num_examples == outcome.num_examples);
      CHECK(ac.label == (outcome.malicious ? ArchiveLabel::kMalicious
                                           : ArchiveLabel::kBenign));
      CHECK(ac.attack == outcome.attack);
      auto set = ReadArchiveClient(round, i);
      REQUIRE_MESSAGE(set.ok(), set.status().message());
      const torch::Tensor& delta =
          live.at({static_cast<int>(round.number), ac.id});
      REQUIRE(set->tensors.size() == layout.entries.size());
      for (size_t t = 0; t < layout.entries.size(); ++t) {
        const auto& e = layout.entries[t];
        const OwnedTensor& ot = set->tensors[t];
        CHECK(ot.name == e.name);
        CHECK(ot.dtype == DType::kF32);
        CHECK(ot.shape == e.shape);
        CHECK(std::memcmp(ot.data, delta.data_ptr<float>() + e.offset,
                          static_cast<size_t>(e.numel) * sizeof(float)) == 0);
        ++compared;
      }
    }
  }
  CHECK(compared > 0);

  // `flsentry inspect` reads every recorded update and reports, per tensor,
  // exactly the float64 sum, min and max of the live update's values.
  REQUIRE_MESSAGE(fs::exists(FlsentryPath()), "not built: " << FlsentryPath());
  size_t inspected = 0;
  for (const ArchiveRound& round : archive->rounds) {
    for (size_t i = 0; i < round.clients.size(); ++i) {
      const std::string out = InspectJson(round.ClientPath(i));
      REQUIRE_MESSAGE(!out.empty(),
                      "flsentry inspect failed on " << round.ClientPath(i));
      const nlohmann::json j = nlohmann::json::parse(out);
      CHECK(j.at("format") == "safetensors");
      const auto& tensors = j.at("tensors");
      REQUIRE(tensors.size() == layout.entries.size());
      const torch::Tensor& delta =
          live.at({static_cast<int>(round.number), round.clients[i].id});
      for (size_t t = 0; t < layout.entries.size(); ++t) {
        const auto& e = layout.entries[t];
        const float* values = delta.data_ptr<float>() + e.offset;
        double sum = 0.0, lo = values[0], hi = values[0];
        for (int64_t k = 0; k < e.numel; ++k) {
          sum += values[k];
          lo = std::min(lo, static_cast<double>(values[k]));
          hi = std::max(hi, static_cast<double>(values[k]));
        }
        CHECK(tensors[t].at("name") == e.name);
        CHECK(tensors[t].at("dtype") == "float32");
        CHECK(tensors[t].at("shape").get<std::vector<int64_t>>() == e.shape);
        CHECK(tensors[t].at("sum").get<double>() == sum);
        CHECK(tensors[t].at("min").get<double>() == lo);
        CHECK(tensors[t].at("max").get<double>() == hi);
        CHECK(tensors[t].at("nonfinite") == 0);
      }
      ++inspected;
    }
  }
  CHECK(inspected == compared / layout.entries.size());
  // Round 1's global model is the initial model.
  auto global = ReadArchiveGlobal(archive->rounds[0]);
  REQUIRE(global.ok());
  REQUIRE(global->tensors.size() == layout.entries.size());
  CHECK(std::memcmp(global->tensors[0].data, initial_global.data_ptr<float>(),
                    static_cast<size_t>(layout.entries[0].numel) * 4) == 0);
  fs::remove_all(dir);
}

TEST_CASE("The filter plugin's decisions drive aggregation") {
  if (!fs::exists(PluginPath())) {
    FAIL("plugin not built: " << PluginPath());
  }
  SimConfig config = SmokeConfig();
  config.attack = {"nonfinite", 0.25, 1, {{"count", 3}}};
  config.participation = 1.0;

  // Without a filter, FedAvg averages the NaN update and the model breaks.
  const auto undefended = RunAll(config, {});
  CHECK(undefended.back().aggregated == config.clients);
  CHECK(undefended.back().accuracy < 0.2);

  RunOptions options;
  options.plugin_path = PluginPath();
  const auto filtered = RunAll(config, options);
  for (const RoundResult& r : filtered) {
    CHECK(r.aggregated == config.clients - 1);
    for (const ClientOutcome& c : r.clients) {
      if (c.malicious) {
        CHECK(c.action == "drop");
        CHECK(c.weight == 0.0);
        // Dropped by the guard, and after 2 such strikes quarantined.
        if (r.round == 1) {
          CHECK_MESSAGE(c.reason.find("nonfinite") != std::string::npos,
                        c.reason);
        } else {
          CHECK_MESSAGE(c.reason == "quarantined", c.reason);
        }
      } else {
        CHECK(c.weight > 0.0);
      }
    }
  }
  CHECK(filtered.back().accuracy > 0.5);
}

TEST_CASE("On arrival the server decides and averages as in one call") {
  SimConfig config = SmokeConfig();
  config.rounds = 4;
  config.attack = {"sign_flip", 0.25, 2, {}};
  RunOptions one_call;
  one_call.plugin_path = PluginPath();
  RunOptions on_arrival = one_call;
  on_arrival.on_arrival = true;
  torch::Tensor a, b;
  const auto whole = RunAll(config, one_call, &a);
  const auto streamed = RunAll(config, on_arrival, &b);
  REQUIRE(whole.size() == streamed.size());
  for (size_t r = 0; r < whole.size(); ++r) {
    CHECK(whole[r].aggregated == streamed[r].aggregated);
    for (size_t c = 0; c < whole[r].clients.size(); ++c) {
      const ClientOutcome& x = whole[r].clients[c];
      const ClientOutcome& y = streamed[r].clients[c];
      CHECK(x.action == y.action);
      CHECK(x.reason == y.reason);
      CHECK(x.weight == y.weight);
      CHECK(std::memcmp(&x.score, &y.score, sizeof x.score) == 0);
    }
    CHECK(whole[r].accuracy == streamed[r].accuracy);
  }
  CHECK(torch::equal(a, b));  // the spilled FedAvg is the same arithmetic

  config.aggregator.type = "median";
  CHECK_FALSE(Simulation::Create(config, on_arrival).ok());
  config.aggregator.type = "fedavg";
  on_arrival.plugin_path.clear();
  auto refused = Simulation::Create(config, on_arrival);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().message().find("on-arrival mode needs") !=
        std::string::npos);
}

TEST_CASE("eval_backdoor measures a trigger's success rate without an attack") {
  SimConfig config = SmokeConfig();
  for (const RoundResult& r : RunAll(config, {})) {
    CHECK_FALSE(r.backdoor_success.has_value());
  }
  config.eval_backdoor = Params{{"target", 2}, {"trigger_size", 4}};
  torch::Tensor global;
  const auto results = RunAll(config, {}, &global);
  for (const RoundResult& r : results) {
    REQUIRE(r.backdoor_success.has_value());
    CHECK(*r.backdoor_success >= 0.0);
    CHECK(*r.backdoor_success <= 1.0);
  }
  // The number is BackdoorSuccessRate of the final global model with that
  // trigger on the run's test images, recomputed here independently.
  auto test = LoadFashionMnist(config.dataset_dir, Split::kTest);
  REQUIRE(test.ok());
  auto model = MakeModel(config.model);
  REQUIRE(model.ok());
  REQUIRE(LoadFlatParameters(**model, global).ok());
  const double expected = BackdoorSuccessRate(
      **model, test->images.narrow(0, 0, config.test_examples),
      test->labels.narrow(0, 0, config.test_examples), BackdoorTrigger{4, 2});
  CHECK(*results.back().backdoor_success == expected);
  // A model never trained on the trigger takes few triggered images for
  // the target class.
  CHECK(expected < 0.5);
}

TEST_CASE("Create refuses a bad eval_backdoor") {
  SimConfig config = SmokeConfig();
  config.eval_backdoor = Params{{"target", 10}};
  Status s = Simulation::Create(config, {}).status();
  CHECK(s.code() == ErrorCode::kConfig);
  CHECK(s.message().find("eval_backdoor.target") != std::string::npos);
  config.eval_backdoor = Params{{"trigger_size", 0}};
  CHECK(Simulation::Create(config, {}).status().code() == ErrorCode::kConfig);
  config.eval_backdoor = Params{{"poison_fraction", 0.5}};
  CHECK(Simulation::Create(config, {}).status().code() == ErrorCode::kConfig);
  // A backdoor attack measures its own trigger; two triggers are refused.
  config.eval_backdoor = Params{};
  config.attack = {"backdoor", 0.25, 1, {}};
  s = Simulation::Create(config, {}).status();
  CHECK(s.code() == ErrorCode::kConfig);
  CHECK(s.message().find("eval_backdoor") != std::string::npos);
}

TEST_CASE("Create refuses bad attack and aggregator parameters up front") {
  SimConfig config = SmokeConfig();
  config.attack = {"scaling", 0.25, 1, {{"lambada", 3}}};
  CHECK(Simulation::Create(config, {}).status().code() == ErrorCode::kConfig);
  config.attack = {"warp_drive", 0.25, 1, {}};
  CHECK(Simulation::Create(config, {}).status().code() == ErrorCode::kConfig);
  config = SmokeConfig();
  config.aggregator = {"krum_of_krums", {}};
  CHECK(Simulation::Create(config, {}).status().code() == ErrorCode::kConfig);
  config = SmokeConfig();
  RunOptions options;
  options.plugin_path = "/nonexistent/libfilter.so";
  CHECK_FALSE(Simulation::Create(config, options).ok());
}

}  // namespace
}  // namespace flsentry::sim
