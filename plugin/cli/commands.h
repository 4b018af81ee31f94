// commands.h — the subcommands of the `flsentry` tool. Each Add*Command
// registers one subcommand on the app; when CLI11 runs it, its callback
// stores the command's outcome in *result: OK, or an error whose message
// main() prints as "flsentry: error: <message>" before exiting with 1.
// `result` must outlive the app.
#ifndef FLSENTRY_CLI_COMMANDS_H_
#define FLSENTRY_CLI_COMMANDS_H_

#include <CLI/CLI.hpp>

#include "base/status.h"

namespace flsentry::cli {

// flsentry inspect FILE [--key PATH] [--json] (cmd_inspect.cc).
void AddInspectCommand(CLI::App& app, Status* result);
// flsentry convert IN OUT [--key PATH] [--json] (cmd_convert.cc).
void AddConvertCommand(CLI::App& app, Status* result);

// flsentry train DIR -o DETECTOR [--config train.yaml] (cmd_train.cc).
void AddTrainCommand(CLI::App& app, Status* result);
// flsentry detect DIR --detector DETECTOR [--json] (cmd_detect.cc).
void AddDetectCommand(CLI::App& app, Status* result);
// flsentry import-seed autoencoder.pth -o DETECTOR (cmd_import_seed.cc).
void AddImportSeedCommand(CLI::App& app, Status* result);

// flsentry replay ARCHIVE --config POLICY.yaml ... (cmd_replay.cc).
void AddReplayCommand(CLI::App& app, Status* result);

}  // namespace flsentry::cli

#endif  // FLSENTRY_CLI_COMMANDS_H_
