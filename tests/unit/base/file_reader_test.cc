#include "base/file_reader.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "temp_dir.h"

using namespace flsentry;

using flsentry::testing::TempDir;

TEST_CASE("ReadWholeFile reads a regular file's bytes") {
  TempDir dir;
  const std::string path = dir.File("a.txt");
  const std::string bytes("x\0y\n", 4);
  std::ofstream(path, std::ios::binary) << bytes;
  auto text = ReadWholeFile(path, 4);
  REQUIRE(text.ok());
  CHECK(*text == bytes);
  std::ofstream(dir.File("empty"), std::ios::binary);
  CHECK(ReadWholeFile(dir.File("empty"), 0).value().empty());
}

TEST_CASE("ReadWholeFile refuses, naming the path, what it cannot read") {
  TempDir dir;
  const std::string big = dir.File("big");
  std::ofstream(big, std::ios::binary) << "12345";
  auto too_big = ReadWholeFile(big, 4);
  CHECK(too_big.status().code() == ErrorCode::kInvalidArgument);
  CHECK(too_big.status().message() == big + ": larger than 4 bytes");

  auto missing = ReadWholeFile(dir.File("none"), 10);
  CHECK(missing.status().code() == ErrorCode::kNotFound);
  CHECK(missing.status().message() == dir.File("none") + ": no such file");

  auto directory = ReadWholeFile(dir.path(), 10);
  CHECK(directory.status().code() == ErrorCode::kInvalidArgument);
  CHECK(directory.status().message() == dir.path() + ": not a regular file");

  // A FIFO without a writer: refused at once, never waited on.
  const std::string fifo = dir.File("fifo");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  auto pipe = ReadWholeFile(fifo, 10);
  CHECK(pipe.status().message() == fifo + ": not a regular file");
}
