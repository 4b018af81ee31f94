#include "archive/round_archive.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/confined_open.h"
#include "base/json_reader.h"
#include "base/mapped_file.h"
#include "tensor/tensor_file.h"

namespace flsentry {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr std::string_view kManifestName = "manifest.json";

bool IsRoundDirName(std::string_view name) {
  constexpr std::string_view kPrefix = "round_";
  if (name.size() <= kPrefix.size() ||
      name.substr(0, kPrefix.size()) != kPrefix)
    return false;
  return std::all_of(name.begin() + kPrefix.size(), name.end(),
                     [](char c) { return c >= '0' && c <= '9'; });
}

bool IsUpdateFileName(const fs::path& p) {
  const std::string ext = p.extension().string();
  return ext == ".pth" || ext == ".pt" || ext == ".safetensors";
}

// A relative path that stays inside its directory: no absolute path, no
// empty / "." / ".." component, no NUL or backslash.
bool IsSafeRelativePath(std::string_view p) {
  if (p.empty() || p.front() == '/') return false;
  if (p.find('\0') != std::string_view::npos) return false;
  if (p.find('\\') != std::string_view::npos) return false;
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find('/', start);
    if (end == std::string_view::npos) end = p.size();
    std::string_view part = p.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

std::string JoinPath(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  if (dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

// Reads `relative` below `root_fd` (confined: no symbolic link followed);
// `path` names it in messages.
Result<std::string> ReadSmallFile(int root_fd, const std::string& relative,
                                  const std::string& path, uint64_t limit) {
  FLS_ASSIGN_OR_RETURN(UniqueFd fd,
                       OpenBeneath(root_fd, relative, false, path));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return IoError("cannot read " + path + ": " + std::strerror(errno));
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size > limit) {
    return Corrupt(path + ": " + std::to_string(size) +
                   " bytes is larger than the limit of " +
                   std::to_string(limit));
  }
  std::string text(static_cast<size_t>(size), '\0');
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::read(fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return IoError("short read from " + path);
    done += static_cast<size_t>(n);
  }
  return text;
}

// Opens a round's file confined to its root and reads it as tensors.
Result<TensorSet> ReadConfined(const ArchiveRound& round,
                               const std::string& file, const std::string& path,
                               const ReadOptions& options) {
  FLS_ASSIGN_OR_RETURN(UniqueFd root, OpenDirectory(round.root));
  const std::string relative =
      round.dir_in_root.empty() ? file : round.dir_in_root + "/" + file;
  FLS_ASSIGN_OR_RETURN(UniqueFd fd,
                       OpenBeneath(root.get(), relative, false, path));
  FLS_ASSIGN_OR_RETURN(std::shared_ptr<const MappedFile> mapped,
                       MappedFile::FromFd(fd.get(), path));
  return ReadTensorFile(mapped, options);
}

// Whether `p` exists as an entry of its directory (a link counts, followed
// or not).
bool EntryExists(const std::string& p) {
  std::error_code ec;
  return fs::exists(fs::symlink_status(p, ec));
}

Status ManifestError(const std::string& path, const std::string& what) {
  return Corrupt(path + ": " + what);
}

Result<uint64_t> NonNegativeInteger(const Json& j, const std::string& path,
                                    const std::string& field) {
  if (j.is_number_unsigned()) return j.get<uint64_t>();
  if (j.is_number_integer() && j.get<int64_t>() >= 0) {
    return static_cast<uint64_t>(j.get<int64_t>());
  }
  return ManifestError(path,
                       "\"" + field + "\" must be a non-negative integer");
}

Result<ArchiveClient> ParseClient(const Json& j, size_t index,
                                  const std::string& path) {
  const std::string where = "clients[" + std::to_string(index) + "]";
  if (!j.is_object()) return ManifestError(path, where + " must be an object");
  ArchiveClient client;
  auto id = j.find("id");
  if (id == j.end() || !id->is_string() || id->get<std::string>().empty()) {
    return ManifestError(path, where + ".id must be a non-empty string");
  }
  client.id = id->get<std::string>();
  auto file = j.find("file");
  if (file == j.end() || !file->is_string() ||
      !IsSafeRelativePath(file->get<std::string>())) {
    return ManifestError(path, where +
                                   ".file must be a relative file name "
                                   "inside the round directory");
  }
  client.file = file->get<std::string>();
  auto examples = j.find("num_examples");
  if (examples == j.end()) {
    return ManifestError(path, where + ".num_examples is missing");
  }
  FLS_ASSIGN_OR_RETURN(
      client.num_examples,
      NonNegativeInteger(*examples, path, where + ".num_examples"));
  auto label = j.find("label");
  if (label != j.end() && !label->is_null()) {
    const std::string text =
        label->is_string() ? label->get<std::string>() : "";
    if (text == "benign") {
      client.label = ArchiveLabel::kBenign;
    } else if (text == "malicious") {
      client.label = ArchiveLabel::kMalicious;
    } else {
      return ManifestError(
          path, where + ".label must be \"benign\" or \"malicious\"");
    }
  }
  auto attack = j.find("attack");
  if (attack != j.end() && !attack->is_null()) {
    if (!attack->is_string()) {
      return ManifestError(path, where + ".attack must be a string");
    }
    client.attack = attack->get<std::string>();
  }
  return client;
}

Result<ArchiveRound> ParseManifestJson(const Json& j,
                                       const std::string& round_dir,
                                       const std::string& path) {
  if (!j.is_object()) return ManifestError(path, "not a JSON object");
  auto format = j.find("format");
  if (format == j.end() || !format->is_string()) {
    return ManifestError(path, "\"format\" is missing (expected \"" +
                                   std::string(kRoundArchiveFormat) + "\")");
  }
  if (format->get<std::string>() != kRoundArchiveFormat) {
    return Unsupported(path + ": unknown format version \"" +
                       format->get<std::string>() +
                       "\" (this flsentry reads \"" +
                       std::string(kRoundArchiveFormat) + "\")");
  }
  ArchiveRound round;
  round.dir = round_dir;
  round.root = round_dir;
  round.manifest_path = path;
  auto number = j.find("round");
  if (number == j.end()) return ManifestError(path, "\"round\" is missing");
  FLS_ASSIGN_OR_RETURN(round.number,
                       NonNegativeInteger(*number, path, "round"));
  auto kind = j.find("kind");
  const std::string kind_text =
      kind != j.end() && kind->is_string() ? kind->get<std::string>() : "";
  if (kind_text == "delta") {
    round.kind = ArchiveKind::kDelta;
  } else if (kind_text == "weights") {
    round.kind = ArchiveKind::kWeights;
  } else {
    return ManifestError(path, "\"kind\" must be \"delta\" or \"weights\"");
  }
  auto global = j.find("global");
  if (global != j.end() && !global->is_null()) {
    if (!global->is_string() ||
        !IsSafeRelativePath(global->get<std::string>())) {
      return ManifestError(path,
                           "\"global\" must be a relative file name "
                           "inside the round directory");
    }
    round.global_file = global->get<std::string>();
  }
  if (round.kind == ArchiveKind::kWeights && round.global_file.empty()) {
    return ManifestError(path, "kind \"weights\" requires a \"global\" file");
  }
  auto clients = j.find("clients");
  if (clients == j.end() || !clients->is_array()) {
    return ManifestError(path, "\"clients\" must be an array");
  }
  if (clients->size() > kMaxClientsPerRound) {
    return ManifestError(path, "more than " +
                                   std::to_string(kMaxClientsPerRound) +
                                   " clients in one round");
  }
  std::set<std::string> ids;
  round.clients.reserve(clients->size());
  for (size_t i = 0; i < clients->size(); ++i) {
    FLS_ASSIGN_OR_RETURN(ArchiveClient client,
                         ParseClient((*clients)[i], i, path));
    if (!ids.insert(client.id).second) {
      return ManifestError(
          path, "client id \"" + client.id + "\" appears more than once");
    }
    round.clients.push_back(std::move(client));
  }
  return round;
}

// Reads the round directory `name` ("" for `root` itself) of `root`.
Result<ArchiveRound> ReadRoundDir(const std::string& root, int root_fd,
                                  const std::string& name) {
  const std::string dir = name.empty() ? root : JoinPath(root, name);
  const std::string path = JoinPath(dir, std::string(kManifestName));
  if (!EntryExists(path)) return NotFound("missing manifest: " + path);
  const std::string relative = name.empty()
                                   ? std::string(kManifestName)
                                   : name + "/" + std::string(kManifestName);
  FLS_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(root_fd, relative, path,
                                                       kMaxManifestBytes));
  FLS_ASSIGN_OR_RETURN(ArchiveRound round, ParseRoundManifest(text, dir, path));
  round.root = root;
  round.dir_in_root = name;
  return round;
}

Result<ArchiveRound> ReadFlatFolder(const std::string& dir,
                                    const std::vector<fs::path>& files) {
  ArchiveRound round;
  round.number = 1;
  round.kind = ArchiveKind::kDelta;
  round.dir = dir;
  round.root = dir;
  std::map<std::string, int> stem_count;
  for (const fs::path& f : files) ++stem_count[f.stem().string()];
  for (const fs::path& f : files) {
    ArchiveClient client;
    client.file = f.filename().string();
    client.id =
        stem_count[f.stem().string()] > 1 ? client.file : f.stem().string();
    client.num_examples = 1;
    round.clients.push_back(std::move(client));
  }
  return round;
}

}  // namespace

std::string_view ArchiveKindName(ArchiveKind kind) {
  return kind == ArchiveKind::kWeights ? "weights" : "delta";
}

std::string_view ArchiveLabelName(ArchiveLabel label) {
  switch (label) {
    case ArchiveLabel::kBenign:
      return "benign";
    case ArchiveLabel::kMalicious:
      return "malicious";
    case ArchiveLabel::kUnknown:
      break;
  }
  return "";
}

std::string ArchiveRound::ClientPath(size_t index) const {
  return JoinPath(dir, clients[index].file);
}

std::string ArchiveRound::GlobalPath() const {
  return JoinPath(dir, global_file);
}

bool ArchiveRound::HasLabels() const {
  return std::any_of(
      clients.begin(), clients.end(),
      [](const ArchiveClient& c) { return c.label != ArchiveLabel::kUnknown; });
}

std::string RoundDirName(uint64_t number) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "round_%04llu",
                static_cast<unsigned long long>(number));
  return buf;
}

