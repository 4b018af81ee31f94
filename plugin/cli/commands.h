// commands.h — the subcommands of the `flsentry` tool. Each Add*Command
// registers one subcommand on the app; its callback runs the command and
// sets the process exit code through cli::SetExitCode.
#ifndef FLSENTRY_CLI_COMMANDS_H_
#define FLSENTRY_CLI_COMMANDS_H_

#include <CLI/CLI.hpp>

namespace flsentry::cli {

// Exit code main() returns after the chosen subcommand ran (default 0).
void SetExitCode(int code);
int ExitCode();

// Prints "flsentry: error: <message>" to stderr and sets exit code 1.
void Fail(const std::string& message);

// flsentry inspect FILE [--key PATH] [--json] (cmd_inspect.cc).
void AddInspectCommand(CLI::App& app);
// flsentry convert IN OUT [--key PATH] (cmd_convert.cc).
void AddConvertCommand(CLI::App& app);

// flsentry train DIR -o DETECTOR [--config train.yaml] (cmd_train.cc).
void AddTrainCommand(CLI::App& app);
// flsentry detect DIR --detector DETECTOR [--json] (cmd_detect.cc).
void AddDetectCommand(CLI::App& app);
// flsentry import-seed autoencoder.pth -o DETECTOR (cmd_import_seed.cc).
void AddImportSeedCommand(CLI::App& app);

// flsentry replay ARCHIVE --config POLICY.yaml ... (cmd_replay.cc).
void AddReplayCommand(CLI::App& app);

}  // namespace flsentry::cli

#endif  // FLSENTRY_CLI_COMMANDS_H_
