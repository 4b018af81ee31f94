// audit_log.h — the append-only audit log: one JSON object per line (JSON
// Lines), one line per decision, written with one write(2) and an fdatasync
// per round. Records come from Policy::DecideRound; their fields are
// documented in docs/audit-log.md. Lines are compact JSON with keys sorted,
// so the same records always give the same bytes.
//
// Threading: not thread-safe; one AppendRound at a time per AuditLog. Other
// processes may append to the same file (O_APPEND keeps each round's lines
// together as long as one write(2) takes them whole).
#ifndef FLSENTRY_ENGINE_AUDIT_LOG_H_
#define FLSENTRY_ENGINE_AUDIT_LOG_H_

#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>

#include "base/status.h"

namespace flsentry {

// The JSON Lines text for `records`: each dumped compactly (invalid UTF-8
// replaced by U+FFFD) and followed by '\n'.
std::string FormatAuditLines(std::span<const nlohmann::json> records);

class AuditLog {
 public:
  // Opens `path` for appending, creating it (mode 0644) and missing parent
  // directories. Returns kIo naming the file on failure.
  static Result<std::unique_ptr<AuditLog>> Open(const std::string& path);

  ~AuditLog();  // closes the file
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Appends one line per record and flushes them to disk. An empty span
  // writes nothing. Returns kIo on a failed or short write.
  Status AppendRound(std::span<const nlohmann::json> records);

  const std::string& path() const { return path_; }

 private:
  AuditLog(std::string path, int fd);

  std::string path_;
  int fd_;  // owned
};

}  // namespace flsentry

#endif  // FLSENTRY_ENGINE_AUDIT_LOG_H_