Result<ArchiveRound> ParseRoundManifest(std::string_view text,
                                        const std::string& round_dir,
                                        const std::string& manifest_path) {
  auto parsed = ParseJsonStrict(text);
  if (!parsed.ok()) {
    const std::string& why = parsed.status().message();
    return ManifestError(manifest_path, why.rfind("not valid JSON", 0) == 0
                                            ? "bad JSON: " + why
                                            : why);
  }
  const Json j = std::move(parsed).value();
  try {
    return ParseManifestJson(j, round_dir, manifest_path);
  } catch (const std::exception& e) {
    return ManifestError(manifest_path, e.what());
  }
}

Result<RoundArchive> OpenRoundArchive(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return NotFound("no such archive: " + path);
  if (!fs::is_directory(path, ec)) {
    return InvalidArgument(path +
                           " is not a directory (expected a round "
                           "archive or a folder of update files)");
  }
  RoundArchive archive;
  archive.root = path;
  FLS_ASSIGN_OR_RETURN(UniqueFd root, OpenDirectory(path));
  if (EntryExists(JoinPath(path, std::string(kManifestName)))) {
    FLS_ASSIGN_OR_RETURN(ArchiveRound round,
                         ReadRoundDir(path, root.get(), ""));
    archive.rounds.push_back(std::move(round));
    return archive;
  }
  std::vector<std::string> round_dirs;
  std::vector<fs::path> update_files;
  fs::directory_iterator it(path, ec);
  if (ec) return IoError("cannot list " + path + ": " + ec.message());
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    const fs::directory_entry& entry = *it;
    const std::string name = entry.path().filename().string();
    // The entry's own type: a symbolic link is never taken for what it
    // points to.
    const fs::file_status own = entry.symlink_status(ec);
    if (IsRoundDirName(name) && fs::is_symlink(own)) {
      return InvalidArgument(JoinPath(path, name) +
                             " is a symbolic link; links are not followed "
                             "(the rounds of an archive must lie inside it)");
    }
    if (fs::is_directory(own) && IsRoundDirName(name)) {
      round_dirs.push_back(name);
    } else if (fs::is_regular_file(own) && IsUpdateFileName(entry.path()) &&
               name.front() != '.') {
      update_files.push_back(entry.path());
    }
  }
  if (ec) return IoError("cannot list " + path + ": " + ec.message());
  if (!round_dirs.empty()) {
    std::sort(round_dirs.begin(), round_dirs.end());
    std::map<uint64_t, std::string> seen;
    for (const std::string& name : round_dirs) {
      FLS_ASSIGN_OR_RETURN(ArchiveRound round,
                           ReadRoundDir(path, root.get(), name));
      const std::string dir = round.dir;
      auto [prev, inserted] = seen.emplace(round.number, dir);
      if (!inserted) {
        return InvalidArgument("round " + std::to_string(round.number) +
                               " appears twice: in " + prev->second + " and " +
                               dir);
      }
      archive.rounds.push_back(std::move(round));
    }
    std::sort(archive.rounds.begin(), archive.rounds.end(),
              [](const ArchiveRound& a, const ArchiveRound& b) {
                return a.number < b.number;
              });
    return archive;
  }
  if (!update_files.empty()) {
    std::sort(update_files.begin(), update_files.end(),
              [](const fs::path& a, const fs::path& b) {
                return a.filename().string() < b.filename().string();
              });
    archive.flat = true;
    FLS_ASSIGN_OR_RETURN(ArchiveRound round,
                         ReadFlatFolder(path, update_files));
    archive.rounds.push_back(std::move(round));
    return archive;
  }
  return NotFound("no rounds in " + path +
                  ": expected round_NNNN/manifest.json directories, a "
                  "manifest.json, or .pth/.safetensors update files");
}

Result<TensorSet> ReadArchiveClient(const ArchiveRound& round, size_t index,
                                    const ReadOptions& options) {
  Result<TensorSet> set = ReadConfined(round, round.clients[index].file,
                                       round.ClientPath(index), options);
  if (!set.ok()) {
    return set.status().WithContext("client \"" + round.clients[index].id +
                                    "\" of round " +
                                    std::to_string(round.number));
  }
  return set;
}

Result<TensorSet> ReadArchiveGlobal(const ArchiveRound& round,
                                    const ReadOptions& options) {
  if (round.global_file.empty()) return TensorSet();
  Result<TensorSet> set =
      ReadConfined(round, round.global_file, round.GlobalPath(), options);
  if (!set.ok()) {
    return set.status().WithContext("global model of round " +
                                    std::to_string(round.number));
  }
  return set;
}

std::string SanitizeFileStem(std::string_view text) {
  std::string out;
  out.reserve(std::min<size_t>(text.size(), 96));
  for (char c : text) {
    if (out.size() == 96) break;
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    out.push_back(ok ? c : '_');
  }
  if (out.empty()) return "_";
  if (out.front() == '.') out.front() = '_';
  return out;
}

}  // namespace flsentry
