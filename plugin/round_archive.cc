#include "round_archive.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tensor_file.h"

namespace flsentry {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr std::string_view kManifestName = "manifest.json";

bool IsRoundDirName(std::string_view name) {
  constexpr std::string_view kPrefix = "round_";
  if (name.size() <= kPrefix.size() || name.substr(0, kPrefix.size()) != kPrefix)
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

Result<std::string> ReadSmallFile(const std::string& path, uint64_t limit) {
  std::error_code ec;
  const uintmax_t size = fs::file_size(path, ec);
  if (ec) return IoError("cannot read " + path + ": " + ec.message());
  if (size > limit) {
    return Corrupt(path + ": " + std::to_string(size) +
                   " bytes is larger than the limit of " +
                   std::to_string(limit));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return IoError("cannot open " + path + ": " + std::strerror(errno));
  std::string text(static_cast<size_t>(size), '\0');
  in.read(text.data(), static_cast<std::streamsize>(size));
  if (static_cast<uintmax_t>(in.gcount()) != size) {
    return IoError("short read from " + path);
  }
  return text;
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
  return ManifestError(path, "\"" + field + "\" must be a non-negative integer");
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
    return ManifestError(path, where + ".file must be a relative file name "
                                       "inside the round directory");
  }
  client.file = file->get<std::string>();
  auto examples = j.find("num_examples");
  if (examples == j.end()) {
    return ManifestError(path, where + ".num_examples is missing");
  }
  FLS_ASSIGN_OR_RETURN(client.num_examples,
                       NonNegativeInteger(*examples, path,
                                          where + ".num_examples"));
  auto label = j.find("label");
  if (label != j.end() && !label->is_null()) {
    const std::string text = label->is_string() ? label->get<std::string>() : "";
    if (text == "benign") {
      client.label = ArchiveLabel::kBenign;
    } else if (text == "malicious") {
      client.label = ArchiveLabel::kMalicious;
    } else {
      return ManifestError(path,
                           where + ".label must be \"benign\" or \"malicious\"");
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
                       format->get<std::string>() + "\" (this flsentry reads \"" +
                       std::string(kRoundArchiveFormat) + "\")");
  }
  ArchiveRound round;
  round.dir = round_dir;
  round.manifest_path = path;
  auto number = j.find("round");
  if (number == j.end()) return ManifestError(path, "\"round\" is missing");
  FLS_ASSIGN_OR_RETURN(round.number, NonNegativeInteger(*number, path, "round"));
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
    if (!global->is_string() || !IsSafeRelativePath(global->get<std::string>())) {
      return ManifestError(path, "\"global\" must be a relative file name "
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
    FLS_ASSIGN_OR_RETURN(ArchiveClient client, ParseClient((*clients)[i], i, path));
    if (!ids.insert(client.id).second) {
      return ManifestError(path, "client id \"" + client.id +
                                     "\" appears more than once");
    }
    round.clients.push_back(std::move(client));
  }
  return round;
}

Result<ArchiveRound> ReadRoundDir(const std::string& dir) {
  const std::string path = JoinPath(dir, std::string(kManifestName));
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    return NotFound("missing manifest: " + path);
  }
  FLS_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path, kMaxManifestBytes));
  return ParseRoundManifest(text, dir, path);
}

Result<ArchiveRound> ReadFlatFolder(const std::string& dir,
                                    const std::vector<fs::path>& files) {
  ArchiveRound round;
  round.number = 1;
  round.kind = ArchiveKind::kDelta;
  round.dir = dir;
  std::map<std::string, int> stem_count;
  for (const fs::path& f : files) ++stem_count[f.stem().string()];
  for (const fs::path& f : files) {
    ArchiveClient client;
    client.file = f.filename().string();
    client.id = stem_count[f.stem().string()] > 1 ? client.file
                                                  : f.stem().string();
    client.num_examples = 1;
    round.clients.push_back(std::move(client));
  }
  return round;
}

