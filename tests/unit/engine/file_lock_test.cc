// Tests of file_lock.h: one holder per file, a message naming the holder.
#include "engine/file_lock.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace flsentry {
namespace {

namespace fs = std::filesystem;

fs::path FreshDir() {
  const fs::path dir = fs::path(FLSENTRY_BINARY_DIR) / "file_lock_test";
  fs::remove_all(dir);
  return dir;
}

TEST_CASE("a second lock on one file is refused until the first is released") {
  const std::string path = (FreshDir() / "sub" / "state.json").string();
  auto acquired = FileLock::Acquire(path, "state file");
  REQUIRE(acquired.ok());
  std::unique_ptr<FileLock> first = std::move(acquired).value();
  CHECK(first->lock_path() == path + ".lock");
  auto second = FileLock::Acquire(path, "state file");
  REQUIRE_FALSE(second.ok());
  CHECK(second.status().code() == ErrorCode::kState);
  CHECK(second.status().message().find("state file " + path +
                                       " is in use by another flsentry "
                                       "instance (process " +
                                       std::to_string(getpid()) +
                                       ", this process") != std::string::npos);
  first.reset();
  CHECK(FileLock::Acquire(path, "state file").ok());
}

TEST_CASE("a lock file whose text is not a holder's is not echoed") {
  const fs::path dir = FreshDir();
  fs::create_directories(dir);
  const std::string path = (dir / "audit.jsonl").string();
  auto first = FileLock::Acquire(path, "audit log");
  REQUIRE(first.ok());
  std::ofstream(path + ".lock") << "secret text\n";
  auto second = FileLock::Acquire(path, "audit log");
  REQUIRE_FALSE(second.ok());
  CHECK(second.status().message().find("holder unknown") != std::string::npos);
  CHECK(second.status().message().find("secret") == std::string::npos);
}

TEST_CASE("a lock path that cannot be created is an I/O error") {
  auto lock = FileLock::Acquire("/proc/self/status/x", "state file");
  REQUIRE_FALSE(lock.ok());
  CHECK(lock.status().code() == ErrorCode::kIo);
}

}  // namespace
}  // namespace flsentry
