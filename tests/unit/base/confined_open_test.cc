// Tests of confined_open.h: nothing below a directory leads out of it.
#include "base/confined_open.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace flsentry {
namespace {

namespace fs = std::filesystem;

struct Tree {
  fs::path root = fs::path(FLSENTRY_BINARY_DIR) / "confined_open" / "root";
  fs::path outside = fs::path(FLSENTRY_BINARY_DIR) / "confined_open" / "out";
  UniqueFd fd;
  Tree() {
    fs::remove_all(root.parent_path());
    fs::create_directories(root / "dir");
    fs::create_directories(outside);
    std::ofstream(root / "dir" / "file.bin") << "inside";
    std::ofstream(outside / "secret.txt") << "outside";
    fs::create_symlink(outside / "secret.txt", root / "dir" / "link.bin");
    fs::create_directory_symlink(outside, root / "linked_dir");
    REQUIRE(mkfifo((root / "fifo").c_str(), 0600) == 0);
    auto opened = OpenDirectory(root.string());
    REQUIRE(opened.ok());
    fd = std::move(opened).value();
  }
  Result<UniqueFd> Open(const std::string& relative, bool dir = false) {
    return OpenBeneath(fd.get(), relative, dir, "ARCHIVE/" + relative);
  }
};

TEST_CASE("files and directories below the root open") {
  Tree t;
  auto file = t.Open("dir/file.bin");
  REQUIRE(file.ok());
  char buf[8] = {};
  CHECK(read(file->get(), buf, sizeof buf) == 6);
  CHECK(std::string(buf) == "inside");
  CHECK(t.Open("dir", true).ok());
  CHECK(t.Open("dir").status().message().find("not a regular file") !=
        std::string::npos);
}

TEST_CASE("links, parents, absolute paths and special files are refused") {
  Tree t;
  struct Case {
    std::string relative;
    ErrorCode code;
    const char* message;
  };
  const Case cases[] = {
      {"dir/link.bin", ErrorCode::kInvalidArgument,
       "'link.bin' is a symbolic link"},
      {"linked_dir/secret.txt", ErrorCode::kInvalidArgument,
       "'linked_dir' is a symbolic link"},
      {"dir/../dir/file.bin", ErrorCode::kInvalidArgument,
       "'..' is not allowed"},
      {"./dir/file.bin", ErrorCode::kInvalidArgument, "'.' is not allowed"},
      {"dir//file.bin", ErrorCode::kInvalidArgument, "'' is not allowed"},
      {"/etc/passwd", ErrorCode::kInvalidArgument, "not a relative path"},
      {"", ErrorCode::kInvalidArgument, "not a relative path"},
      {"fifo", ErrorCode::kInvalidArgument, "not a regular file"},
      {"dir/missing.bin", ErrorCode::kNotFound, "no such file"},
      {"dir/file.bin/x", ErrorCode::kInvalidArgument, "is not a directory"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.relative);
    auto opened = t.Open(c.relative);
    REQUIRE_FALSE(opened.ok());
    CHECK(opened.status().code() == c.code);
    CHECK(opened.status().message().find(c.message) != std::string::npos);
    CHECK(opened.status().message().find("ARCHIVE/") == 0);
  }
}

}  // namespace
}  // namespace flsentry
