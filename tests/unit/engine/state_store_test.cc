#include "engine/state_store.h"

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "base/file_writer.h"

using namespace flsentry;
namespace fs = std::filesystem;

namespace {

// A fresh directory under the build tree, removed when the test ends.
struct TempDir {
  explicit TempDir(const std::string& name)
      : path(fs::path(FLSENTRY_BINARY_DIR) / ("state_store_test_" + name)) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  fs::path path;
};

void WriteText(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::string ReadText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<fs::path> FilesIn(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    files.push_back(entry.path());
  }
  return files;
}

}  // namespace

TEST_CASE("a missing file is a fresh start") {
  TempDir dir("missing");
  StateStore store((dir.path / "state.json").string(), OnCorrupt::kFail);
  auto loaded = store.Load();
  REQUIRE(loaded.ok());
  CHECK_FALSE(loaded->state.has_value());
  CHECK(loaded->warning.empty());
}

TEST_CASE("save then load returns the document with its format") {
  TempDir dir("roundtrip");
  const fs::path path = dir.path / "sub" / "dir" / "state.json";
  StateStore store(path.string(), OnCorrupt::kFail);
  const nlohmann::json state = {
      {"round", 7}, {"policy", {{"x", 1.5}}}, {"detector", nullptr}};
  REQUIRE(store.Save(state).ok());
  CHECK(FilesIn(path.parent_path()) == std::vector<fs::path>{path});
  auto loaded = store.Load();
  REQUIRE(loaded.ok());
  REQUIRE(loaded->state.has_value());
  nlohmann::json expected = state;
  expected["format"] = "flsentry-state/1";
  CHECK(*loaded->state == expected);
  CHECK(ReadText(path).back() == '\n');
  // Overwrite keeps one file.
  REQUIRE(store.Save({{"round", 8}}).ok());
  CHECK((*store.Load()->state)["round"] == 8);
  CHECK(FilesIn(path.parent_path()).size() == 1);

  auto bad = store.Save(nlohmann::json::array());
  CHECK(bad.code() == ErrorCode::kInvalidArgument);
}

TEST_CASE("corrupt state: an error naming the file, or reset aside") {
  struct Case {
    const char* what;
    std::string bytes;
    const char* message_part;
  };
  const Case cases[] = {
      {"garbage", "\x01\x02 not json", "not valid JSON"},
      {"truncated", R"({"format": "flsentry-state/1", "round": 3, "pol)",
       "not valid JSON"},
      {"empty", "", "not valid JSON"},
      {"array", "[1, 2]", "not a JSON object"},
      {"no format", R"({"round": 1})", "no \"format\" member"},
      {"future format", R"({"format": "flsentry-state/9"})",
       "unknown format 'flsentry-state/9'"},
      {"negative round", R"({"format": "flsentry-state/1", "round": -1})",
       "\"round\" must be a non-negative integer"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    TempDir dir("corrupt");
    const fs::path path = dir.path / "state.json";
    WriteText(path, c.bytes);

    auto failed = StateStore(path.string(), OnCorrupt::kFail).Load();
    REQUIRE_FALSE(failed.ok());
    CHECK(failed.status().code() == ErrorCode::kState);
    CHECK(failed.status().message().find(path.string()) != std::string::npos);
    CHECK(failed.status().message().find(c.message_part) != std::string::npos);
    CHECK(ReadText(path) == c.bytes);

    auto reset = StateStore(path.string(), OnCorrupt::kReset).Load();
    REQUIRE(reset.ok());
    CHECK_FALSE(reset->state.has_value());
    CHECK(reset->warning.find("moved aside to " + path.string() +
                              ".corrupt-") != std::string::npos);
    CHECK_FALSE(fs::exists(path));
    const std::vector<fs::path> files = FilesIn(dir.path);
    REQUIRE(files.size() == 1);
    CHECK(files[0].filename().string().rfind("state.json.corrupt-", 0) == 0);
    CHECK(ReadText(files[0]) == c.bytes);
  }
}

TEST_CASE("a second corrupt file in the same second gets its own name") {
  TempDir dir("twice");
  const fs::path path = dir.path / "state.json";
  StateStore store(path.string(), OnCorrupt::kReset);
  WriteText(path, "bad one");
  REQUIRE(store.Load().ok());
  WriteText(path, "bad two");
  REQUIRE(store.Load().ok());
  CHECK(FilesIn(dir.path).size() == 2);
}

TEST_CASE("unreadable paths are errors, not crashes") {
  TempDir dir("unreadable");
  fs::create_directories(dir.path / "state.json");
  auto loaded =
      StateStore((dir.path / "state.json").string(), OnCorrupt::kFail).Load();
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.status().message().find("not a regular file") !=
        std::string::npos);
  WriteText(dir.path / "file", "x");
  Status saved =
      StateStore((dir.path / "file" / "state.json").string(), OnCorrupt::kFail)
          .Save({{"round", 1}});
  CHECK(saved.code() == ErrorCode::kIo);
}

