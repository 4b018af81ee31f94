// flsentry — command-line tool: inspect and convert tensor files, train and
// run the detector, replay past rounds through the plugin.
//
// Subcommands not built into this binary are looked up as executables named
// flsentry-<command> beside it (e.g. `flsentry simulate` runs
// flsentry-simulate from integration/), git-style.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "base/version.h"
#include "cli/commands.h"

namespace {

// Runs flsentry-<name> from the directory of this executable, if present.
// Returns only when there is no such executable.
void ExecExternalCommand(int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') return;
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return;
  auto external = self.parent_path() / (std::string("flsentry-") + argv[1]);
  if (!std::filesystem::exists(external, ec)) return;
  std::vector<char*> args;
  std::string program = external.string();
  args.push_back(program.data());
  for (int i = 2; i < argc; ++i) args.push_back(argv[i]);
  args.push_back(nullptr);
  execv(program.c_str(), args.data());
  std::perror(program.c_str());
  std::exit(127);
}

int Run(int argc, char** argv) {
  CLI::App app{
      "flsentry: learned filtering of federated-learning client updates"};
  app.require_subcommand(1);
  app.set_version_flag("--version",
                       std::string("flsentry ") + flsentry::kVersion);
  app.footer(
      "More subcommands run executables named flsentry-<name> beside this "
      "one,\n"
      "e.g. `flsentry simulate` (the reference FL server, from integration/).");
  namespace cli = flsentry::cli;
  // Registered subcommands (one file each under plugin/cli/).
  flsentry::Status result;
  cli::AddInspectCommand(app, &result);
  cli::AddConvertCommand(app, &result);
  cli::AddReplayCommand(app, &result);
  cli::AddTrainCommand(app, &result);
  cli::AddDetectCommand(app, &result);
  cli::AddImportSeedCommand(app, &result);

  ExecExternalCommand(argc, argv);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (result.ok()) return 0;
  std::fprintf(stderr, "flsentry: error: %s\n", result.message().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "flsentry: error: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "flsentry: error: unknown exception\n");
  }
  return 1;
}
