#include "tensor/pth_file.h"

#include <doctest/doctest.h>

#include <cstring>

#include "base/mapped_file.h"
#include "tensor/zip_reader.h"
#include "tensor_test_util.h"

namespace flsentry {
namespace {

using testing::FixturePath;
using testing::ReadBytes;
using testing::TempDir;

Result<TensorSet> Parse(const std::string& path,
                        const std::string& key_path = "") {
  auto file = MappedFile::Open(path);
  if (!file.ok()) return file.status();
  return ParsePth((*file)->bytes(), *file, key_path);
}

TEST_CASE("state_dict with BatchNorm: num_batches_tracked is an int64 scalar") {
  Result<TensorSet> set = Parse(FixturePath("cnn_state_dict.pth"));
  REQUIRE(set.ok());
  const OwnedTensor* tracked = set->Find("bn.num_batches_tracked");
  REQUIRE(tracked != nullptr);
  CHECK(tracked->dtype == DType::kI64);
  CHECK(tracked->shape.empty());
  CHECK(*static_cast<const int64_t*>(tracked->data) == 3);
  // state_dict()'s _metadata (module versions) is not exposed as scalars.
  CHECK(set->scalars.empty());
}

TEST_CASE("views into one shared storage keep their offsets and strides") {
  Result<TensorSet> set = Parse(FixturePath("shared_views.pth"));
  REQUIRE(set.ok());
  const OwnedTensor* base = set->Find("base");
  const OwnedTensor* block = set->Find("block");
  const OwnedTensor* transposed = set->Find("transposed");
  REQUIRE((base && block && transposed));
  CHECK(base->strides.empty());  // contiguous
  CHECK(block->strides == std::vector<int64_t>{6, 1});
  // base[1:3, 2:5] starts at element 8 of the same bytes: no copy was made.
  CHECK(static_cast<const float*>(block->data) ==
        static_cast<const float*>(base->data) + 8);
  CHECK(transposed->data == base->data);
  CHECK(transposed->strides == std::vector<int64_t>{1, 6});
  CHECK(testing::Summarize(block->view()).sum == 8 + 9 + 10 + 14 + 15 + 16);
}

TEST_CASE("writer output: 64-byte aligned stored entries that read back") {
  TempDir dir;
  const std::vector<double> values = {1, 2, 3};
  const std::vector<int64_t> shape = {3};
  const uint8_t flag = 1;
  const TensorView views[] = {{"v", DType::kF64, shape, {}, values.data()},
                              {"flag", DType::kBool, {}, {}, &flag}};
  const std::string path = dir.File("w.pth");
  REQUIRE(WritePthFile(path, views, {}).ok());
  const std::vector<uint8_t> archive = ReadBytes(path);
  Result<std::unique_ptr<ZipReader>> zip = ZipReader::Open(archive);
  REQUIRE(zip.ok());
  for (const ZipEntry& entry : (*zip)->entries()) {
    CAPTURE(entry.name);
    CHECK(entry.stored);
    Result<ZipEntryBytes> bytes = (*zip)->Read(entry, 1 << 20);
    REQUIRE(bytes.ok());
    CHECK((bytes->bytes.data() - archive.data()) % 64 == 0);
  }
  CHECK((*zip)->Find("archive/version") != nullptr);
  Result<TensorSet> set = Parse(path);
  REQUIRE(set.ok());
  REQUIRE(set->tensors.size() == 2);
  CHECK(set->tensors[0].name == "v");
  CHECK(std::memcmp(set->tensors[0].data, values.data(), 24) == 0);
  CHECK(set->tensors[1].dtype == DType::kBool);
}

TEST_CASE(
    "writer refuses duplicates and invalid views without leaving a file") {
  TempDir dir;
  const float x = 0;
  const std::vector<int64_t> negative = {-1};
  const TensorView dup[] = {{"a", DType::kF32, {}, {}, &x},
                            {"a", DType::kF32, {}, {}, &x}};
  CHECK(WritePthFile(dir.File("d.pth"), dup, {}).code() ==
        ErrorCode::kInvalidArgument);
  const TensorView bad{"n", DType::kF32, negative, {}, &x};
  CHECK(WritePthFile(dir.File("n.pth"), {&bad, 1}, {}).code() ==
        ErrorCode::kInvalidArgument);
  CHECK(std::filesystem::is_empty(dir.path()));
}

TEST_CASE("big-endian storages are byte-swapped into host order") {
  Result<TensorSet> set = Parse(FixturePath("big_endian.pth"));
  REQUIRE(set.ok());
  const auto* a = static_cast<const int64_t*>(set->tensors.at(0).data);
  CHECK(std::vector<int64_t>(a, a + 4) ==
        std::vector<int64_t>{0, 1000, 2000, 3000});
}

TEST_CASE("legacy files get instructions to re-save") {
  Result<TensorSet> set = Parse(FixturePath("bad/legacy_format.pth"));
  REQUIRE_FALSE(set.ok());
  CHECK(set.status().code() == ErrorCode::kUnsupported);
  CHECK(set.status().message().find("_use_new_zipfile_serialization=True") !=
        std::string::npos);
}

TEST_CASE("forbidden globals name data.pkl and the global") {
  Result<TensorSet> set = Parse(FixturePath("bad/forbidden_global.pth"));
  REQUIRE_FALSE(set.ok());
  CHECK(
      set.status().message().find("archive/data.pkl: pickle imports forbidden "
                                  "global 'posix.system'") == 0);
}

}  // namespace
}  // namespace flsentry
