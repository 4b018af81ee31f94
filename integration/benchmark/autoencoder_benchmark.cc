// flsentry-autoencoder-benchmark — the cost of the detector's autoencoder
// (plugin/detector/autoencoder.h) on its own: Score (one forward pass over
// the rows) and FineTune (the refresh: `--epochs` epochs of Adam, batches
// of 32) for the default architecture 1024-256-64-256-1024, at each of
// `--rows` rows. Uses the public interface only, so the same source also
// builds against another implementation of autoencoder.h
// (scripts/autoencoder_benchmark.sh compares with the LibTorch one the
// plugin used before). Times are medians over --repeat calls (Score: each
// call repeated until it took >= 0.2 s, per-call time); the data are fixed
// pseudo-random rows near a 16-dimensional subspace, the same every run.
// Output: one JSON object per line per row count.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "detector/autoencoder.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::vector<float> Rows(int64_t rows, int64_t dim) {
  uint64_t s = 12345;
  auto next = [&] {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<float>((s >> 33) % 20001) / 10000.0f - 1.0f;
  };
  std::vector<float> basis(16 * static_cast<size_t>(dim));
  for (float& b : basis) b = next() * 0.05f;
  std::vector<float> data(static_cast<size_t>(rows * dim));
  for (int64_t r = 0; r < rows; ++r) {
    float c[16];
    for (float& x : c) x = next();
    for (int64_t j = 0; j < dim; ++j) {
      float v = 0.002f * next();
      for (int k = 0; k < 16; ++k) v += c[k] * basis[k * dim + j];
      data[r * dim + j] = v;
    }
  }
  return data;
}

int Run(const std::vector<int64_t>& row_counts, int epochs, int threads,
        int repeat) {
  const std::vector<int64_t> sizes = {1024, 256, 64, 256, 1024};
  for (int64_t rows : row_counts) {
    const std::vector<float> data = Rows(rows, sizes.front());
    std::vector<double> score_t, tune_t;
    for (int rep = 0; rep < repeat; ++rep) {
      auto net = flsentry::Autoencoder::Create(sizes, 7);
      if (!net.ok()) {
        std::fprintf(stderr, "%s\n", net.status().message().c_str());
        return 1;
      }
      int calls = 0;
      const auto s0 = Clock::now();
      double elapsed = 0;
      do {
        auto scores = (*net)->Score(data, rows, threads);
        if (!scores.ok()) {
          std::fprintf(stderr, "%s\n", scores.status().message().c_str());
          return 1;
        }
        ++calls;
        elapsed = Seconds(s0, Clock::now());
      } while (elapsed < 0.2);
      score_t.push_back(elapsed / calls);
      const auto t0 = Clock::now();
      flsentry::Status st =
          (*net)->FineTune(data, rows, epochs, 5e-3, 32, 11, threads);
      tune_t.push_back(Seconds(t0, Clock::now()));
      if (!st.ok()) {
        std::fprintf(stderr, "%s\n", st.message().c_str());
        return 1;
      }
    }
    nlohmann::json line = {{"rows", rows},
                           {"epochs", epochs},
                           {"threads", threads},
                           {"repeat", repeat},
                           {"score_s", Median(score_t)},
                           {"finetune_s", Median(tune_t)}};
    std::printf("%s\n", line.dump().c_str());
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) try {
  CLI::App app{"times the autoencoder's Score and FineTune"};
  std::vector<int64_t> rows = {32, 320, 3200};
  int epochs = 20, threads = 1, repeat = 3;
  app.add_option("--rows", rows, "row counts")->delimiter(',');
  app.add_option("--epochs", epochs, "FineTune epochs")
      ->check(CLI::Range(1, 10000));
  app.add_option("--threads", threads)->check(CLI::Range(1, 256));
  app.add_option("--repeat", repeat)->check(CLI::Range(1, 100));
  CLI11_PARSE(app, argc, argv);
  for (int64_t r : rows) {
    if (r < 1 || r > 1000000) {
      std::fprintf(stderr, "--rows: %lld is outside [1, 1e6]\n",
                   static_cast<long long>(r));
      return 2;
    }
  }
  return Run(rows, epochs, threads, repeat);
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
