// The writer half of round_archive.h: staging directory, fsync'd files,
// manifest written last, atomic publish by rename.
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "archive/round_archive.h"
#include "tensor/tensor_file.h"

namespace flsentry {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr std::string_view kManifestName = "manifest.json";

std::string JoinPath(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  if (dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

// Flushes a file or directory to disk. Best effort for directories on
// filesystems that refuse fsync on them.
Status SyncPath(const std::string& path, bool is_dir) {
  int fd =
      ::open(path.c_str(), (is_dir ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return IoError("cannot open " + path + ": " + std::strerror(errno));
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
  if (fd < 0)
    return IoError("cannot create " + path + ": " + std::strerror(errno));
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
    return InvalidArgument(
        "round archive file extension must be "
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
  file_names_ = {std::string(kManifestName),
                 "global" + options_.file_extension};
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
    if (c.label != ArchiveLabel::kUnknown)
      entry["label"] = ArchiveLabelName(c.label);
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
  Status status =
      WriteWholeFile(JoinPath(staging_, std::string(kManifestName)), text);
  if (status.ok()) status = SyncPath(staging_, true);
  if (status.ok() && ::renameat2(AT_FDCWD, staging_.c_str(), AT_FDCWD,
                                 final_dir.c_str(), RENAME_NOREPLACE) != 0) {
    status =
        IoError("cannot publish " + final_dir + ": " + std::strerror(errno));
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
