#include "engine/audit_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "base/json_reader.h"
#include "engine/state_store.h"

namespace flsentry {
namespace {

std::string OsError(int err) { return std::strerror(err); }

Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return IoError("audit log: cannot write " + path + ": " +
                     (n < 0 ? OsError(errno) : std::string("short write")));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

// Reads bytes [begin, end) of the file.
Result<std::string> ReadRange(int fd, uint64_t begin, uint64_t end,
                              const std::string& path) {
  std::string out(static_cast<size_t>(end - begin), '\0');
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::pread(fd, out.data() + done, out.size() - done,
                              static_cast<off_t>(begin + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return IoError("audit log: cannot read " + path + ": " +
                     (n < 0 ? OsError(errno) : std::string("file shrank")));
    }
    done += static_cast<size_t>(n);
  }
  return out;
}

// Scans backwards from `end` for the start of the line that ends at `end`
// (REQUIRES: end == 0 or byte end-1 is '\n'): the offset after the previous
// '\n', or 0.
Result<uint64_t> LineStart(int fd, uint64_t end, const std::string& path) {
  uint64_t pos = end > 0 ? end - 1 : 0;  // skip the line's own '\n'
  constexpr uint64_t kChunk = 64 * 1024;
  while (pos > 0) {
    const uint64_t begin = pos > kChunk ? pos - kChunk : 0;
    FLS_ASSIGN_OR_RETURN(std::string chunk, ReadRange(fd, begin, pos, path));
    const size_t nl = chunk.rfind('\n');
    if (nl != std::string::npos) return begin + nl + 1;
    pos = begin;
  }
  return uint64_t{0};
}

// The offset after the last '\n' at or before `size` (0 when none).
Result<uint64_t> AfterLastNewline(int fd, uint64_t size,
                                  const std::string& path) {
  if (size == 0) return uint64_t{0};
  FLS_ASSIGN_OR_RETURN(std::string last, ReadRange(fd, size - 1, size, path));
  if (last == "\n") return size;
  return LineStart(fd, size, path);  // the start of the torn line
}

// The offset where the last whole round ends, for a log whose committed end
// is not known: a torn line is cut, and so are the lines of a round whose
// last line (update == updates - 1) never came. Lines without those fields
// (logs of older versions) count as whole.
Result<uint64_t> WholeRoundsEnd(int fd, uint64_t size,
                                const std::string& path) {
  FLS_ASSIGN_OR_RETURN(uint64_t end, AfterLastNewline(fd, size, path));
  if (end == 0) return end;
  FLS_ASSIGN_OR_RETURN(uint64_t start, LineStart(fd, end, path));
  FLS_ASSIGN_OR_RETURN(std::string line, ReadRange(fd, start, end, path));
  // A line that is not strict JSON (torn, or not ours) counts as whole.
  Result<nlohmann::json> parsed = ParseJsonStrict(line);
  if (!parsed.ok()) return end;
  const nlohmann::json& last = *parsed;
  if (!last.is_object() || !last.contains("update") ||
      !last.contains("updates") || !last["update"].is_number_unsigned() ||
      !last["updates"].is_number_unsigned()) {
    return end;
  }
  const uint64_t index = last["update"].get<uint64_t>();
  if (index + 1 >= last["updates"].get<uint64_t>()) return end;
  for (uint64_t i = 0; i < index && start > 0; ++i) {
    FLS_ASSIGN_OR_RETURN(start, LineStart(fd, start, path));
  }
  return start;  // the first line of the unfinished round
}

// Copies bytes [from, size) to a new "<path>.uncommitted-<time>" file,
// flushed, then cuts the log at `from`. Returns the new file's name.
Result<std::string> PutAside(int fd, uint64_t from, uint64_t size,
                             const std::string& path) {
  FLS_ASSIGN_OR_RETURN(std::string bytes, ReadRange(fd, from, size, path));
  FLS_ASSIGN_OR_RETURN(std::string aside, FreeAsideName(path, "uncommitted"));
  const int out =
      ::open(aside.c_str(),
             O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (out < 0) {
    return IoError("audit log: cannot create " + aside + ": " + OsError(errno));
  }
  Status written = WriteAll(out, bytes, aside);
  if (written.ok() && ::fsync(out) != 0) {
    written =
        IoError("audit log: cannot flush " + aside + ": " + OsError(errno));
  }
  ::close(out);
  FLS_RETURN_IF_ERROR(written);
  if (::ftruncate(fd, static_cast<off_t>(from)) != 0 || ::fdatasync(fd) != 0) {
    return IoError("audit log: cannot cut " + path +
                   " after copying its tail to " + aside + ": " +
                   OsError(errno));
  }
  return aside;
}

// Repairs the tail of an opened log; returns the log's length afterwards.
Result<uint64_t> Repair(int fd, const std::string& path,
                        std::optional<uint64_t> committed_end,
                        std::string* warning) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return IoError("audit log: cannot stat " + path + ": " + OsError(errno));
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  std::string note;
  std::optional<uint64_t> end = committed_end;
  if (end && *end > size) {
    note = "audit log " + path + " is shorter (" + std::to_string(size) +
           " bytes) than the state recorded (" + std::to_string(*end) +
           "): it was rotated or cut outside flsentry; continuing at its end";
    end.reset();
  } else if (end && *end > 0) {
    FLS_ASSIGN_OR_RETURN(std::string byte, ReadRange(fd, *end - 1, *end, path));
    if (byte != "\n") {
      note = "audit log " + path +
             " does not match the state's record of it (changed outside "
             "flsentry); repairing its tail by its records";
      end.reset();
    }
  }
  if (!end) {
    FLS_ASSIGN_OR_RETURN(end, WholeRoundsEnd(fd, size, path));
  }
  if (*end < size) {
    FLS_ASSIGN_OR_RETURN(std::string aside, PutAside(fd, *end, size, path));
    if (!note.empty()) note += "; ";
    note += "audit log " + path + ": " + std::to_string(size - *end) +
            " bytes after its last committed round (a round cut short by a "
            "crash, whose decisions never reached the host) moved to " +
            aside;
  }
  if (warning != nullptr) *warning = note;
  return *end;
}

}  // namespace

std::string FormatAuditLines(std::span<const nlohmann::json> records) {
  std::string text;
  for (const nlohmann::json& record : records) {
    text +=
        record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    text += '\n';
  }
  return text;
}

Result<std::unique_ptr<AuditLog>> AuditLog::Open(
    const std::string& path, std::optional<uint64_t> committed_end,
    std::string* warning) {
  if (warning != nullptr) warning->clear();
  FLS_ASSIGN_OR_RETURN(std::unique_ptr<FileLock> lock,
                       FileLock::Acquire(path, "audit log"));
  const int fd =
      ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    return IoError("audit log: cannot open " + path + ": " + OsError(errno));
  }
  Result<uint64_t> end = Repair(fd, path, committed_end, warning);
  if (!end.ok()) {
    ::close(fd);
    return end.status();
  }
  return std::unique_ptr<AuditLog>(
      new AuditLog(path, fd, *end, std::move(lock)));
}

