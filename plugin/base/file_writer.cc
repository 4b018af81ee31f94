#include "base/file_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

namespace flsentry {

// EINVAL: the filesystem cannot fsync directories; nothing more to do there.
Status SyncParentDirectory(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return IoError(dir + ": cannot open: " + std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0 && err != EINVAL) {
    return IoError(dir + ": fsync failed: " + std::strerror(err));
  }
  return Status::Ok();
}

namespace {
constexpr std::string_view kTempInfix = ".tmp.";
}  // namespace

std::string TempPathFor(const std::string& path) {
  return path + std::string(kTempInfix) + std::to_string(::getpid());
}

bool IsTempNameFor(const std::string& target_name, const std::string& name) {
  const std::string prefix = target_name + std::string(kTempInfix);
  return name.size() > prefix.size() &&
         name.compare(0, prefix.size(), prefix) == 0 &&
         name.find_first_not_of("0123456789", prefix.size()) ==
             std::string::npos;
}

FileWriter::~FileWriter() {
  if (file_ != nullptr) std::fclose(file_);
  if (!committed_ && !temp_path_.empty()) std::remove(temp_path_.c_str());
}

Status FileWriter::Open(const std::string& path) {
  if (file_ != nullptr) return InternalError(path + ": writer already open");
  path_ = path;
  temp_path_ = TempPathFor(path);
  file_ = std::fopen(temp_path_.c_str(), "wb");
  if (file_ == nullptr) {
    const int err = errno;
    const std::string temp = std::move(temp_path_);
    temp_path_.clear();
    return IoError(path + ": cannot create " + temp + ": " +
                   std::strerror(err));
  }
  return Status::Ok();
}

Status FileWriter::Write(std::span<const uint8_t> bytes) {
  if (file_ == nullptr) return InternalError(path_ + ": write before open");
  if (bytes.empty()) return Status::Ok();
  if (std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size()) {
    return IoError(path_ + ": write failed: " + std::strerror(errno));
  }
  position_ += bytes.size();
  return Status::Ok();
}

Status FileWriter::Seek(uint64_t offset) {
  if (file_ == nullptr) return InternalError(path_ + ": seek before open");
  if (fseeko(file_, static_cast<off_t>(offset), SEEK_SET) != 0) {
    return IoError(path_ + ": seek failed: " + std::strerror(errno));
  }
  position_ = offset;
  return Status::Ok();
}

Status FileWriter::Commit() {
  if (file_ == nullptr) return InternalError(path_ + ": commit before open");
  const bool flushed = std::fflush(file_) == 0 && ::fsync(fileno(file_)) == 0;
  const int err = errno;
  const bool closed = std::fclose(file_) == 0;
  file_ = nullptr;
  if (!flushed || !closed) {
    return IoError(path_ + ": write failed: " + std::strerror(err));
  }
  if (std::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    return IoError(path_ +
                   ": cannot rename into place: " + std::strerror(errno));
  }
  committed_ = true;
  return SyncParentDirectory(path_);
}

Status WriteFileAtomically(const std::string& path, std::string_view bytes) {
  FileWriter writer;
  FLS_RETURN_IF_ERROR(writer.Open(path));
  FLS_RETURN_IF_ERROR(writer.Write(
      {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}));
  return writer.Commit();
}

}  // namespace flsentry
