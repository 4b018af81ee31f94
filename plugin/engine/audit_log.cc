#include "engine/audit_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace flsentry {

std::string FormatAuditLines(std::span<const nlohmann::json> records) {
  std::string text;
  for (const nlohmann::json& record : records) {
    text +=
        record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    text += '\n';
  }
  return text;
}

Result<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& path) {
  const std::string dir = std::filesystem::path(path).parent_path().string();
  if (!dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      return IoError("audit log: cannot create directory " + dir + ": " +
                     ec.message());
    }
  }
  const int fd =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    return IoError("audit log: cannot open " + path + ": " +
                   std::strerror(errno));
  }
  return std::unique_ptr<AuditLog>(new AuditLog(path, fd));
}

AuditLog::AuditLog(std::string path, int fd)
    : path_(std::move(path)), fd_(fd) {}

AuditLog::~AuditLog() { ::close(fd_); }

Status AuditLog::AppendRound(std::span<const nlohmann::json> records) {
  std::string text;
  try {
    text = FormatAuditLines(records);
  } catch (const std::exception& e) {
    return InternalError(std::string("audit log: cannot format: ") + e.what());
  }
  std::string_view rest = text;
  while (!rest.empty()) {
    const ssize_t n = ::write(fd_, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return IoError("audit log: cannot append to " + path_ + ": " +
                     (n < 0 ? std::strerror(errno) : "short write"));
    }
    rest.remove_prefix(static_cast<size_t>(n));
  }
  if (!text.empty() && ::fdatasync(fd_) != 0) {
    return IoError("audit log: cannot flush " + path_ + ": " +
                   std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace flsentry