AuditLog::AuditLog(std::string path, int fd, uint64_t end,
                   std::unique_ptr<FileLock> lock)
    : path_(std::move(path)), fd_(fd), end_(end), lock_(std::move(lock)) {}

AuditLog::~AuditLog() { ::close(fd_); }

Status AuditLog::AppendRound(std::vector<nlohmann::json> records) {
  std::string text;
  try {
    for (size_t i = 0; i < records.size(); ++i) {
      records[i]["update"] = i;
      records[i]["updates"] = records.size();
    }
    text = FormatAuditLines(records);
  } catch (const std::exception& e) {
    return InternalError(std::string("audit log: cannot format: ") + e.what());
  }
  if (text.empty()) return Status::Ok();
  Status written = WriteAll(fd_, text, path_);
  if (written.ok() && ::fdatasync(fd_) != 0) {
    written =
        IoError("audit log: cannot flush " + path_ + ": " + OsError(errno));
  }
  if (!written.ok()) {
    (void)Truncate(end_);
    return written;
  }
  end_ += text.size();
  return Status::Ok();
}

Status AuditLog::Truncate(uint64_t end) {
  if (::ftruncate(fd_, static_cast<off_t>(end)) != 0) {
    return IoError("audit log: cannot cut " + path_ + " back to " +
                   std::to_string(end) + " bytes: " + OsError(errno));
  }
  end_ = end;
  return Status::Ok();
}

}  // namespace flsentry
