// flsentry replay ARCHIVE --config POLICY.yaml [--config ...] [--out DIR]
//                 [--plugin PATH] [--on-unreadable drop|skip|fail] [--json]
//
// Feeds a round archive (docs/round-archive.md) through an aggregation-filter
// plugin round by round, as a live server would, and writes
// decisions.jsonl, summary.json and report.html. With several --config each
// policy is replayed independently from fresh state into OUT/<name>/, and
// the terminal table shows them side by side; OUT/comparison.json holds
// their overall results. A replay that fails (exit 1) leaves none of these
// files, nor the plugin's replay_state.json / replay_audit.jsonl, in OUT:
// what it wrote is removed (OutputGuard), and so are an earlier replay's
// outputs there when it starts.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "aggfilter_host.hpp"
#include "archive/round_archive.h"
#include "base/file_writer.h"
#include "cli/commands.h"
#include "replay/replay_runner.h"
#include "replay/replay_summary.h"
#include "replay/replay_table.h"
#include "replay/report_html.h"

namespace flsentry::cli {
namespace {

namespace fs = std::filesystem;
using OJson = nlohmann::ordered_json;

struct ReplayArgs {
  std::string archive;
  std::vector<std::string> configs;
  std::string out = "replay";
  std::string plugin;
  std::string on_unreadable = "drop";
  bool json = false;
};

#ifndef FLSENTRY_PLUGIN_RELDIR
#define FLSENTRY_PLUGIN_RELDIR "../lib/flsentry"
#endif

// The plugin beside this executable (the build tree), else in the installed
// plugin folder relative to it (FLSENTRY_PLUGIN_RELDIR, set by CMake from
// GNUInstallDirs: bin/ -> lib/flsentry/), so an installed or unpacked tree
// works wherever it lies.
std::string DefaultPluginPath() {
  constexpr const char* kName = "libflsentry_filter.so";
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return kName;
  fs::path beside = self.parent_path() / kName;
  if (fs::exists(beside, ec)) return beside.string();
  fs::path installed =
      (self.parent_path() / FLSENTRY_PLUGIN_RELDIR / kName).lexically_normal();
  if (fs::exists(installed, ec)) return installed.string();
  return beside.string();
}

// Names for the policies: file stems, made unique and safe as directory
// names.
std::vector<std::string> PolicyLabels(const std::vector<std::string>& configs) {
  std::vector<std::string> labels;
  std::map<std::string, int> seen;
  for (const std::string& c : configs) {
    std::string label = SanitizeFileStem(fs::path(c).stem().string());
    if (int n = ++seen[label]; n > 1) label += "_" + std::to_string(n);
    labels.push_back(label);
  }
  return labels;
}

Status WriteRunOutputs(const PolicyRun& run, const std::string& dir,
                       const std::string& archive, const std::string& plugin,
                       OnUnreadable on_unreadable) {
  FLS_RETURN_IF_ERROR(WriteFileAtomically(
      (fs::path(dir) / "decisions.jsonl").string(), DecisionsJsonl(run)));
  const OJson summary = SummaryJson(run, archive, plugin, on_unreadable);
  FLS_RETURN_IF_ERROR(WriteFileAtomically(
      (fs::path(dir) / "summary.json").string(),
      summary.dump(2, ' ', false, OJson::error_handler_t::replace) + "\n"));
  return WriteFileAtomically((fs::path(dir) / "report.html").string(),
                             RenderReportHtml(run, archive, plugin));
}

// Removes, unless Commit() was called, what this replay wrote: the
// ReplayOutputFiles() of every directory it tracked, then the directories
// it created (when empty). A failed replay thus leaves no outputs that look
// valid, and none of an earlier replay into the same directories either
// (Track removes them before each policy's replay).
class OutputGuard {
 public:
  OutputGuard() = default;
  OutputGuard(const OutputGuard&) = delete;
  OutputGuard& operator=(const OutputGuard&) = delete;
  ~OutputGuard() {
    if (committed_) return;
    for (const std::string& dir : dirs_) RemoveReplayOutputs(dir);
    for (auto it = created_.rbegin(); it != created_.rend(); ++it) {
      std::error_code ec;
      fs::remove(*it, ec);  // only an empty directory is removed
    }
  }
  // Tracks `dir` (call before creating it) and removes an earlier
  // replay's outputs there.
  void Track(const std::string& dir) {
    std::error_code ec;
    if (!fs::exists(dir, ec)) created_.push_back(dir);
    dirs_.push_back(dir);
    RemoveReplayOutputs(dir);
  }
  void Commit() { committed_ = true; }

