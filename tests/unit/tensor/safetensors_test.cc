#include "tensor/safetensors.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace flsentry {
namespace {

std::string TempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("flsentry_st_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

// A safetensors image from a header string and a data section.
std::vector<uint8_t> Image(const std::string& header, size_t data_bytes) {
  std::vector<uint8_t> out(8 + header.size() + data_bytes, 0);
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(n >> (8 * i));
  std::memcpy(out.data() + 8, header.data(), header.size());
  return out;
}

Result<TensorSet> Parse(const std::vector<uint8_t>& image) {
  return ParseSafetensors(image, nullptr);
}

TEST_CASE("writes and reads back names, dtypes, shapes, bytes and metadata") {
  const std::vector<float> weights = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f, 8.0f};
  const std::vector<int64_t> weight_shape = {2, 3};
  const int64_t count = 42;
  const std::vector<int64_t> scalar_shape = {};
  const std::vector<uint16_t> halves = {0x3c00, 0xc000};  // 1.0, -2.0
  const std::vector<int64_t> half_shape = {2};
  const TensorView views[] = {
      {"layer.weight", DType::kF32, weight_shape, {}, weights.data()},
      {"steps", DType::kI64, scalar_shape, {}, &count},
      {"h", DType::kF16, half_shape, {}, halves.data()},
  };
  const std::string path = TempPath("roundtrip.safetensors");
  REQUIRE(WriteSafetensorsFile(path, views, {{"format", "pt"}}).ok());
  Result<TensorSet> set = ReadSafetensorsFile(path);
  REQUIRE(set.ok());
  REQUIRE(set->tensors.size() == 3);
  CHECK(set->tensors[0].name == "layer.weight");
  CHECK(set->tensors[0].shape == weight_shape);
  CHECK(std::memcmp(set->tensors[0].data, weights.data(), 24) == 0);
  CHECK(set->tensors[1].dtype == DType::kI64);
  CHECK(set->tensors[1].shape.empty());
  CHECK(*static_cast<const int64_t*>(set->tensors[1].data) == 42);
  CHECK(ElementAsDouble(set->tensors[2].data, DType::kF16, 1) == -2.0);
  CHECK(std::get<std::string>(set->scalars.at("format")) == "pt");
  // Header length is a multiple of 8 so 8-byte tensors stay aligned.
  std::ifstream in(path, std::ios::binary);
  uint64_t header_len = 0;
  in.read(reinterpret_cast<char*>(&header_len), 8);
  CHECK(header_len % 8 == 0);
  std::filesystem::remove(path);
}

TEST_CASE("strided views are written contiguous in row-major order") {
  const std::vector<int32_t> storage = {0, 1, 2, 3, 4, 5};  // 2x3
  const std::vector<int64_t> shape = {3, 2};                // transposed
  const std::vector<int64_t> strides = {1, 3};
  const TensorView view{"t", DType::kI32, shape, strides, storage.data()};
  const std::string path = TempPath("strided.safetensors");
  REQUIRE(WriteSafetensorsFile(path, {&view, 1}, {}).ok());
  Result<TensorSet> set = ReadSafetensorsFile(path);
  REQUIRE(set.ok());
  const auto* data = static_cast<const int32_t*>(set->tensors[0].data);
  CHECK(std::vector<int32_t>(data, data + 6) ==
        std::vector<int32_t>{0, 3, 1, 4, 2, 5});
  std::filesystem::remove(path);
}

TEST_CASE("writer refuses duplicate names and leaves no file behind") {
  const float x = 1.0f;
  const TensorView views[] = {{"a", DType::kF32, {}, {}, &x},
                              {"a", DType::kF32, {}, {}, &x}};
  const std::string path = TempPath("dup.safetensors");
  Status status = WriteSafetensorsFile(path, views, {});
  CHECK(status.code() == ErrorCode::kInvalidArgument);
  CHECK(!std::filesystem::exists(path));
}

TEST_CASE("tensors are ordered by data offset, not by JSON key order") {
  const std::string header =
      R"({"b":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
      R"("a":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}})";
  Result<TensorSet> set = Parse(Image(header, 3));
  REQUIRE(set.ok());
  CHECK(set->tensors[0].name == "b");
  CHECK(set->tensors[1].name == "a");
}

TEST_CASE("unaligned tensors get an aligned copy") {
  const std::string header =
      R"({"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
      R"("y":{"dtype":"F32","shape":[1],"data_offsets":[1,5]}})";
  std::vector<uint8_t> image = Image(header, 5);
  const float value = 2.5f;
  std::memcpy(image.data() + 8 + header.size() + 1, &value, 4);
  Result<TensorSet> set = Parse(image);
  REQUIRE(set.ok());
  CHECK(reinterpret_cast<uintptr_t>(set->tensors[1].data) % 4 == 0);
  CHECK(*static_cast<const float*>(set->tensors[1].data) == 2.5f);
}

struct BadCase {
  const char* what;
  std::string header;
  size_t data_bytes;
  const char* message_part;
};

TEST_CASE("malformed headers are refused with a message saying why") {
  const BadCase cases[] = {
      {"not json", "{nope", 0, "not valid JSON"},
      {"array", "[1,2] ", 0, "does not start with '{'"},
      {"unknown dtype",
       R"({"a":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}})", 1,
       "unsupported dtype"},
      {"missing shape", R"({"a":{"dtype":"U8","data_offsets":[0,1]}})", 1,
       "shape"},
      {"negative dim",
       R"({"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}})", 1,
       "not a size"},
      {"overflowing shape",
       R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})",
       4, "overflows"},
      {"byte count mismatch",
       R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 4,
       "needs 8"},
      {"gap", R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})", 2,
       "gap"},
      {"overlap",
       R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}})",
       3, "overlap"},
      {"trailing bytes",
       R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", 2,
       "file holds 2"},
      {"truncated data",
       R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})", 2,
       "truncated"},
      {"metadata not strings", R"({"__metadata__":{"k":1}})", 0,
       "not a string"},
      {"duplicate tensor name (JSON keys given twice)",
       R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})",
       2, "key \"a\" given twice"},
      {"rank 9",
       R"({"a":{"dtype":"U8","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,1]}})",
       1, "rank 9"},
  };
  for (const BadCase& c : cases) {
    CAPTURE(c.what);
    Result<TensorSet> set = Parse(Image(c.header, c.data_bytes));
    REQUIRE_FALSE(set.ok());
    CHECK(set.status().message().find(c.message_part) != std::string::npos);
  }
}

