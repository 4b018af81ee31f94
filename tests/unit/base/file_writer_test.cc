#include "base/file_writer.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "base/file_reader.h"
#include "temp_dir.h"

using namespace flsentry;
namespace fs = std::filesystem;

using flsentry::testing::TempDir;

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

TEST_CASE("temporary names: this process's, and any writer's recognised") {
  const std::string mine = TempPathFor("dir/state.json");
  CHECK(mine == "dir/state.json.tmp." + std::to_string(::getpid()));
  CHECK(IsTempNameFor("state.json", mine.substr(4)));
  CHECK(IsTempNameFor("state.json", "state.json.tmp.1"));
  CHECK_FALSE(IsTempNameFor("state.json", "state.json.tmp."));
  CHECK_FALSE(IsTempNameFor("state.json", "state.json.tmp.12x"));
  CHECK_FALSE(IsTempNameFor("state.json", "other.json.tmp.12"));
  CHECK_FALSE(IsTempNameFor("state.json", "state.json"));
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
