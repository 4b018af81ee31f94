#include "base/file_writer.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "base/file_reader.h"

using namespace flsentry;
namespace fs = std::filesystem;

namespace {

// A fresh directory under the system temp dir, removed by the destructor.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = std::filesystem::temp_directory_path() /
            ("flsentry_fio_" + std::to_string(::getpid()) + "_" +
             std::to_string(counter++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const {
    return (path_ / name).string();
  }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace

TEST_CASE("WriteFileAtomically replaces the file whole and leaves no temp") {
  TempDir dir;
  const std::string path = dir.File("out.json");
  REQUIRE(WriteFileAtomically(path, "old").ok());
  REQUIRE(WriteFileAtomically(path, "new bytes").ok());
  CHECK(ReadWholeFile(path, 100).value() == "new bytes");
  int entries = 0;
  for (const auto& e : fs::directory_iterator(dir.path())) {
    (void)e;
    ++entries;
  }
  CHECK(entries == 1);
}

TEST_CASE("an abandoned or failed write leaves the old file as it was") {
  TempDir dir;
  const std::string path = dir.File("state.json");
  REQUIRE(WriteFileAtomically(path, "old").ok());
  {
    FileWriter writer;
    REQUIRE(writer.Open(path).ok());
    REQUIRE(writer.Write(std::string("half of the new")).ok());
  }  // destroyed without Commit
  CHECK(ReadWholeFile(path, 100).value() == "old");
  CHECK(fs::directory_iterator(dir.path()) != fs::directory_iterator());
  int entries = 0;
  for (const auto& e : fs::directory_iterator(dir.path())) {
    (void)e;
    ++entries;
  }
  CHECK(entries == 1);

  Status missing_dir = WriteFileAtomically(dir.File("no/such/dir/x"), "x");
  CHECK(missing_dir.code() == ErrorCode::kIo);
  CHECK(missing_dir.message().find(dir.File("no/such/dir/x")) == 0);
}