TEST_CASE("header lengths beyond the limit or the file are refused up front") {
  std::vector<uint8_t> terabyte(16, ' ');
  const uint64_t claimed = uint64_t{1} << 40;
  for (int i = 0; i < 8; ++i)
    terabyte[i] = static_cast<uint8_t>(claimed >> (8 * i));
  Result<TensorSet> set = Parse(terabyte);
  REQUIRE_FALSE(set.ok());
  CHECK(set.status().message().find("exceeds the limit") != std::string::npos);
  // The bytes read are not echoed as a number (they may be any file's text).
  CHECK(set.status().message().find(std::to_string(claimed)) ==
        std::string::npos);

  std::vector<uint8_t> past_end = Image("{}", 0);
  past_end[0] = 200;
  set = Parse(past_end);
  REQUIRE_FALSE(set.ok());
  CHECK(set.status().message().find("past the end") != std::string::npos);

  set = Parse(std::vector<uint8_t>{1, 2, 3});
  REQUIRE_FALSE(set.ok());
  CHECK(set.status().message().find("too short") != std::string::npos);
}

TEST_CASE("read errors name the file") {
  Result<TensorSet> set = ReadSafetensorsFile("/nonexistent/x.safetensors");
  REQUIRE_FALSE(set.ok());
  CHECK(set.status().message().find("/nonexistent/x.safetensors") == 0);
}

}  // namespace
}  // namespace flsentry