// Flushes a file or directory to disk. Best effort for directories on
// filesystems that refuse fsync on them.
Status SyncPath(const std::string& path, bool is_dir) {
  int fd = ::open(path.c_str(), (is_dir ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
  if (fd < 0) return IoError("cannot open " + path + ": " + std::strerror(errno));
  int rc = ::fsync(fd);
  int saved = errno;
  ::close(fd);
  if (rc != 0 && !(is_dir && (saved == EINVAL || saved == EROFS))) {
    return IoError("cannot flush " + path + ": " + std::strerror(saved));
  }
  return Status::Ok();
}

Status WriteWholeFile(const std::string& path, std::string_view bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return IoError("cannot create " + path + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int saved = errno;
      ::close(fd);
      return IoError("cannot write " + path + ": " + std::strerror(saved));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    return IoError("cannot flush " + path + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

bool IsValidUtf8Json(const std::string& text) {
  try {
    (void)Json(text).dump();
    return true;
  } catch (const Json::exception&) {
    return false;
  }
}

}  // namespace

std::string_view ArchiveKindName(ArchiveKind kind) {
  return kind == ArchiveKind::kWeights ? "weights" : "delta";
}

std::string_view ArchiveLabelName(ArchiveLabel label) {
  switch (label) {
    case ArchiveLabel::kBenign: return "benign";
    case ArchiveLabel::kMalicious: return "malicious";
    case ArchiveLabel::kUnknown: break;
  }
  return "";
}

std::string ArchiveRound::ClientPath(size_t index) const {
  return JoinPath(dir, clients[index].file);
}

std::string ArchiveRound::GlobalPath() const { return JoinPath(dir, global_file); }

bool ArchiveRound::HasLabels() const {
  return std::any_of(clients.begin(), clients.end(), [](const ArchiveClient& c) {
    return c.label != ArchiveLabel::kUnknown;
  });
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
  Json j;
  try {
    j = Json::parse(text);
  } catch (const Json::parse_error& e) {
    return ManifestError(manifest_path, std::string("bad JSON: ") + e.what());
  } catch (const std::exception& e) {
    return ManifestError(manifest_path, std::string("bad JSON: ") + e.what());
  }
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
    return InvalidArgument(path + " is not a directory (expected a round "
                                  "archive or a folder of update files)");
  }
  RoundArchive archive;
  archive.root = path;
  if (fs::exists(JoinPath(path, std::string(kManifestName)), ec)) {
    FLS_ASSIGN_OR_RETURN(ArchiveRound round, ReadRoundDir(path));
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
    if (entry.is_directory(ec) && IsRoundDirName(name)) {
      round_dirs.push_back(JoinPath(path, name));
    } else if (entry.is_regular_file(ec) && IsUpdateFileName(entry.path()) &&
               name.front() != '.') {
      update_files.push_back(entry.path());
    }
  }
  if (ec) return IoError("cannot list " + path + ": " + ec.message());
  if (!round_dirs.empty()) {
    std::sort(round_dirs.begin(), round_dirs.end());
    std::map<uint64_t, std::string> seen;
    for (const std::string& dir : round_dirs) {
      FLS_ASSIGN_OR_RETURN(ArchiveRound round, ReadRoundDir(dir));
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
    FLS_ASSIGN_OR_RETURN(ArchiveRound round, ReadFlatFolder(path, update_files));
    archive.rounds.push_back(std::move(round));
    return archive;
  }
  return NotFound("no rounds in " + path +
                  ": expected round_NNNN/manifest.json directories, a "
                  "manifest.json, or .pth/.safetensors update files");
}

Result<TensorSet> ReadArchiveClient(const ArchiveRound& round, size_t index) {
  Result<TensorSet> set = ReadTensorFile(round.ClientPath(index));
  if (!set.ok()) {
    return set.status().WithContext("client \"" + round.clients[index].id +
                                    "\" of round " +
                                    std::to_string(round.number));
  }
  return set;
}

Result<TensorSet> ReadArchiveGlobal(const ArchiveRound& round) {
  if (round.global_file.empty()) return TensorSet();
  Result<TensorSet> set = ReadTensorFile(round.GlobalPath());
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

// ---- RoundArchiveWriter ---------------------------------------------------

RoundArchiveWriter::RoundArchiveWriter(std::string dir,
                                       ArchiveWriterOptions options)
    : dir_(std::move(dir)), options_(std::move(options)) {}

RoundArchiveWriter::RoundArchiveWriter(RoundArchiveWriter&& other) noexcept
    : dir_(std::move(other.dir_)),
      options_(std::move(other.options_)),
      in_round_(std::exchange(other.in_round_, false)),
      number_(other.number_),
      kind_(other.kind_),
      staging_(std::move(other.staging_)),
      global_file_(std::move(other.global_file_)),
      clients_(std::move(other.clients_)),
      ids_(std::move(other.ids_)),
      file_names_(std::move(other.file_names_)) {}

RoundArchiveWriter& RoundArchiveWriter::operator=(
    RoundArchiveWriter&& other) noexcept {
  if (this != &other) {
    AbandonRound();
    dir_ = std::move(other.dir_);
    options_ = std::move(other.options_);
    in_round_ = std::exchange(other.in_round_, false);
    number_ = other.number_;
    kind_ = other.kind_;
    staging_ = std::move(other.staging_);
    global_file_ = std::move(other.global_file_);
    clients_ = std::move(other.clients_);
    ids_ = std::move(other.ids_);
    file_names_ = std::move(other.file_names_);
  }
  return *this;
}

RoundArchiveWriter::~RoundArchiveWriter() { AbandonRound(); }

Result<RoundArchiveWriter> RoundArchiveWriter::Open(
    const std::string& dir, ArchiveWriterOptions options) {
  if (dir.empty()) return InvalidArgument("round archive directory is empty");
  if (options.file_extension != ".safetensors" &&
      options.file_extension != ".pth") {
    return InvalidArgument("round archive file extension must be "
                           "\".safetensors\" or \".pth\", not \"" +
                           options.file_extension + "\"");
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir, ec)) {
    return IoError("cannot create round archive directory " + dir + ": " +
                   (ec ? ec.message() : "not a directory"));
  }
  return RoundArchiveWriter(dir, std::move(options));
}

void RoundArchiveWriter::AbandonRound() {
  if (!in_round_) return;
  std::error_code ec;
  fs::remove_all(staging_, ec);
  in_round_ = false;
  staging_.clear();
  clients_.clear();
  ids_.clear();
  file_names_.clear();
  global_file_.clear();
}

Status RoundArchiveWriter::BeginRound(uint64_t number, ArchiveKind kind,
                                      std::span<const TensorView> global) {
  if (in_round_) {
    return InvalidArgument("round " + std::to_string(number_) +
                           " is still in progress");
  }
  if (kind == ArchiveKind::kWeights && global.empty()) {
    return InvalidArgument("kind weights requires the global model");
  }
  const std::string final_dir = JoinPath(dir_, RoundDirName(number));
  std::error_code ec;
  if (fs::exists(final_dir, ec)) {
    return InvalidArgument(final_dir + " already exists; not overwriting it");
  }
  staging_ = JoinPath(dir_, "." + RoundDirName(number) + ".partial");
  fs::remove_all(staging_, ec);
  if (!fs::create_directory(staging_, ec) || ec) {
    return IoError("cannot create " + staging_ + ": " + ec.message());
  }
  in_round_ = true;
  number_ = number;
  kind_ = kind;
  clients_.clear();
  ids_.clear();
  // The global model's name stays reserved even in rounds without one.
  file_names_ = {std::string(kManifestName), "global" + options_.file_extension};
  global_file_.clear();
  if (!global.empty()) {
    global_file_ = "global" + options_.file_extension;
    const std::string path = JoinPath(staging_, global_file_);
    Status status = WriteTensorFile(path, global);
    if (status.ok()) status = SyncPath(path, false);
    if (!status.ok()) {
      AbandonRound();
      return status.WithContext("writing the global model of round " +
                                std::to_string(number));
    }
  }
  return Status::Ok();
}

Status RoundArchiveWriter::AddClient(const ArchiveClientRecord& client,
                                     std::span<const TensorView> tensors) {
  if (!in_round_) return InvalidArgument("AddClient: no round in progress");
  if (client.id.empty()) return InvalidArgument("client id is empty");
  if (!IsValidUtf8Json(client.id) || !IsValidUtf8Json(client.attack)) {
    return InvalidArgument("client id or attack name is not valid UTF-8");
  }
  if (ids_.count(client.id)) {
    return InvalidArgument("client id \"" + client.id +
                           "\" already recorded in round " +
                           std::to_string(number_));
  }
  const std::string stem = SanitizeFileStem(client.id);
  std::string file = stem + options_.file_extension;
  for (int suffix = 2; file_names_.count(file); ++suffix) {
    file = stem + "_" + std::to_string(suffix) + options_.file_extension;
  }
  const std::string path = JoinPath(staging_, file);
  Status status = WriteTensorFile(path, tensors);
  if (status.ok()) status = SyncPath(path, false);
  if (!status.ok()) {
    std::error_code ec;
    fs::remove(path, ec);
    return status.WithContext("writing client \"" + client.id + "\"");
  }
  ids_.insert(client.id);
  file_names_.insert(file);
  ArchiveClient entry;
  entry.id = client.id;
  entry.file = file;
  entry.num_examples = client.num_examples;
  entry.label = client.label;
  entry.attack = client.attack;
  clients_.push_back(std::move(entry));
  return Status::Ok();
}

Status RoundArchiveWriter::FinishRound() {
  if (!in_round_) return InvalidArgument("FinishRound: no round in progress");
  nlohmann::ordered_json manifest;
  manifest["format"] = kRoundArchiveFormat;
  manifest["round"] = number_;
  manifest["kind"] = ArchiveKindName(kind_);
  if (!global_file_.empty()) manifest["global"] = global_file_;
  manifest["clients"] = nlohmann::ordered_json::array();
  for (const ArchiveClient& c : clients_) {
    nlohmann::ordered_json entry;
    entry["id"] = c.id;
    entry["file"] = c.file;
    entry["num_examples"] = c.num_examples;
    if (c.label != ArchiveLabel::kUnknown) entry["label"] = ArchiveLabelName(c.label);
    if (!c.attack.empty()) entry["attack"] = c.attack;
    manifest["clients"].push_back(std::move(entry));
  }
  std::string text;
  try {
    text = manifest.dump(2) + "\n";
  } catch (const std::exception& e) {
    AbandonRound();
    return InternalError(std::string("cannot serialise manifest: ") + e.what());
  }
  const std::string final_dir = JoinPath(dir_, RoundDirName(number_));
  Status status = WriteWholeFile(JoinPath(staging_, std::string(kManifestName)), text);
  if (status.ok()) status = SyncPath(staging_, true);
  if (status.ok() && ::renameat2(AT_FDCWD, staging_.c_str(), AT_FDCWD,
                                 final_dir.c_str(), RENAME_NOREPLACE) != 0) {
    status = IoError("cannot publish " + final_dir + ": " + std::strerror(errno));
  }
  if (!status.ok()) {
    AbandonRound();
    return status;
  }
  in_round_ = false;
  staging_.clear();
  (void)SyncPath(dir_, true);
  return Status::Ok();
}

}  // namespace flsentry
