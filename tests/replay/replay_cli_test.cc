// End-to-end tests of `flsentry replay`: the real binary, the real plugins
// (flsentry's and the unrelated C norm filter), archives written by
// RoundArchiveWriter.
#include <doctest/doctest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "replay_test_util.h"
#include "tensor/tensor_file.h"

namespace {

using namespace replaytest;
using Json = nlohmann::json;

const std::string kFlsentry = FLSENTRY_BIN;
const std::string kNormPlugin = NORM_PLUGIN_PATH;
const std::string kProbePlugin = PROBE_PLUGIN_PATH;
const std::string kProbeOnArrivalPlugin = PROBE_ON_ARRIVAL_PLUGIN_PATH;

// Lines of a decisions.jsonl parsed.
std::vector<Json> Decisions(const std::string& path) {
  std::vector<Json> out;
  std::istringstream in(ReadFile(path));
  for (std::string line; std::getline(in, line);)
    out.push_back(Json::parse(line));
  return out;
}

TEST_CASE("two replays of the same archive and policy are byte-identical") {
  TempDir dir;
  MakeArchive(dir / "archive");
  WriteFile(dir / "policy.yaml", "# default guards only\n");
  RunResult a = Run({kFlsentry, "replay", dir / "archive", "--config",
                     dir / "policy.yaml", "--out", dir / "a"});
  RunResult b = Run({kFlsentry, "replay", dir / "archive", "--config",
                     dir / "policy.yaml", "--out", dir / "b"});
  REQUIRE_MESSAGE(a.exit_code == 0, a.err);
  REQUIRE_MESSAGE(b.exit_code == 0, b.err);
  const std::string da = ReadFile(dir / "a/decisions.jsonl");
  CHECK(CountLines(da) == 24);
  CHECK(da == ReadFile(dir / "b/decisions.jsonl"));
  CHECK(ReadFile(dir / "a/report.html") == ReadFile(dir / "b/report.html"));
  // Same table; only the report paths differ.
  CHECK(a.out.substr(0, a.out.find("report: ")) ==
        b.out.substr(0, b.out.find("report: ")));
  // The guard dropped the NaN update of round 3, as a live server would see.
  std::vector<Json> d = Decisions(dir / "a/decisions.jsonl");
  const Json& nan_update = d[2 * 6 + 4];
  CHECK(nan_update["round"] == 3);
  CHECK(nan_update["client"] == "client_4");
  CHECK(nan_update["action"] == "drop");
  CHECK(nan_update["reason"] == "nonfinite");
  CHECK(nan_update["score"].is_null());
  CHECK(d[0]["label"] == "benign");
  CHECK(d[5]["attack"] == "scaling");
  // Table on stdout: a row per round and the report's path.
  CHECK(a.out.find("report: " + dir / "a/report.html") != std::string::npos);
  CHECK(CountLines(a.out) >= 4 + 2);
}

TEST_CASE("any aggfilter plugin: the C norm filter, with detection metrics") {
  TempDir dir;
  MakeArchive(dir / "archive");
  WriteFile(dir / "norm.cfg", "1.0");
  RunResult r =
      Run({kFlsentry, "replay", dir / "archive", "--config", dir / "norm.cfg",
           "--plugin", kNormPlugin, "--out", dir / "out"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  Json s = Json::parse(ReadFile(dir / "out/summary.json"));
  const Json& all = s["overall"];
  CHECK(all["clients"] == 24);
  CHECK(all["tp"] == 4);  // the attacker, every round
  CHECK(all["fn"] == 0);
  CHECK(all["tpr"] == 1.0);
  CHECK(all["auc"] == 1.0);
  CHECK(s["rounds"].size() == 4);
  CHECK(s["rounds"][0]["dropped"].get<int>() >= 1);
  CHECK(s["redirects"].empty());  // "1.0" is not a YAML map: passed as is
  CHECK(r.out.find("auc 1.000") != std::string::npos);
}

TEST_CASE(
    "an unreadable client file is dropped as unreadable and replay goes on") {
  TempDir dir;
  MakeArchive(dir / "archive");
  WriteFile(dir / "archive/round_0002/client_1.safetensors",
            "not a tensor file");
  fs::remove(dir / "archive/round_0003/client_2.safetensors");
  WriteFile(dir / "p.yaml", "{}\n");
  RunResult r = Run({kFlsentry, "replay", dir / "archive", "--config",
                     dir / "p.yaml", "--out", dir / "drop"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(CountOf(r.err, "flsentry: error: ") == 2);
  CHECK(r.err.find("round_0002/client_1.safetensors") != std::string::npos);
  std::vector<Json> d = Decisions(dir / "drop/decisions.jsonl");
  REQUIRE(d.size() == 24);
  const Json& bad = d[6 + 1];
  CHECK(bad["client"] == "client_1");
  CHECK(bad["action"] == "drop");
  CHECK(bad["reason"] == "unreadable");
  CHECK(bad["unreadable"] == true);
  CHECK(d[12 + 2]["reason"] == "unreadable");
  CHECK(d[18]["round"] == 4);  // the rounds after still ran
  Json s = Json::parse(ReadFile(dir / "drop/summary.json"));
  CHECK(s["overall"]["unreadable"] == 2);
  CHECK(s["rounds"][1]["errors"].size() == 1);

  RunResult skip =
      Run({kFlsentry, "replay", dir / "archive", "--config", dir / "p.yaml",
           "--out", dir / "skip", "--on-unreadable", "skip"});
  REQUIRE_MESSAGE(skip.exit_code == 0, skip.err);
  CHECK(Decisions(dir / "skip/decisions.jsonl").size() == 22);

  RunResult fail =
      Run({kFlsentry, "replay", dir / "archive", "--config", dir / "p.yaml",
           "--out", dir / "fail", "--on-unreadable", "fail"});
  CHECK(fail.exit_code == 1);
  CHECK(fail.err.find("flsentry: error: ") == 0);
  CHECK(fail.err.find("client_1.safetensors") != std::string::npos);

  RunResult bad_mode = Run({kFlsentry, "replay", dir / "archive", "--config",
                            dir / "p.yaml", "--on-unreadable", "ignore"});
  CHECK(bad_mode.exit_code == 1);
  CHECK(bad_mode.err.find("drop, skip or fail") != std::string::npos);
}

TEST_CASE(
    "archives replay cannot read fail with one clear line naming the file") {
  struct Case {
    const char* what;
    std::string manifest;  // "" = delete the manifest
    const char* message;
  };
  const std::vector<Case> cases = {
      {"missing manifest", "", "missing manifest"},
      {"bad JSON", "{\"format\": \"flsentry-round/1\",", "bad JSON"},
      {"unknown version",
       R"({"format": "flsentry-round/9", "round": 2, "kind": "delta", "clients": []})",
       "unknown format version"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    TempDir dir;
    MakeArchive(dir / "archive", 3);
    const std::string manifest = dir / "archive/round_0002/manifest.json";
    if (c.manifest.empty()) {
      fs::remove(manifest);
    } else {
      WriteFile(manifest, c.manifest);
    }
    WriteFile(dir / "p.yaml", "{}\n");
    RunResult r = Run({kFlsentry, "replay", dir / "archive", "--config",
                       dir / "p.yaml", "--out", dir / "out"});
    CAPTURE(r.err);
    CHECK(r.exit_code == 1);
    CHECK(CountLines(r.err) == 1);
    CHECK(r.err.find("flsentry: error: ") == 0);
    CHECK(r.err.find(manifest) != std::string::npos);
    CHECK(r.err.find(c.message) != std::string::npos);
    CHECK_FALSE(fs::exists(dir / "out/decisions.jsonl"));
  }
}

TEST_CASE("several policies replay independently, side by side") {
  TempDir dir;
  MakeArchive(dir / "archive");
  WriteFile(dir / "a/policy.yaml", "{}\n");
  WriteFile(
      dir / "b/policy.yaml",
      "state:\n  path: live_state.json\naudit:\n  path: live_audit.jsonl\n");
  RunResult r = Run({kFlsentry, "replay", dir / "archive", "--config",
                     dir / "a/policy.yaml", "--config", dir / "b/policy.yaml",
                     "--out", dir / "out"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(ReadFile(dir / "out/policy/decisions.jsonl") ==
        ReadFile(dir / "out/policy_2/decisions.jsonl"));
  Json comparison = Json::parse(ReadFile(dir / "out/comparison.json"));
  CHECK(comparison.contains("policy"));
  CHECK(comparison.contains("policy_2"));
  CHECK(comparison["policy_2"]["clients"] == 24);
  CHECK(r.out.find("policy_2") != std::string::npos);
  // The live server's state and audit files are not touched: replay points
  // them into its own output directory.
  Json s = Json::parse(ReadFile(dir / "out/policy_2/summary.json"));
  REQUIRE(s["redirects"].size() == 2);
  CHECK(s["redirects"][0].get<std::string>().find(
            "live_state.json -> " + dir / "out/policy_2/replay_state.json") !=
        std::string::npos);
  CHECK_FALSE(fs::exists(dir / "b/live_state.json"));
  CHECK_FALSE(fs::exists(dir / "b/live_audit.jsonl"));
  CHECK(ReadFile(dir / "out/policy_2/report.html").find("live_state.json") !=
        std::string::npos);  // the policy as written is shown
}

// Two rounds of 6 clients whose update files are over 1 MiB (so that
// reading one maps it), without a global model.
void MakeLargeUpdateArchive(const std::string& dir) {
  auto writer = flsentry::RoundArchiveWriter::Open(dir);
  REQUIRE(writer.ok());
  std::vector<int64_t> shape = {300000};
  std::vector<float> w(300000, 0.01f);
  for (int r = 1; r <= 2; ++r) {
    REQUIRE(writer->BeginRound(r, flsentry::ArchiveKind::kDelta, {}).ok());
    for (int c = 0; c < 6; ++c) {
      std::vector<flsentry::TensorView> t = {
          {"w", flsentry::DType::kF32, shape, {}, w.data()}};
      flsentry::ArchiveClientRecord rec;
      rec.id = "client_" + std::to_string(c);
      rec.num_examples = 100;
      REQUIRE(writer->AddClient(rec, t).ok());
    }
    REQUIRE(writer->FinishRound().ok());
  }
}

TEST_CASE("replay holds one update file at a time for a plugin on arrival") {
  TempDir dir;
  MakeLargeUpdateArchive(dir / "archive");
  fs::create_directories(dir / "flat");
  for (auto& e : fs::directory_iterator(dir / "archive/round_0001")) {
    if (e.path().filename() != "manifest.json") {
      fs::copy_file(e.path(), dir / ("flat/" + e.path().filename().string()));
    }
  }
  // The probe's score: the most of the archive's files mapped at once while
  // the plugin read updates.
  auto most_mapped = [&](const std::string& source, const std::string& plugin,
                         const std::string& out) {
    WriteFile(dir / "probe.cfg", source);
    RunResult r = Run({kFlsentry, "replay", source, "--config",
                       dir / "probe.cfg", "--plugin", plugin, "--out", out});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    std::set<double> scores;
    for (const Json& d : Decisions(out + "/decisions.jsonl")) {
      scores.insert(d["score"].get<double>());
    }
    return scores;
  };
  // ABI 1.0: one call with every update of the round mapped.
  CHECK(most_mapped(dir / "archive", kProbePlugin, dir / "one") ==
        std::set<double>{6});
  // ABI 1.2: each file read, added and released before the next.
  CHECK(most_mapped(dir / "archive", kProbeOnArrivalPlugin, dir / "arrival") ==
        std::set<double>{1});
  // A flat folder too (its files are read once more, for their metadata).
  CHECK(most_mapped(dir / "flat", kProbeOnArrivalPlugin, dir / "flat_out") ==
        std::set<double>{1});
}

TEST_CASE("a flat folder of update files replays as one round; --json output") {
  TempDir dir;
  MakeArchive(dir / "archive", 1);
  fs::create_directories(dir / "flat");
  for (auto& e : fs::directory_iterator(dir / "archive/round_0001")) {
    if (e.path().filename() != "manifest.json" &&
        e.path().filename() != "global.safetensors") {
      fs::copy_file(e.path(), dir / ("flat/" + e.path().filename().string()));
    }
  }
  WriteFile(dir / "p.yaml", "{}\n");
  RunResult r = Run({kFlsentry, "replay", dir / "flat", "--config",
                     dir / "p.yaml", "--out", dir / "out", "--json"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  Json j = Json::parse(r.out);
  CHECK(j["p"]["clients"].get<int>() ==
        static_cast<int>(CountLines(ReadFile(dir / "out/decisions.jsonl"))));
  CHECK_FALSE(j["p"].contains("tp"));  // a flat folder has no labels
}

TEST_CASE("a flat folder's files name their client and examples in metadata") {
  TempDir dir;
  fs::create_directories(dir / "flat");
  std::vector<int64_t> shape = {4};
  auto write = [&](const std::string& name, float scale,
                   const std::map<std::string, std::string>& metadata) {
    std::vector<float> w = {scale, -scale, 0.5f * scale, scale};
    std::vector<flsentry::TensorView> t = {
        {"w", flsentry::DType::kF32, shape, {}, w.data()}};
    REQUIRE(
        flsentry::WriteTensorFile(dir / ("flat/" + name), t, metadata).ok());
  };
  // As `flsentry simulate --export-updates` writes them; one without.
  write("r0001_3.pth", 0.01f,
        {{"round", "1"},
         {"client_id", "hospital-3"},
         {"num_examples", "600"},
         {"label", "benign"}});
  write("r0001_4.safetensors", 0.02f, {{"client_id", "hospital-4"}});
  write("plain.pth", 0.03f, {});
  WriteFile(dir / "p.yaml", "{}\n");
  RunResult r = Run({kFlsentry, "replay", dir / "flat", "--config",
                     dir / "p.yaml", "--out", dir / "out"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  std::vector<Json> d = Decisions(dir / "out/decisions.jsonl");
  REQUIRE(d.size() == 3);  // sorted by file name
  CHECK(d[0]["client"] == "plain");
  CHECK(d[0]["client_from"] == "file name");
  CHECK(d[0]["num_examples"] == 1);
  CHECK(d[0]["num_examples_from"] == "default");
  CHECK(d[1]["client"] == "hospital-3");
  CHECK(d[1]["client_from"] == "metadata");
  CHECK(d[1]["num_examples"] == 600);
  CHECK(d[1]["num_examples_from"] == "metadata");
  CHECK(d[2]["client"] == "hospital-4");
  CHECK(d[2]["num_examples"] == 1);
  CHECK(r.out.find("p: note: flat folder: client ids from the files' "
                   "metadata for 2 of 3 updates (the others: the file name), "
                   "num_examples for 1 of 3 (the others: 1)") !=
        std::string::npos);
  // Two files naming the same client: every client is named after its file,
  // and replay says why.
  write("plain.pth", 0.03f, {{"client_id", "hospital-3"}});
  RunResult dup = Run({kFlsentry, "replay", dir / "flat", "--config",
                       dir / "p.yaml", "--out", dir / "dup"});
  REQUIRE_MESSAGE(dup.exit_code == 0, dup.err);
  d = Decisions(dir / "dup/decisions.jsonl");
  REQUIRE(d.size() == 3);
  CHECK(d[0]["client"] == "plain");
  CHECK(d[1]["client"] == "r0001_3");
  CHECK(d[1]["client_from"] == "file name");
  CHECK(d[1]["num_examples"] == 600);
  CHECK(dup.err.find("client id 'hospital-3' is given by two files") !=
        std::string::npos);
}

TEST_CASE("rounds the plugin refused are said: table, --json, summary.json") {
  TempDir dir;
  MakeArchiveRounds(dir / "archive", {1, 2, 10, 11});
  WriteFile(dir / "p.yaml", "rounds: {max_gap: 5}\n");
  RunResult r = Run({kFlsentry, "replay", dir / "archive", "--config",
                     dir / "p.yaml", "--out", dir / "out"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  const std::string note =
      "2 of 4 rounds refused by the plugin (10, 11): the counts and metrics "
      "cover the other 2 rounds only";
  CHECK(r.out.find("p: note: " + note + "\n") != std::string::npos);
  Json s = Json::parse(ReadFile(dir / "out/summary.json"));
  CHECK(s["overall"]["clients"] == 12);
  CHECK(s["overall"]["failed_rounds"] == 2);
  CHECK(s["overall"]["refused_rounds"] == Json::array({10, 11}));
  CHECK(s["notes"] == Json::array({note}));
  RunResult j = Run({kFlsentry, "replay", dir / "archive", "--config",
                     dir / "p.yaml", "--out", dir / "out", "--json"});
  REQUIRE_MESSAGE(j.exit_code == 0, j.err);
  Json overview = Json::parse(j.out)["p"];
  CHECK(overview["rounds"] == 4);
  CHECK(overview["failed_rounds"] == 2);
  CHECK(overview["refused_rounds"] == Json::array({10, 11}));
  CHECK(overview["notes"] == Json::array({note}));
}

TEST_CASE("a replay within the detector's warm-up says every round was one") {
  TempDir dir;
  WriteFile(dir / "p.yaml",
            "detector:\n"
            "  bootstrap: {enabled: true, sketch_dim: 64, hidden: [8]}\n"
            "  refresh: {enabled: true, warmup_rounds: 3, warmup_epochs: 1, "
            "epochs: 1}\n");
  MakeArchive(dir / "one", 1);
  RunResult one = Run({kFlsentry, "replay", dir / "one", "--config",
                       dir / "p.yaml", "--out", dir / "out1", "--json"});
  REQUIRE_MESSAGE(one.exit_code == 0, one.err);
  Json notes = Json::parse(one.out)["p"]["notes"];
  REQUIRE(notes.size() == 1);
  CHECK(notes[0] ==
        "every round replayed (1) was a trusted warm-up round of the "
        "detector (detector.refresh.warmup_rounds: 3): it learned from them "
        "and judged no update (norms and guards only); replay more than 3 "
        "rounds to see the detector judge");
  MakeArchive(dir / "four", 4);
  RunResult four = Run({kFlsentry, "replay", dir / "four", "--config",
                        dir / "p.yaml", "--out", dir / "out4"});
  REQUIRE_MESSAGE(four.exit_code == 0, four.err);
  CHECK(four.out.find("warm-up") == std::string::npos);
}

TEST_CASE("a failed replay leaves no outputs that look valid") {
  TempDir dir;
  MakeArchive(dir / "archive");
  WriteFile(
      dir / "p.yaml",
      "state: {path: live_state.json}\naudit: {path: live_audit.jsonl}\n");
  const std::vector<std::string> outputs = {"decisions.jsonl", "summary.json",
                                            "report.html", "replay_state.json",
                                            "replay_audit.jsonl"};
  // A replay that succeeded earlier into the same directory.
  RunResult ok = Run({kFlsentry, "replay", dir / "archive", "--config",
                      dir / "p.yaml", "--out", dir / "out"});
  REQUIRE_MESSAGE(ok.exit_code == 0, ok.err);
  for (const std::string& f : outputs) CHECK(fs::exists(dir / ("out/" + f)));
  // Round 3 unreadable under --on-unreadable fail: rounds 1 and 2 had been
  // filtered (the plugin saved its state) when replay stopped.
  WriteFile(dir / "archive/round_0003/client_1.safetensors", "not tensors");
  RunResult fail =
      Run({kFlsentry, "replay", dir / "archive", "--config", dir / "p.yaml",
           "--out", dir / "out", "--on-unreadable", "fail"});
  CHECK(fail.exit_code == 1);
  for (const std::string& f : outputs) {
    CAPTURE(f);
    CHECK_FALSE(fs::exists(dir / ("out/" + f)));
  }
  CHECK(fs::is_empty(dir / "out"));
  // A directory the failed replay made is removed with it.
  fail = Run({kFlsentry, "replay", dir / "archive", "--config", dir / "p.yaml",
              "--out", dir / "new", "--on-unreadable", "fail"});
  CHECK(fail.exit_code == 1);
  CHECK_FALSE(fs::exists(dir / "new"));
  // Several policies: the second refused, the first one's outputs go too.
  WriteFile(dir / "bad.yaml", "[1, 2]\n");
  fail = Run({kFlsentry, "replay", dir / "archive", "--config", dir / "p.yaml",
              "--config", dir / "bad.yaml", "--out", dir / "multi"});
  CHECK(fail.exit_code == 1);
  CHECK_FALSE(fs::exists(dir / "multi"));
}

TEST_CASE(
    "a policy the plugin refuses stops the replay with the plugin's reason") {
  TempDir dir;
  MakeArchive(dir / "archive", 1);
  WriteFile(dir / "bad.yaml", "[1, 2]\n");
  RunResult r =
      Run({kFlsentry, "replay", dir / "archive", "--config", dir / "bad.yaml"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find(dir / "bad.yaml") != std::string::npos);
  CHECK(r.err.find("refused the policy") != std::string::npos);
  RunResult missing =
      Run({kFlsentry, "replay", dir / "archive", "--config", dir / "no.yaml"});
  CHECK(missing.exit_code == 1);
  CHECK(missing.err.find("policy file: ") != std::string::npos);
  CHECK(missing.err.find(": no such file") != std::string::npos);
  RunResult no_plugin = Run({kFlsentry, "replay", dir / "archive", "--config",
                             dir / "bad.yaml", "--plugin", dir / "nothing.so"});
  CHECK(no_plugin.exit_code == 1);
  CHECK(no_plugin.err.find("cannot load filter plugin") != std::string::npos);
  // Replay hands the plugin the operator's bytes (only state and audit
  // paths are moved): a quoted number the plugin refuses live is refused
  // here too (a yaml-cpp round trip used to unquote it and accept it).
  WriteFile(dir / "quoted.yaml",
            "thresholds: {rules: [{kind: round_ratio, k: \"5\"}]}\n"
            "state: {path: state.json}\naudit: {path: audit.jsonl}\n");
  RunResult quoted = Run({kFlsentry, "replay", dir / "archive", "--config",
                          dir / "quoted.yaml", "--out", dir / "out"});
  CHECK(quoted.exit_code == 1);
  CHECK(quoted.err.find("thresholds.rules[0].k: expected a number") !=
        std::string::npos);
}

}  // namespace

// ABI 1.1's on_round_details gives replay each decision's suspicion, so a
// policy without an audit log ranks by it too (before 1.1 replay read it
// from the audit log, and a policy without one was ranked by score).
TEST_CASE("the ROC ranks by the plugin's suspicion, audit log or not") {
  TempDir dir;
  MakeArchive(dir / "archive");
  WriteFile(dir / "audited.yaml", "audit: {path: live_audit.jsonl}\n");
  WriteFile(dir / "plain.yaml", "{}\n");
  RunResult r = Run({kFlsentry, "replay", dir / "archive", "--config",
                     dir / "audited.yaml", "--config", dir / "plain.yaml",
                     "--out", dir / "out"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  Json audited = Json::parse(ReadFile(dir / "out/audited/summary.json"));
  Json plain = Json::parse(ReadFile(dir / "out/plain/summary.json"));
  CHECK(audited["ranked_by"] == "suspicion");
  CHECK(plain["ranked_by"] == "suspicion");
  // The same suspicion either way: the audit log's copy and the details.
  CHECK(audited["overall"]["auc"] == plain["overall"]["auc"]);
  CHECK(audited["overall"]["auc"].is_number());
  // The live server's audit file is untouched; replay's copy was read.
  CHECK_FALSE(fs::exists(dir / "live_audit.jsonl"));
  CHECK(CountLines(ReadFile(dir / "out/audited/replay_audit.jsonl")) == 24);
  CHECK(ReadFile(dir / "out/audited/report.html")
            .find("the policy's suspicion") != std::string::npos);
}
