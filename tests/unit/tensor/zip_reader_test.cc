#include "tensor/zip_reader.h"

#include <doctest/doctest.h>

#include <cstring>

#include "tensor_test_util.h"

namespace flsentry {
namespace {

using testing::FixturePath;
using testing::ReadBytes;

TEST_CASE("lists entries and returns stored ones in place, CRC-checked") {
  const std::vector<uint8_t> archive = ReadBytes(FixturePath("one_fp16.pth"));
  Result<std::unique_ptr<ZipReader>> zip = ZipReader::Open(archive);
  REQUIRE(zip.ok());
  std::vector<std::string> names;
  for (const ZipEntry& e : (*zip)->entries()) names.push_back(e.name);
  CHECK(names == std::vector<std::string>{"one_fp16/data.pkl",
                                          "one_fp16/data/0",
                                          "one_fp16/version"});
  const ZipEntry* data = (*zip)->Find("one_fp16/data/0");
  REQUIRE(data != nullptr);
  CHECK(data->stored);
  CHECK(data->uncompressed_size == 24);  // 3x4 float16
  Result<ZipEntryBytes> bytes = (*zip)->Read(*data, 1 << 20);
  REQUIRE(bytes.ok());
  CHECK(bytes->owned == nullptr);
  CHECK(bytes->bytes.data() >= archive.data());
  CHECK(bytes->bytes.data() + 24 <= archive.data() + archive.size());
  CHECK((bytes->bytes.data() - archive.data()) % 64 == 0);  // torch.save aligns
  CHECK((*zip)->Find("one_fp16/absent") == nullptr);
}

TEST_CASE("deflated entries are inflated into an owned buffer") {
  const std::vector<uint8_t> archive = ReadBytes(FixturePath("deflated.pth"));
  Result<std::unique_ptr<ZipReader>> zip = ZipReader::Open(archive);
  REQUIRE(zip.ok());
  const ZipEntry* data = (*zip)->Find("plain_dict/data/0");
  REQUIRE(data != nullptr);
  CHECK_FALSE(data->stored);
  Result<ZipEntryBytes> bytes = (*zip)->Read(*data, 1 << 20);
  REQUIRE(bytes.ok());
  REQUIRE(bytes->owned != nullptr);
  REQUIRE(bytes->bytes.size() == 20);  // five float32 ones
  float first = 0;
  std::memcpy(&first, bytes->bytes.data(), 4);
  CHECK(first == 1.0f);
}

TEST_CASE("entries larger than the caller allows are refused before reading") {
  const std::vector<uint8_t> archive = ReadBytes(FixturePath("one_fp16.pth"));
  Result<std::unique_ptr<ZipReader>> zip = ZipReader::Open(archive);
  REQUIRE(zip.ok());
  Result<ZipEntryBytes> bytes =
      (*zip)->Read(*(*zip)->Find("one_fp16/data/0"), 10);
  REQUIRE_FALSE(bytes.ok());
  CHECK(bytes.status().message().find("more than the 10 allowed") !=
        std::string::npos);
}

TEST_CASE("sizes that lie are refused") {
  const std::vector<uint8_t> archive =
      ReadBytes(FixturePath("bad/zip_lies_about_size.pth"));
  Result<std::unique_ptr<ZipReader>> zip = ZipReader::Open(archive);
  REQUIRE(zip.ok());
  const ZipEntry* data = (*zip)->Find("one_fp16/data/0");
  REQUIRE(data != nullptr);
  CHECK(data->uncompressed_size == (1u << 30));
  Result<ZipEntryBytes> bytes = (*zip)->Read(*data, uint64_t{1} << 40);
  REQUIRE_FALSE(bytes.ok());
  CHECK(bytes.status().message().find("zip entry 'one_fp16/data/0'") == 0);
}

TEST_CASE("a flipped data byte fails the CRC check") {
  const std::vector<uint8_t> archive =
      ReadBytes(FixturePath("bad/flipped_storage_byte.pth"));
  Result<std::unique_ptr<ZipReader>> zip = ZipReader::Open(archive);
  REQUIRE(zip.ok());
  Result<ZipEntryBytes> bytes =
      (*zip)->Read(*(*zip)->Find("one_fp16/data/0"), 1 << 20);
  REQUIRE_FALSE(bytes.ok());
  CHECK(bytes.status().message().find("CRC") != std::string::npos);
}

TEST_CASE("non-zips and truncated zips are refused") {
  const std::vector<uint8_t> garbage(300, 0x50);
  CHECK(ZipReader::Open(garbage).status().code() == ErrorCode::kCorrupt);
  const std::vector<uint8_t> archive = ReadBytes(FixturePath("one_fp16.pth"));
  REQUIRE(archive.size() > 100);
  for (size_t cut : {1, 10, 22, 100}) {
    CAPTURE(cut);
    const std::span<const uint8_t> truncated(archive.data(),
                                             archive.size() - cut);
    CHECK(ZipReader::Open(truncated).status().code() == ErrorCode::kCorrupt);
  }
}

}  // namespace
}  // namespace flsentry