 private:
  std::vector<std::string> dirs_;
  std::vector<std::string> created_;
  bool committed_ = false;
};

Status RunReplay(const ReplayArgs& args) {
  OnUnreadable on_unreadable;
  if (!ParseOnUnreadable(args.on_unreadable, &on_unreadable)) {
    return InvalidArgument(
        "--on-unreadable must be drop, skip or fail, not \"" +
        args.on_unreadable + "\"");
  }
  Result<RoundArchive> archive = OpenRoundArchive(args.archive);
  if (!archive.ok()) return archive.status();

  const std::string plugin_path =
      args.plugin.empty() ? DefaultPluginPath() : args.plugin;
  std::optional<aggfilter::Plugin> plugin;
  try {
    plugin.emplace(plugin_path);
  } catch (const aggfilter::Error& e) {
    return InvalidArgument(e.what());
  }
  const std::string plugin_description =
      plugin->name() + " " + plugin->version() + " (" + plugin_path + ")";

  const std::vector<std::string> labels = PolicyLabels(args.configs);
  const bool several = args.configs.size() > 1;
  OutputGuard guard;
  if (several) guard.Track(args.out);
  ProgressBar bar(stderr, isatty(fileno(stderr)) != 0);
  std::vector<PolicyRun> runs;
  std::vector<std::string> dirs;
  for (size_t i = 0; i < args.configs.size(); ++i) {
    const std::string dir =
        several ? (fs::path(args.out) / labels[i]).string() : args.out;
    guard.Track(dir);
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec)
      return InvalidArgument("cannot create " + dir + ": " + ec.message());
    ReplayOptions options;
    options.on_unreadable = on_unreadable;
    options.work_dir = dir;
    options.progress = [&, i](size_t done, size_t total) {
      bar.Update(done, total, labels[i]);
    };
    options.error_line = [&](const std::string& line) {
      bar.PrintLine("flsentry: error: " + line);
    };
    options.plugin_log = [&](aggf_log_level level, const std::string& line) {
      bar.PrintLine(std::string("flsentry: plugin ") +
                    (level >= AGGF_LOG_ERROR ? "error" : "warning") + ": " +
                    line);
    };
    Result<PolicyRun> run =
        ReplayArchive(*plugin, archive.value(), args.configs[i], options);
    if (!run.ok()) {
      bar.Clear();
      return run.status();
    }
    run->label = labels[i];
    Status written = WriteRunOutputs(run.value(), dir, args.archive,
                                     plugin_description, on_unreadable);
    if (!written.ok()) {
      bar.Clear();
      return written;
    }
    runs.push_back(std::move(run).value());
    dirs.push_back(dir);
  }
  bar.Clear();

  OJson comparison = OJson::object();
  for (size_t i = 0; i < runs.size(); ++i) {
    OJson entry = RunOverviewJson(runs[i]);
    entry["config"] = runs[i].config_path;
    entry["out"] = dirs[i];
    comparison[runs[i].label] = std::move(entry);
  }
  if (several) {
    Status written = WriteFileAtomically(
        (fs::path(args.out) / "comparison.json").string(),
        comparison.dump(2, ' ', false, OJson::error_handler_t::replace) + "\n");
    if (!written.ok()) return written;
  }
  guard.Commit();
  if (args.json) {
    std::cout << comparison.dump(2, ' ', false, OJson::error_handler_t::replace)
              << "\n";
    return Status::Ok();
  }
  std::cout << FormatReplayTable(runs);
  for (size_t i = 0; i < runs.size(); ++i) {
    std::cout << "report: " << (fs::path(dirs[i]) / "report.html").string()
              << "\n";
  }
  return Status::Ok();
}

}  // namespace

void AddReplayCommand(CLI::App& app, Status* result) {
  auto args = std::make_shared<ReplayArgs>();
  CLI::App* cmd = app.add_subcommand(
      "replay", "Replay a round archive through the filter plugin and report");
  cmd->add_option("archive", args->archive,
                  "Round archive directory (docs/round-archive.md), one round "
                  "directory, or a flat folder of update files")
      ->required();
  cmd->add_option("--config", args->configs,
                  "Policy file; repeat to compare policies side by side "
                  "(each replayed from fresh state)")
      ->required();
  cmd->add_option("--out", args->out, "Output directory")
      ->capture_default_str();
  cmd->add_option(
      "--plugin", args->plugin,
      "Filter plugin (default: libflsentry_filter.so beside flsentry, "
      "else in the installed plugin folder)");
  cmd->add_option("--on-unreadable", args->on_unreadable,
                  "What to do with an unreadable client file: drop (decision "
                  "drop, reason unreadable), skip (leave it out), fail")
      ->capture_default_str();
  cmd->add_flag("--json", args->json,
                "Print the overall results as JSON instead of the table");
  cmd->callback([result, args] { *result = RunReplay(*args); });
}

}  // namespace flsentry::cli
