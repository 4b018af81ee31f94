#include "oracle_attack.h"

#include <doctest/doctest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/yaml_reader.h"
#include "fl_server.h"

namespace flsentry::sim {
namespace {

namespace fs = std::filesystem;

std::string PluginPath() {
  return std::string(FLSENTRY_BINARY_DIR) + "/plugin/libflsentry_filter.so";
}

std::string ShippedPolicyPath() {
  return std::string(FLSENTRY_SOURCE_DIR) + "/configs/default.yaml";
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The shipped policy copied into a fresh folder, so that the server's
// filter writes its state file and audit log there, not into configs/.
fs::path PolicyCopy(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("fls_oracle_" + name + "_" +
                                                    std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::copy_file(ShippedPolicyPath(), dir / "policy.yaml");
  return dir;
}

// Synthetic rounds: two tensors, d = 2080; client k sends mean + its own
// fixed direction + fresh noise, so its updates point its usual way.
struct SyntheticFederation {
  ParameterLayout layout;
  torch::Tensor global;
  torch::Tensor mean;
  std::vector<torch::Tensor> own;  // per client

  explicit SyntheticFederation(int clients) {
    layout.entries = {{"w", {64, 32}, 0}, {"b", {32}, 2048}};
    layout.total = 2080;
    torch::manual_seed(7);
    global = torch::randn({layout.total});
    mean = 0.02 * torch::randn({layout.total});
    for (int k = 0; k < clients; ++k) {
      own.push_back(0.03 * torch::randn({layout.total}));
    }
  }

  std::vector<ClientUpdate> Round() const {
    std::vector<ClientUpdate> updates;
    for (size_t k = 0; k < own.size(); ++k) {
      updates.push_back(
          {ClientId(static_cast<int>(k)), 100,
           (mean + own[k] + 0.01 * torch::randn({layout.total})).contiguous()});
    }
    return updates;
  }
};

bool Accepted(const aggfilter::Decision& d, double min_weight) {
  return d.action == AGGF_ACTION_ACCEPT ||
         (d.action == AGGF_ACTION_DOWNWEIGHT && d.weight >= min_weight);
}

// What the attackers send at `step` with noise 0: u - step * m, m the mean
// of the others' (benign) updates.
std::vector<ClientUpdate> AtStep(std::vector<ClientUpdate> honest,
                                 const std::vector<size_t>& attackers,
                                 double step) {
  std::vector<torch::Tensor> benign;
  for (size_t i = 0; i < honest.size(); ++i) {
    if (std::find(attackers.begin(), attackers.end(), i) == attackers.end()) {
      benign.push_back(honest[i].delta);
    }
  }
  const torch::Tensor m = torch::stack(benign).to(torch::kDouble).mean(0);
  for (size_t i : attackers) {
    honest[i].delta = (honest[i].delta.to(torch::kDouble) - step * m)
                          .to(torch::kFloat)
                          .contiguous();
  }
  return honest;
}

TEST_CASE(
    "The oracle's updates pass its shadow, at the largest step it "
    "accepts") {
  REQUIRE_MESSAGE(fs::exists(PluginPath()), "plugin not built");
  OracleSpec spec;
  spec.noise = 0.0;  // so that the test can rebuild the candidates
  spec.max_step = 50.0;
  spec.tolerance = 0.01;
  spec.iterations = 30;
  auto oracle = OracleAttacker::Create(spec, PluginPath(), ShippedPolicyPath());
  REQUIRE_MESSAGE(oracle.ok(), oracle.status().message());
  // A twin of the shadow, fed only the rounds as sent (never probed): the
  // shadow's probes must leave no trace, and the twin judges the steps just
  // above the one found.
  auto shadow_text = ShadowPolicyText(ReadText(ShippedPolicyPath()));
  REQUIRE(shadow_text.ok());
  auto twin = FilterClient::FromText(
      PluginPath(), *shadow_text, fs::temp_directory_path().string(), "twin");
  REQUIRE_MESSAGE(twin.ok(), twin.status().message());

  const SyntheticFederation fed(10);
  const std::vector<size_t> attackers = {3, 7};
  int attacked = 0;
  for (uint64_t round = 1; round <= 6; ++round) {
    std::vector<ClientUpdate> updates = fed.Round();
    if (round <= 3) {  // the policy's trusted warm-up
      auto seen = (*oracle)->Observe(round, fed.layout, fed.global, updates);
      REQUIRE(seen.ok());
      CHECK_FALSE(seen->attacked);
      REQUIRE(
          (*twin)->FilterRound(round, fed.layout, fed.global, updates).ok());
      continue;
    }
    const std::vector<ClientUpdate> honest = updates;
    auto done = (*oracle)->Attack(round, fed.layout, fed.global, updates,
                                  attackers, {11, 12});
    REQUIRE_MESSAGE(done.ok(), done.status().message());
    CAPTURE(round);
    CAPTURE(done->step_found);
    CAPTURE(done->step_refused);
    REQUIRE(done->attacked);
    ++attacked;
    // The updates sent are the candidates at step_sent.
    const auto expected = AtStep(honest, attackers, done->step_sent);
    for (size_t i = 0; i < updates.size(); ++i) {
      CHECK(torch::allclose(updates[i].delta, expected[i].delta, 1e-5, 1e-7));
    }
    // A real attack: every attacker steps, sent at the margin or (refused
    // there) in full.
    CHECK(done->stepping == attackers);
    CHECK(done->step_found > 0.0);
    CHECK((done->step_sent == spec.margin * done->step_found ||
           done->step_sent == done->step_found));
    // Accepted by the shadow.
    REQUIRE(done->decisions.size() == updates.size());
    for (size_t i : attackers) CHECK(Accepted(done->decisions[i], 1.0));

    // Maximal to within the tolerance: max_step itself, or 1 + tol times
    // the step found is refused (here by the twin, from the same memory).
    if (done->step_found < spec.max_step) {
      CHECK(done->converged);
      CHECK(done->step_refused <= done->step_found * (1 + spec.tolerance));
      auto saved = (*twin)->SaveState();
      REQUIRE(saved.ok());
      for (double step :
           {done->step_found * (1 + spec.tolerance), done->step_refused}) {
        auto above = (*twin)->FilterRound(round, fed.layout, fed.global,
                                          AtStep(honest, attackers, step));
        REQUIRE(above.ok());
        CHECK_FALSE((Accepted((*above)[3], 1.0) && Accepted((*above)[7], 1.0)));
        REQUIRE((*twin)->LoadState(*saved).ok());
      }
    }
    // The twin, never probed, decides the round as sent exactly as the
    // probed shadow did.
    auto twin_decisions =
        (*twin)->FilterRound(round, fed.layout, fed.global, updates);
    REQUIRE(twin_decisions.ok());
    for (size_t i = 0; i < updates.size(); ++i) {
      CHECK((*twin_decisions)[i].action == done->decisions[i].action);
      CHECK((*twin_decisions)[i].weight == done->decisions[i].weight);
      CHECK((*twin_decisions)[i].score == done->decisions[i].score);
    }
  }
  CHECK(attacked == 3);
}

TEST_CASE(
    "An attacker the shadow refuses at step 0 does not hold the "
    "others back") {
  REQUIRE_MESSAGE(fs::exists(PluginPath()), "plugin not built");
  // The shipped policy with client_007 on the deny list: always dropped.
  std::string text = ReadText(ShippedPolicyPath());
  const std::string lists = "  deny: []";
  REQUIRE(text.find(lists) != std::string::npos);
  text.replace(text.find(lists), lists.size(), "  deny: [client_007]");
  const fs::path dir = PolicyCopy("deny");
  std::ofstream(dir / "deny.yaml") << text;
  OracleSpec spec;
  spec.noise = 0.0;
  spec.iterations = 12;
  auto oracle =
      OracleAttacker::Create(spec, PluginPath(), (dir / "deny.yaml").string());
  REQUIRE_MESSAGE(oracle.ok(), oracle.status().message());
  const SyntheticFederation fed(10);
  for (uint64_t round = 1; round <= 3; ++round) {
    REQUIRE(
        (*oracle)->Observe(round, fed.layout, fed.global, fed.Round()).ok());
  }
  std::vector<ClientUpdate> updates = fed.Round();
  const std::vector<ClientUpdate> honest = updates;
  auto done =
      (*oracle)->Attack(4, fed.layout, fed.global, updates, {3, 7}, {1, 2});
  REQUIRE_MESSAGE(done.ok(), done.status().message());
  CHECK(done->stepping == std::vector<size_t>{3});
  CHECK(done->step_found > 0.0);
  CHECK(torch::equal(updates[7].delta, honest[7].delta));
  CHECK(Accepted(done->decisions[3], 1.0));
  CHECK(done->decisions[7].action == AGGF_ACTION_DROP);
  fs::remove_all(dir);
}

TEST_CASE("Sybil noise is seeded per attacker and sized by noise") {
  REQUIRE_MESSAGE(fs::exists(PluginPath()), "plugin not built");
  OracleSpec spec;
  spec.noise = 0.1;
  spec.max_step = 1e-9;  // accepted: the noise alone is what is sent
  spec.margin = 1.0;
  auto oracle = OracleAttacker::Create(spec, PluginPath(), "");
  REQUIRE(oracle.ok());
  const SyntheticFederation fed(6);
  // Two attackers with the same honest update.
  std::vector<ClientUpdate> updates = fed.Round();
  updates[2].delta = updates[1].delta.clone();
  const torch::Tensor u = updates[1].delta.clone();
  auto done =
      (*oracle)->Attack(1, fed.layout, fed.global, updates, {1, 2}, {5, 6});
  REQUIRE_MESSAGE(done.ok(), done.status().message());
  const torch::Tensor e1 = updates[1].delta - u;
  const torch::Tensor e2 = updates[2].delta - u;
  CHECK_FALSE(torch::equal(updates[1].delta, updates[2].delta));
  const double ratio = e1.norm().item<double>() / u.norm().item<double>();
  CHECK(ratio == doctest::Approx(0.1).epsilon(0.05));
  // Independent: nearly orthogonal in d = 2080.
  const double cosine = (e1.dot(e2) / (e1.norm() * e2.norm())).item<double>();
  CHECK(std::abs(cosine) < 0.1);
}

TEST_CASE("ParseOracleSpec reads the direction and refuses bad params") {
  auto spec = ParseOracleSpec("oracle", {});
  REQUIRE(spec.ok());
  CHECK(spec->direction == OracleDirection::kNegMean);
  CHECK(spec->margin == 0.9);
  spec = ParseOracleSpec("oracle:sign_flip",
                         {{"margin", 0.5}, {"iterations", 8}, {"noise", 0}});
  REQUIRE(spec.ok());
  CHECK(spec->direction == OracleDirection::kSignFlip);
  CHECK(spec->margin == 0.5);
  CHECK(spec->iterations == 8);
  CHECK(spec->noise == 0.0);
  for (const auto& [type, params] : std::vector<std::pair<std::string, Params>>{
           {"oracle:uv", {}},
           {"oracle", {{"margin", 0}}},
           {"oracle", {{"margin", 1.5}}},
           {"oracle", {{"iterations", 2.5}}},
           {"oracle", {{"iterations", 0}}},
           {"oracle", {{"max_step", -1}}},
           {"oracle", {{"min_weight", 0}}},
           {"oracle", {{"gamma", 1}}}}) {
    CAPTURE(type);
    const Status s = ParseOracleSpec(type, params).status();
    CHECK(s.code() == ErrorCode::kInvalidArgument);
    CHECK(s.message().find("attack 'oracle") != std::string::npos);
  }
}

TEST_CASE("The shadow's policy has no state file and no audit log") {
  auto text = ShadowPolicyText(ReadText(ShippedPolicyPath()));
  REQUIRE_MESSAGE(text.ok(), text.status().message());
  auto shadow = yaml::LoadDocument(*text, 1 << 20);
  auto shipped = yaml::LoadDocument(ReadText(ShippedPolicyPath()), 1 << 20);
  REQUIRE(shadow.ok());
  REQUIRE(shipped.ok());
  CHECK((*shadow)["state"]["path"].as<std::string>() == "");
  CHECK((*shadow)["audit"]["path"].as<std::string>() == "");
  CHECK((*shadow)["state"]["on_corrupt"].as<std::string>() == "fail");
  CHECK((*shadow)["thresholds"]["rules"][0]["k"].as<double>() ==
        (*shipped)["thresholds"]["rules"][0]["k"].as<double>());
  // A policy without those sections gains empty paths; an empty one stays.
  text = ShadowPolicyText("guards: {norm: {k: 2}}\n");
  REQUIRE(text.ok());
  shadow = yaml::LoadDocument(*text, 1 << 20);
  REQUIRE(shadow.ok());
  CHECK((*shadow)["audit"]["path"].as<std::string>() == "");
  CHECK((*shadow)["guards"]["norm"]["k"].as<int>() == 2);
  CHECK(ShadowPolicyText("")->empty());
  CHECK(ShadowPolicyText("- a\n- b\n").status().code() == ErrorCode::kConfig);
  CHECK(ShadowPolicyText("state: 3\n").status().code() == ErrorCode::kConfig);
}

TEST_CASE("The server runs the oracle against its filter") {
  REQUIRE_MESSAGE(fs::exists(PluginPath()), "plugin not built");
  auto config = LoadSimConfig(std::string(FLSENTRY_SOURCE_DIR) +
                              "/configs/sim/smoke.yaml");
  REQUIRE(config.ok());
  config->clients = 6;
  config->rounds = 5;
  config->attack = {"oracle", 0.34, 4, {{"iterations", 10}}};
  // Without a filter to shadow, refused before training.
  CHECK(Simulation::Create(*config, {}).status().code() == ErrorCode::kConfig);
  config->attack.params = {{"margin", 2}};
  RunOptions options;
  options.plugin_path = PluginPath();
  CHECK(Simulation::Create(*config, options).status().code() ==
        ErrorCode::kConfig);
  config->attack.params = {{"iterations", 10}};

  const fs::path dir = PolicyCopy("server");
  options.filter_config_path = (dir / "policy.yaml").string();
  auto sim = Simulation::Create(*config, options);
  REQUIRE_MESSAGE(sim.ok(), sim.status().message());
  int malicious = 0;
  int accepted = 0;
  for (int r = 1; r <= config->rounds; ++r) {
    auto result = (*sim)->RunRound();
    REQUIRE_MESSAGE(result.ok(), result.status().message());
    CHECK(result->oracle_step.has_value() == (r >= 4));
    for (const ClientOutcome& c : result->clients) {
      // The shadow is the server's filter fed the same rounds: its
      // prediction is the server's decision, for every update.
      CHECK_MESSAGE(c.shadow_action == c.action,
                    c.client_id << ": " << c.reason);
      if (!c.malicious) continue;
      ++malicious;
      accepted += c.action == "accept";
      CHECK(c.attack == "oracle");
    }
  }
  CHECK(malicious == 2 * 2);
  CHECK(accepted > 0);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace flsentry::sim
