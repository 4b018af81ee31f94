#include "benchmark_report_protocol.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

namespace flsentry::bench {
namespace {

namespace fs = std::filesystem;

fs::path FreshDir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() /
                 ("fls_bench_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// One key per line, so that With() can replace a key.
const char* kProtocol = R"(name: t
base_config: configs/sim/mlp_default.yaml
policy: configs/default.yaml
rounds: 5
start_round: 4
overrides: {clients: 10}
seeds: [1, 2, 3]
baseline_seeds: [7]
fractions: [0.2, 0.4]
attacks: [sign_flip, scaling, backdoor]
fraction_attacks: {f40: [scaling]}
aggregators: [fedavg, filter, median]
shapes: {c20: {clients: 20, participation: 1.0}, cnn: {model: cnn}}
honest_shapes: [base, c20, cnn]
detection_shapes: [c20]
targets: {fraction: 0.2, detection_attacks: [sign_flip, scaling]}
)";

Result<Protocol> Load(const std::string& text) {
  const fs::path dir = FreshDir("protocol");
  std::ofstream(dir / "p.yaml") << text;
  return LoadProtocol((dir / "p.yaml").string());
}

// Replaces the first line starting with `key:` by `line`.
std::string With(const std::string& key, const std::string& line) {
  std::string text = kProtocol;
  const size_t at = text.find("\n" + key + ":");
  REQUIRE(at != std::string::npos);
  const size_t end = text.find('\n', at + 1);
  return text.substr(0, at + 1) + line + text.substr(end);
}

TEST_CASE("LoadProtocol reads seeds, shapes and targets") {
  auto p = Load(kProtocol);
  REQUIRE_MESSAGE(p.ok(), p.status().message());
  CHECK(p->seeds == std::vector<int>{1, 2, 3});
  CHECK(p->baseline_seeds == std::vector<int>{7});
  REQUIRE(p->shapes.size() == 2);
  CHECK(p->shapes[0].name == "c20");
  CHECK(p->shapes[0].overrides.at("participation") == "1.0");
  CHECK(p->AttacksAt(0.2) ==
        std::vector<std::string>{"sign_flip", "scaling", "backdoor"});
  CHECK(p->AttacksAt(0.4) == std::vector<std::string>{"scaling"});
  CHECK(p->AttacksAt(0.0).empty());
  CHECK(p->targets.detection_attacks ==
        std::vector<std::string>{"sign_flip", "scaling"});
  CHECK(p->targets.min_tpr == 0.95);
  CHECK(p->adaptive_attacks.empty());
  CHECK(p->AttacksAt(0.2, false) == p->AttacksAt(0.2));
}

TEST_CASE("adaptive_attacks split the attacks, in the order of attacks") {
  auto p = Load(With("attacks",
                     "attacks: [sign_flip, scaling, backdoor]\n"
                     "adaptive_attacks: [backdoor, sign_flip]"));
  REQUIRE_MESSAGE(p.ok(), p.status().message());
  CHECK(p->AttacksAt(0.2, true) ==
        std::vector<std::string>{"sign_flip", "backdoor"});
  CHECK(p->AttacksAt(0.2, false) == std::vector<std::string>{"scaling"});
  CHECK(p->IsAdaptive("backdoor"));
  CHECK_FALSE(p->IsAdaptive("scaling"));
  CHECK(p->AttacksAt(0.4, true).empty());  // fraction_attacks: f40 scaling
  CHECK(p->AttacksAt(0.4, false) == std::vector<std::string>{"scaling"});
  Plan plan;
  plan.protocol = *p;
  ShapeInfo base;
  base.name = kBaseShape;
  plan.shapes.push_back(base);
  RunSpec run;
  run.id = "base-f00-none-fedavg-s1";
  plan.runs.push_back(run);
  auto back = PlanFromJson(PlanToJson(plan));
  REQUIRE_MESSAGE(back.ok(), back.status().message());
  CHECK(back->protocol.adaptive_attacks == p->adaptive_attacks);
}

TEST_CASE("WritePlan gives an oracle attack against a baseline a shadow") {
  auto p = Load(With("attacks", "attacks: [sign_flip, scaling, oracle]"));
  REQUIRE_MESSAGE(p.ok(), p.status().message());
  const fs::path out = FreshDir("plan_oracle");
  auto plan = WritePlan(*p, FLSENTRY_SOURCE_DIR, out.string());
  REQUIRE_MESSAGE(plan.ok(), plan.status().message());
  std::ifstream tsv(out / "plan.tsv");
  std::map<std::string, std::string> mode;  // id -> plan.tsv's third column
  for (std::string line; std::getline(tsv, line);) {
    const size_t last = line.rfind('\t');
    mode[line.substr(0, line.find('\t'))] = line.substr(last + 1);
  }
  for (const RunSpec& r : plan->runs) {
    CAPTURE(r.id);
    const bool oracle = r.attack == "oracle";
    CHECK(r.shadow_filter == (oracle && !r.uses_filter));
    CHECK(mode.at(r.id) == (r.uses_filter ? "1" : oracle ? "2" : "0"));
    CHECK(fs::exists(out / "runs" / r.id / "policy.yaml") ==
          (r.uses_filter || r.shadow_filter));
  }
  CHECK(mode.at("base-f20-oracle-median-s7") == "2");
  CHECK(mode.at("base-f20-oracle-filter-s1") == "1");
  CHECK(mode.at("base-f20-scaling-median-s7") == "0");
  CHECK(mode.at("base-f00-none-median-s7") == "0");
}

TEST_CASE("LoadProtocol refuses what it cannot plan, naming the key") {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"seeds", "seeds: [1, 1]"},
      {"seeds", "seeds: []"},
      {"baseline_seeds", "baseline_seeds: [-1]"},
      {"fraction_attacks", "fraction_attacks: {f30: [scaling]}"},
      {"fraction_attacks", "fraction_attacks: {f40: [alie]}"},
      {"honest_shapes", "honest_shapes: [c99]"},
      {"detection_shapes", "detection_shapes: [base]"},
      {"targets", "targets: {detection_attacks: [alie]}"},
      {"targets", "targets: {max_fpr_per_round: 0.01}"},
      {"overrides", "overrides: {seed: 3}"},
      {"shapes", "shapes: {base: {clients: 3}}"},
      {"aggregators", "aggregators: [fedavg, median]"},  // honest needs filter
  };
  for (const auto& [key, line] : bad) {
    CAPTURE(line);
    const auto p = Load(With(key, line));
    CHECK(p.status().code() == ErrorCode::kConfig);
    CHECK(p.status().message().find(key) != std::string::npos);
  }
  for (const char* adaptive : {"[oracle]", "[scaling, scaling]"}) {
    CAPTURE(adaptive);  // not in attacks; repeated
    const auto p = Load(With("attacks",
                             "attacks: [sign_flip, scaling]\n"
                             "adaptive_attacks: " +
                                 std::string(adaptive)));
    CHECK(p.status().code() == ErrorCode::kConfig);
    CHECK(p.status().message().find("adaptive_attacks") != std::string::npos);
  }
}