TEST_CASE("a save that cannot write changes nothing and names the file") {
  TempDir dir("unwritable");
  const std::string path = (dir.path / "state.json").string();
  StateStore store(path, OnCorrupt::kFail);
  REQUIRE(store.Save({{"round", 1}}).ok());
  const std::string before = ReadText(path);
  // A directory where the shared writer puts its temporary file (chmod
  // would not stop root).
  fs::create_directory(TempPathFor(path));
  Status saved = store.Save({{"round", 2}});
  CHECK(saved.code() == ErrorCode::kIo);
  CHECK(saved.message().rfind("state: " + path + ": cannot create", 0) == 0);
  CHECK(ReadText(path) == before);
  fs::remove(TempPathFor(path));
  REQUIRE(store.Save({{"round", 2}}).ok());
  CHECK(FilesIn(dir.path) == std::vector<fs::path>{path});
}

TEST_CASE("temporary files a crashed save left are removed, nothing else") {
  TempDir dir("stale");
  const fs::path path = dir.path / "state.json";
  StateStore store(path.string(), OnCorrupt::kFail);
  REQUIRE(store.Save({{"round", 1}}).ok());
  WriteText(dir.path / "state.json.tmp.4242", "half a sta");
  WriteText(dir.path / "state.json.tmp.77", "");
  WriteText(dir.path / "state.json.tmp.notes", "kept: not a pid");
  WriteText(dir.path / "other.json.tmp.4242", "kept: another file's");
  CHECK(store.RemoveStaleTemporaries() == 2);
  CHECK_FALSE(fs::exists(dir.path / "state.json.tmp.4242"));
  CHECK_FALSE(fs::exists(dir.path / "state.json.tmp.77"));
  CHECK(fs::exists(dir.path / "state.json.tmp.notes"));
  CHECK(fs::exists(dir.path / "other.json.tmp.4242"));
  CHECK(ReadText(path).find("\"round\":1") != std::string::npos);
  CHECK(store.RemoveStaleTemporaries() == 0);
}

TEST_CASE("ParseState checks bytes from the C interface the same way") {
  CHECK(
      ParseState(R"({"format":"flsentry-state/1","round":2})", "buffer").ok());
  auto bad = ParseState("{", "state buffer");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().rfind(
            "state buffer: not valid JSON: parse error at line 1", 0) == 0);
  auto text = SerializeState({{"round", 1}});
  REQUIRE(text.ok());
  CHECK(ParseState(*text, "x").ok());
}

// A child process saves rounds 1, 2, 3... as fast as it can and reports each
// finished save on a pipe; the parent kills it at a random moment. The file
// must then load and hold the last reported round or the one after it.
TEST_CASE("crash consistency: killed while saving, 200 times") {
  TempDir dir("crash");
  const std::string path = (dir.path / "state.json").string();
  StateStore store(path, OnCorrupt::kFail);
  // ~200 KB (one string: cheap to serialise) so that a kill may land
  // inside a write.
  const std::string payload(200000, 'p');
  REQUIRE(store.Save({{"round", 0}, {"policy", payload}}).ok());
  std::mt19937 rng(20261129);
  // A save takes 5-50 ms here (two fsyncs), so kills land before, inside
  // and after saves.
  std::uniform_int_distribution<int> delay_us(0, 80000);
  uint64_t round = 0;
  int torn_window = 0;  // kills that landed between rename and report
  for (int iteration = 0; iteration < 200; ++iteration) {
    int pipe_fds[2];
    REQUIRE(::pipe(pipe_fds) == 0);
    const uint64_t first = round + 1;
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      ::close(pipe_fds[0]);
      for (uint64_t r = first;; ++r) {
        if (!store.Save({{"round", r}, {"policy", payload}}).ok()) _exit(3);
        if (::write(pipe_fds[1], &r, sizeof r) != sizeof r) _exit(4);
      }
    }
    ::close(pipe_fds[1]);
    std::this_thread::sleep_for(std::chrono::microseconds(delay_us(rng)));
    ::kill(child, SIGKILL);
    int wstatus = 0;
    ::waitpid(child, &wstatus, 0);
    REQUIRE(WIFSIGNALED(wstatus));
    uint64_t reported = round, r = 0;
    while (::read(pipe_fds[0], &r, sizeof r) == sizeof r) reported = r;
    ::close(pipe_fds[0]);

    auto loaded = store.Load();
    REQUIRE_MESSAGE(loaded.ok(), loaded.status().message());
    REQUIRE(loaded->state.has_value());
    const uint64_t on_disk = (*loaded->state)["round"].get<uint64_t>();
    CAPTURE(iteration);
    CHECK((on_disk == reported || on_disk == reported + 1));
    CHECK((*loaded->state)["policy"] == payload);
    if (on_disk == reported + 1) ++torn_window;
    round = on_disk;
  }
  MESSAGE("reached round " << round << "; " << torn_window
                           << " kills between rename and report");
  CHECK(round >= 20);  // children made progress (how much depends on load)
}
