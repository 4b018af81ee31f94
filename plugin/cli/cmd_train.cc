// flsentry train DIR -o DETECTOR [--config train.yaml] [--json]
//
// Trains a detector on every update under DIR (a flat folder of .pth /
// .safetensors files, or a round archive, using only benign-labelled
// updates when labels exist) and writes the detector directory
// (docs/detector.md). Prints what it used and the calibration; --json prints
// the summary object (the detector's provenance plus "skipped" and
// "calibration"). Progress on a terminal only.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "base/file_reader.h"
#include "cli/commands.h"
#include "detector/detector_train.h"

namespace flsentry::cli {
namespace {

Status RunTrain(const std::string& input, const std::string& out,
                const std::string& config_path, bool json) {
  std::string text;
  if (!config_path.empty()) {
    auto read = ReadWholeFile(config_path, kMaxTrainConfigBytes);
    if (!read.ok()) return read.status().WithContext("train config");
    text = std::move(read).value();
  }
  auto config = ParseTrainConfigYaml(text);
  if (!config.ok()) {
    return config_path.empty() ? config.status()
                               : config.status().WithContext(config_path);
  }
  auto summary = TrainDetector(input, *config, out, ::isatty(STDERR_FILENO));
  if (!summary.ok()) return summary.status();
  const auto& s = *summary;
  if (json) {
    std::printf("%s\n", s.dump(2).c_str());
    return Status::Ok();
  }
  for (const auto& skipped : s["skipped"]) {
    std::fprintf(stderr, "flsentry: warning: skipped %s: %s\n",
                 skipped["file"].get<std::string>().c_str(),
                 skipped["reason"].get<std::string>().c_str());
  }
  std::printf(
      "trained on %lld updates (%lld held out for validation, %zu skipped)\n",
      static_cast<long long>(s["updates_used"].get<int64_t>()),
      static_cast<long long>(s["validation_rows"].get<int64_t>()),
      s["skipped"].size());
  std::printf("epochs %d (best %d), validation loss %.6g, %.2f s\n",
              s["epochs_run"].get<int>(), s["best_epoch"].get<int>(),
              s["best_validation_loss"].get<double>(),
              s["training_seconds"].get<double>());
  std::printf("calibration on %s: %s\n",
              s["calibration_source"].get<std::string>().c_str(),
              s["calibration"].dump().c_str());
  std::printf("wrote %s\n", out.c_str());
  return Status::Ok();
}

}  // namespace

void AddTrainCommand(CLI::App& app, Status* result) {
  auto* cmd = app.add_subcommand("train", "train a detector on benign updates");
  auto input = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto config = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("DIR", *input, "folder of updates or round archive")
      ->required();
  cmd->add_option("-o,--output", *out, "detector directory to write")
      ->required();
  cmd->add_option("--config", *config,
                  "train.yaml (default: built-in defaults)");
  cmd->add_flag("--json", *json, "print the summary as JSON");
  cmd->callback([=] { *result = RunTrain(*input, *out, *config, *json); });
}

}  // namespace flsentry::cli