TEST_CASE("LoadProtocol reads strictly: repeated keys, quoted numbers") {
  // {line replaced, its new text, the key path the error names}.
  const std::vector<std::vector<std::string>> bad = {
      {"rounds", "rounds: 5\nrounds: 6", "rounds"},
      {"rounds", "rounds: \"5\"", "rounds"},
      {"rounds", "roudns: 5", "roudns"},
      {"seeds", "seeds: [1, '2']", "seeds[1]"},
      {"targets", "targets: {fraction: 0.2, fraction: 0.3}",
       "targets.fraction"},
      {"shapes", "shapes: {c20: {clients: 20}, c20: {clients: 30}}",
       "shapes.c20"},
      {"overrides", "overrides: {clients: \"10\"}", "overrides.clients"},
      {"overrides", "overrides: {clients: 10, clients: 12}",
       "overrides.clients"},
  };
  for (const auto& c : bad) {
    CAPTURE(c[1]);
    const auto p = Load(With(c[0], c[1]));
    CHECK(p.status().code() == ErrorCode::kConfig);
    CHECK(p.status().message().find(c[2] + ": ") != std::string::npos);
    CHECK(p.status().message().find("(line ") != std::string::npos);
  }
}

TEST_CASE("WritePlan runs every cell on its seeds, once") {
  auto p = Load(kProtocol);
  REQUIRE(p.ok());
  const fs::path out = FreshDir("plan");
  auto plan = WritePlan(*p, FLSENTRY_SOURCE_DIR, out.string());
  REQUIRE_MESSAGE(plan.ok(), plan.status().message());
  std::set<std::string> ids;
  int filter = 0;
  for (const RunSpec& r : plan->runs) {
    CHECK(ids.insert(r.id).second);
    CHECK(fs::exists(out / "runs" / r.id / "sim.yaml"));
    CHECK(fs::exists(out / "runs" / r.id / "policy.yaml") == r.uses_filter);
    filter += r.uses_filter;
  }
  // Attack table: none (filter 3 + fedavg 3 + median 1), 20% 3 attacks x
  // (filter 3 + fedavg 1 + median 1), 40% 1 attack x 5; honest c20 and cnn
  // x (filter 3 + fedavg 3); detection c20 x 2 attacks x filter 3.
  CHECK(plan->runs.size() == 7 + 15 + 5 + 12 + 6);
  CHECK(filter == 3 + 9 + 3 + 6 + 6);
  CHECK(ids.count("base-f00-none-fedavg-s3"));
  CHECK(ids.count("base-f20-backdoor-median-s7"));
  CHECK_FALSE(ids.count("base-f40-sign_flip-filter-s1"));
  CHECK(ids.count("c20-f20-scaling-filter-s2"));
  CHECK(ids.count("cnn-f00-none-fedavg-s1"));
  std::ifstream in(out / "runs" / "c20-f20-scaling-filter-s2" / "sim.yaml");
  const std::string yaml((std::istreambuf_iterator<char>(in)), {});
  CHECK(yaml.find("seed: 2") != std::string::npos);
  CHECK(yaml.find("clients: 20") != std::string::npos);
  CHECK(yaml.find("type: scaling") != std::string::npos);
  const ShapeInfo* c20 = plan->Shape("c20");
  REQUIRE(c20 != nullptr);
  CHECK(c20->clients_per_round == 20);
  CHECK(plan->Shape(kBaseShape)->clients_per_round == 2);

  // plan.json round-trips; a finished run whose config changed is refused.
  auto back = PlanFromJson(PlanToJson(*plan));
  REQUIRE_MESSAGE(back.ok(), back.status().message());
  CHECK(back->runs.size() == plan->runs.size());
  CHECK(back->runs.back().seed == plan->runs.back().seed);
  CHECK(back->protocol.fraction_attacks == p->fraction_attacks);
  std::ofstream(out / "runs" / "c20-f20-scaling-filter-s2" / "summary.json")
      << "{}";
  Protocol changed = *p;
  changed.rounds = 6;
  CHECK(WritePlan(changed, FLSENTRY_SOURCE_DIR, out.string()).status().code() ==
        ErrorCode::kState);
}

}  // namespace
}  // namespace flsentry::bench
