#include "base/mapped_file.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "tensor_test_util.h"

namespace flsentry {
namespace {

using testing::TempDir;
using testing::WriteBytes;

TEST_CASE("maps a file's bytes read-only and keeps them while referenced") {
  TempDir dir;
  const std::string path = dir.File("data.bin");
  WriteBytes(path, {1, 2, 3, 4, 5});
  Result<std::shared_ptr<const MappedFile>> file = MappedFile::Open(path);
  REQUIRE(file.ok());
  std::shared_ptr<const void> keep = *file;  // as TensorSet::backing holds it
  const uint8_t* data = (*file)->data();
  CHECK((*file)->size() == 5);
  CHECK((*file)->path() == path);
  file = Result<std::shared_ptr<const MappedFile>>(NotFound("released"));
  std::filesystem::remove(path);  // the mapping outlives the name
  CHECK(std::memcmp(data, "\1\2\3\4\5", 5) == 0);
}

// Lines of /proc/self/maps: the process's mappings.
size_t CountMappings() {
  std::ifstream maps("/proc/self/maps");
  size_t lines = 0;
  for (std::string line; std::getline(maps, line);) ++lines;
  return lines;
}

TEST_CASE("small files are read whole: many of them take no mappings") {
  TempDir dir;
  std::vector<std::string> paths;
  for (int i = 0; i < 300; ++i) {
    paths.push_back(dir.File(std::to_string(i) + ".bin"));
    WriteBytes(paths.back(), {static_cast<uint8_t>(i), 7, 7});
  }
  const size_t before = CountMappings();
  std::vector<std::shared_ptr<const MappedFile>> held;
  for (const std::string& path : paths) {
    Result<std::shared_ptr<const MappedFile>> file = MappedFile::Open(path);
    REQUIRE(file.ok());
    held.push_back(*file);
  }
  // The allocator may map an arena or two; 300 mappings it is not.
  CHECK(CountMappings() < before + 20);
  for (size_t i = 0; i < held.size(); ++i) {
    CHECK_FALSE(held[i]->mapped());
    CHECK(held[i]->size() == 3);
    CHECK(held[i]->data()[0] == static_cast<uint8_t>(i));
    CHECK(reinterpret_cast<uintptr_t>(held[i]->data()) % 4096 == 0);
  }
}

TEST_CASE("a file over kReadWholeMaxBytes is mapped") {
  TempDir dir;
  const std::string path = dir.File("big.bin");
  std::vector<uint8_t> bytes(kReadWholeMaxBytes + 1, 3);
  bytes.back() = 9;
  WriteBytes(path, bytes);
  Result<std::shared_ptr<const MappedFile>> file = MappedFile::Open(path);
  REQUIRE(file.ok());
  CHECK((*file)->mapped());
  CHECK((*file)->size() == bytes.size());
  CHECK((*file)->data()[bytes.size() - 1] == 9);
}

TEST_CASE("refuses what is not a non-empty regular file, naming it") {
  TempDir dir;
  const std::string empty = dir.File("empty.bin");
  WriteBytes(empty, {});
  Result<std::shared_ptr<const MappedFile>> file = MappedFile::Open(empty);
  CHECK(file.status().code() == ErrorCode::kCorrupt);
  CHECK(file.status().message() == empty + ": file is empty");

  file = MappedFile::Open(dir.path());
  CHECK(file.status().code() == ErrorCode::kInvalidArgument);
  CHECK(file.status().message() == dir.path() + ": is a directory, not a file");

  file = MappedFile::Open(dir.File("absent"));
  CHECK(file.status().code() == ErrorCode::kNotFound);
  CHECK(file.status().message().rfind(dir.File("absent"), 0) == 0);

  const std::string fifo = dir.File("fifo");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  file = MappedFile::Open(fifo);  // O_RDONLY on a FIFO would block: must not
  CHECK(file.status().code() != ErrorCode::kOk);
}

TEST_CASE("unreadable files give an I/O error") {
  if (::geteuid() == 0) return;  // root reads anything
  TempDir dir;
  const std::string path = dir.File("secret.bin");
  WriteBytes(path, {1});
  REQUIRE(::chmod(path.c_str(), 0) == 0);
  Result<std::shared_ptr<const MappedFile>> file = MappedFile::Open(path);
  CHECK(file.status().code() == ErrorCode::kIo);
  CHECK(file.status().message().find("cannot open") != std::string::npos);
}

}  // namespace
}  // namespace flsentry
