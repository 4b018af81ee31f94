// replay_test_util.h — helpers for the replay tests: temporary directories,
// running a command and capturing its output, and a small labelled round
// archive written with RoundArchiveWriter.
#ifndef FLSENTRY_TESTS_REPLAY_TEST_UTIL_H_
#define FLSENTRY_TESTS_REPLAY_TEST_UTIL_H_

#include <stdlib.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "archive/round_archive.h"

namespace replaytest {

namespace fs = std::filesystem;

// A fresh empty directory, removed with everything in it at scope exit.
struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/flsentry_replay_test_XXXXXX";
    const char* made = mkdtemp(tmpl);
    if (!made) throw std::runtime_error("mkdtemp failed");
    path = made;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const {
    return path + "/" + name;
  }
  std::string path;
};

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void WriteFile(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

inline std::string Quote(const std::string& arg) {
  std::string q = "'";
  for (char c : arg) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

struct RunResult {
  int exit_code = -1;
  std::string out, err;
};

// Runs `args` (quoted for the shell) with stdout and stderr captured.
inline RunResult Run(const std::vector<std::string>& args) {
  TempDir capture;
  std::string cmd;
  for (const std::string& a : args) cmd += Quote(a) + " ";
  cmd += ">" + Quote(capture / "out") + " 2>" + Quote(capture / "err") +
         " </dev/null";
  const int status = std::system(cmd.c_str());
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = ReadFile(capture / "out");
  r.err = ReadFile(capture / "err");
  return r;
}

inline size_t CountLines(const std::string& text) {
  size_t n = 0;
  for (char c : text) n += c == '\n';
  return n;
}

inline size_t CountOf(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t p = text.find(needle); p != std::string::npos;
       p = text.find(needle, p + 1))
    ++n;
  return n;
}

// Writes `rounds` rounds of 6 clients: five benign ones with small updates
// and "attacker" (labelled malicious, attack "scaling") whose update is 100x
// larger. In round 3 benign client_4 sends a NaN. Tensor "w" of 4 floats
// plus "b" of 2; L2 norms: benign < 0.2, attacker > 10. The rounds are
// numbered `numbers` (MakeArchive: 1..rounds).
inline void MakeArchiveRounds(const std::string& dir,
                              const std::vector<int>& numbers) {
  auto writer = flsentry::RoundArchiveWriter::Open(dir);
  if (!writer.ok()) throw std::runtime_error(writer.status().message());
  std::vector<int64_t> shape_w = {2, 2}, shape_b = {2};
  std::vector<float> gw = {1, 2, 3, 4}, gb = {0, 0};
  std::vector<flsentry::TensorView> global = {
      {"w", flsentry::DType::kF32, shape_w, {}, gw.data()},
      {"b", flsentry::DType::kF32, shape_b, {}, gb.data()}};
  for (int r : numbers) {
    auto st = writer->BeginRound(r, flsentry::ArchiveKind::kDelta, global);
    if (!st.ok()) throw std::runtime_error(st.message());
    for (int c = 0; c < 6; ++c) {
      const bool attacker = c == 5;
      const float scale = attacker ? 5.0f : 0.01f * (c + 1) + 0.001f * r;
      std::vector<float> w = {scale, -scale, scale * 0.5f, scale},
                         b = {scale, 0};
      if (r == 3 && c == 4) w[1] = NAN;
      std::vector<flsentry::TensorView> t = {
          {"w", flsentry::DType::kF32, shape_w, {}, w.data()},
          {"b", flsentry::DType::kF32, shape_b, {}, b.data()}};
      flsentry::ArchiveClientRecord rec;
      rec.id = attacker ? "attacker" : "client_" + std::to_string(c);
      rec.num_examples = 100 + c;
      rec.label = attacker ? flsentry::ArchiveLabel::kMalicious
                           : flsentry::ArchiveLabel::kBenign;
      rec.attack = attacker ? "scaling" : "";
      st = writer->AddClient(rec, t);
      if (!st.ok()) throw std::runtime_error(st.message());
    }
    st = writer->FinishRound();
    if (!st.ok()) throw std::runtime_error(st.message());
  }
}

inline void MakeArchive(const std::string& dir, int rounds = 4) {
  std::vector<int> numbers;
  for (int r = 1; r <= rounds; ++r) numbers.push_back(r);
  MakeArchiveRounds(dir, numbers);
}

}  // namespace replaytest

#endif  // FLSENTRY_TESTS_REPLAY_TEST_UTIL_H_
