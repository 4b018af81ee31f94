#include "engine/state_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <utility>

#include "base/file_writer.h"
#include "base/json_reader.h"

namespace flsentry {

namespace {

std::string OsError(int err) { return std::strerror(err); }

// "20261129T083000Z".
std::string UtcTimestamp() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

// Reads the whole file. nullopt in *missing when it does not exist.
Status ReadFile(const std::string& path, std::string* out, bool* missing) {
  *missing = false;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      *missing = true;
      return Status::Ok();
    }
    return StateError("state file " + path +
                      ": cannot open: " + OsError(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return StateError("state file " + path + ": not a regular file");
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxStateBytes) {
    ::close(fd);
    return StateError("state file " + path + ": larger than 1 GiB");
  }
  out->resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < out->size()) {
    const ssize_t n = ::read(fd, out->data() + done, out->size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return StateError("state file " + path +
                        ": read failed: " + OsError(err));
    }
    if (n == 0) break;  // shrank while reading
    done += static_cast<size_t>(n);
  }
  out->resize(done);
  ::close(fd);
  return Status::Ok();
}

}  // namespace

Result<std::string> FreeAsideName(const std::string& path,
                                  std::string_view tag) {
  const std::string stamp = UtcTimestamp();
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string aside = path;
    aside.append(".").append(tag).append("-").append(stamp);
    if (attempt > 0) aside.append("-").append(std::to_string(attempt));
    struct stat st {};
    if (::lstat(aside.c_str(), &st) != 0) return aside;  // free
  }
  return IoError(path + ": no free name to move it aside");
}

Result<std::string> SerializeState(nlohmann::json state) {
  if (!state.is_object()) {
    return InvalidArgument("state: the document must be a JSON object");
  }
  try {
    state["format"] = kStateFormat;
    std::string text =
        state.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    text += '\n';
    return text;
  } catch (const std::exception& e) {
    return InternalError(std::string("state: cannot serialise: ") + e.what());
  }
}

Result<nlohmann::json> ParseState(std::string_view bytes,
                                  std::string_view source) {
  const std::string where(source);
  if (bytes.size() > kMaxStateBytes) {
    return StateError(where + ": larger than 1 GiB");
  }
  auto parsed = ParseJsonStrict(bytes);
  if (!parsed.ok()) return StateError(where + ": " + parsed.status().message());
  nlohmann::json state = std::move(parsed).value();
  if (!state.is_object()) return StateError(where + ": not a JSON object");
  auto format = state.find("format");
  if (format == state.end() || !format->is_string()) {
    return StateError(where + ": no \"format\" member");
  }
  if (*format != kStateFormat) {
    return StateError(where + ": unknown format '" +
                      format->get<std::string>() + "' (expected " +
                      kStateFormat + ")");
  }
  auto round = state.find("round");
  if (round != state.end() && !round->is_null() &&
      !round->is_number_unsigned() &&
      !(round->is_number_integer() && round->get<int64_t>() >= 0)) {
    return StateError(where + ": \"round\" must be a non-negative integer");
  }
  return state;
}

StateStore::StateStore(std::string path, OnCorrupt on_corrupt)
    : path_(std::move(path)), on_corrupt_(on_corrupt) {}

Result<LoadedState> StateStore::Load() const {
  std::string bytes;
  bool missing = false;
  Status read = ReadFile(path_, &bytes, &missing);
  LoadedState loaded;
  if (read.ok() && missing) return loaded;
  if (read.ok()) {
    Result<nlohmann::json> parsed = ParseState(bytes, "state file " + path_);
    if (parsed.ok()) {
      loaded.state = std::move(parsed).value();
      return loaded;
    }
    read = parsed.status();
  }
  if (on_corrupt_ == OnCorrupt::kFail) return read;

  Result<std::string> aside = FreeAsideName(path_, "corrupt");
  if (!aside.ok()) {
    return StateError(read.message() + "; no free name to move it aside");
  }
  if (::rename(path_.c_str(), aside->c_str()) != 0) {
    return StateError(read.message() + "; could not be moved aside to " +
                      *aside + ": " + OsError(errno));
  }
  (void)SyncParentDirectory(path_);
  loaded.warning = read.message() + "; moved aside to " + *aside +
                   " and starting with fresh state (state.on_corrupt: reset)";
  return loaded;
}

Status StateStore::Save(nlohmann::json state) const {
  FLS_ASSIGN_OR_RETURN(std::string text, SerializeState(std::move(state)));
  std::string dir = std::filesystem::path(path_).parent_path().string();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return IoError("state: cannot create directory " + dir + ": " +
                   ec.message());
  }
  Status written = WriteFileAtomically(path_, text);
  if (!written.ok()) return IoError("state: " + written.message());
  return Status::Ok();
}

size_t StateStore::RemoveStaleTemporaries() const {
  namespace fs = std::filesystem;
  const fs::path state(path_);
  const std::string target = state.filename().string();
  const fs::path dir =
      state.has_parent_path() ? state.parent_path() : fs::path(".");
  std::error_code ec;
  size_t removed = 0;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    if (!IsTempNameFor(target, it->path().filename().string())) continue;
    std::error_code removal;
    if (fs::remove(it->path(), removal)) ++removed;
  }
  return removed;
}

}  // namespace flsentry
