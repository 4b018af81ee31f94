// `flsentry inspect` and `flsentry convert`, run as a user runs them: exit
// codes, one-line errors, the stable --json fields, and (when Python's torch
// is installed) that convert's output loads in real PyTorch.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "tensor_test_util.h"

namespace flsentry {
namespace {

using nlohmann::json;
using testing::FixturePath;
using testing::TempDir;

struct Run {
  int exit_code = -1;  // -1 when killed by a signal
  std::string out;
  std::string err;
};

std::string Quote(const std::string& s) { return "'" + s + "'"; }

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

Run Execute(const std::string& command) {
  static TempDir dir;
  const std::string out = dir.File("stdout");
  const std::string err = dir.File("stderr");
  const int status =
      std::system((command + " >" + Quote(out) + " 2>" + Quote(err)).c_str());
  Run run;
  if (WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
  run.out = Slurp(out);
  run.err = Slurp(err);
  return run;
}

Run Flsentry(const std::string& args) {
  std::string command =
      Quote(std::string(FLSENTRY_BINARY_DIR) + "/plugin/flsentry");
  command += " ";
  command += args;
  return Execute(command);
}

json InspectJson(const std::string& path, const std::string& key = "") {
  Run run = Flsentry("inspect --json " + Quote(path) +
                     (key.empty() ? "" : " --key " + key));
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  return json::parse(run.out);
}

TEST_CASE("inspect --json reports what PyTorch computed, with stable fields") {
  std::ifstream in(FixturePath("expected.json"));
  const json expected = json::parse(in)["cases"];
  for (const auto& [case_name, want] : expected.items()) {
    CAPTURE(case_name);
    const std::string file = FixturePath(want.value("file", case_name));
    const json got = InspectJson(file, want["key_path"].get<std::string>());
    CHECK(got["file"] == file);
    CHECK(got["format"] == want["format"]);
    REQUIRE(got["tensors"].size() == want["tensors"].size());
    for (size_t i = 0; i < want["tensors"].size(); ++i) {
      const json& g = got["tensors"][i];
      const json& w = want["tensors"][i];
      for (const char* field :
           {"name", "dtype", "shape", "numel", "min", "max", "nonfinite"}) {
        CAPTURE(std::string(field));
        CHECK(g[field] == w[field]);
      }
      const double sum = g["sum"].get<double>();
      CHECK(std::fabs(sum - w["sum"].get<double>()) <=
            1e-9 * (1 + std::fabs(sum)));
      CHECK(g.size() == 8);  // exactly the contract's fields
    }
    for (const auto& [key, value] : want["scalars"].items()) {
      CAPTURE(key);
      CHECK(got["scalars"][key] == value);
    }
  }
}

TEST_CASE("inspect prints one line per tensor and scalar") {
  Run run = Flsentry("inspect " + Quote(FixturePath("nested_checkpoint.pth")) +
                     " --key model");
  REQUIRE(run.exit_code == 0);
  const size_t lines =
      static_cast<size_t>(std::count(run.out.begin(), run.out.end(), '\n'));
  CHECK(lines == 9 + 7);  // 9 tensors; scalars: num_examples, round, lr,
                          // client, finished, history.0, history.1
  CHECK(run.out.find("bn.num_batches_tracked  int64  []  numel=1  sum=3") !=
        std::string::npos);
  CHECK(run.out.find("scalar  num_examples = 600") != std::string::npos);
}

TEST_CASE("bad input: non-zero exit and one error line naming the file") {
  TempDir dir;
  testing::WriteBytes(dir.File("empty.pth"), {});
  std::vector<uint8_t> pth =
      testing::ReadBytes(FixturePath("cnn_state_dict.pth"));
  pth.resize(pth.size() / 3);
  testing::WriteBytes(dir.File("truncated.pth"), pth);
  std::vector<std::string> files = {dir.File("empty.pth"), dir.path(),
                                    dir.File("truncated.pth"),
                                    dir.File("absent.pth")};
  for (const auto& entry :
       std::filesystem::directory_iterator(FixturePath("bad"))) {
    files.push_back(entry.path().string());
  }
  REQUIRE(files.size() >= 15);
  for (const std::string& file : files) {
    CAPTURE(file);
    const std::string out = dir.File("out.safetensors");
    for (const std::string& command :
         {std::string("inspect "), std::string("inspect --json "),
          std::string("convert ")}) {
      CAPTURE(command);
      std::string args = command;
      args += Quote(file);
      if (command == "convert ") args += " " + Quote(out);
      Run run = Flsentry(args);
      CHECK(run.exit_code == 1);
      CHECK(run.out.empty());
      CHECK(run.err.rfind("flsentry: error: " + file, 0) == 0);
      CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 1);
      CHECK_FALSE(std::filesystem::exists(out));
    }
  }
}

TEST_CASE("convert round-trips through both formats and refuses unknown ones") {
  TempDir dir;
  const std::string st = dir.File("cnn.safetensors");
  const std::string pth = dir.File("cnn.pth");
  // A human line by default, as every other command; JSON with --json.
  Run run = Flsentry("convert " + Quote(FixturePath("shared_views.pth")) + " " +
                     Quote(st));
  REQUIRE(run.exit_code == 0);
  CHECK(run.out == "wrote " + st + " (safetensors): 6 tensors, 276 bytes of " +
                       "tensor data, from " + FixturePath("shared_views.pth") +
                       "\n");
  run = Flsentry("convert --json " + Quote(FixturePath("shared_views.pth")) +
                 " " + Quote(st));
  REQUIRE(run.exit_code == 0);
  const json summary = json::parse(run.out);
  CHECK(summary["format"] == "safetensors");
  CHECK(summary["tensors"] == 6);
  CHECK(summary["bytes"] == (24 + 6 + 4 + 24 + 6 + 5) * 4);
  REQUIRE(Flsentry("convert " + Quote(st) + " " + Quote(pth)).exit_code == 0);
  json original = InspectJson(FixturePath("shared_views.pth"));
  json back = InspectJson(pth);
  CHECK(original["tensors"] == back["tensors"]);

  run = Flsentry("convert " + Quote(st) + " " + Quote(dir.File("x.npy")));
  CHECK(run.exit_code == 1);
  CHECK(run.err.find("unknown tensor file extension") != std::string::npos);
}

TEST_CASE(
    "convert output loads in real PyTorch (skipped without python torch)") {
  if (Execute("/usr/bin/python3 -c 'import torch'").exit_code != 0) {
    MESSAGE("python3 with torch not found: skipping the PyTorch load check");
    return;
  }
  TempDir dir;
  std::ifstream in(FixturePath("expected.json"));
  const json expected = json::parse(in)["cases"];
  for (const char* name : {"cnn_state_dict.pth", "all_dtypes.pth",
                           "shared_views.pth", "scalar_tensors.pth"}) {
    CAPTURE(std::string(name));
    const std::string st = dir.File("out.safetensors");
    const std::string pth = dir.File("out.pth");
    REQUIRE(Flsentry("convert " + Quote(FixturePath(name)) + " " + Quote(st))
                .exit_code == 0);
    REQUIRE(Flsentry("convert " + Quote(st) + " " + Quote(pth)).exit_code == 0);
    Run run = Execute("/usr/bin/python3 " +
                      Quote(std::string(FLSENTRY_SOURCE_DIR) +
                            "/tests/fixtures/make_tensor_fixtures.py") +
                      " --check-loads " + Quote(pth) + " " + Quote(st));
    INFO(run.err);
    REQUIRE(run.exit_code == 0);
    const json loaded = json::parse(run.out);
    for (const std::string& file : {pth, st}) {
      CAPTURE(file);
      const json& got = loaded[file]["tensors"];
      const json& want = expected[name]["tensors"];
      REQUIRE(got.size() == want.size());
      for (size_t i = 0; i < want.size(); ++i) {
        CHECK(got[i]["name"] == want[i]["name"]);
        CHECK(got[i]["dtype"] == want[i]["dtype"]);
        CHECK(got[i]["shape"] == want[i]["shape"]);
        CHECK(got[i]["sum"] == want[i]["sum"]);  // same values, same order
        CHECK(got[i]["nonfinite"] == want[i]["nonfinite"]);
      }
    }
  }
}

}  // namespace
}  // namespace flsentry
