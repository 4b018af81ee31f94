#include "tensor/tensor_file.h"

#include <doctest/doctest.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "tensor_test_util.h"

namespace flsentry {
namespace {

using nlohmann::json;
using testing::FixturePath;
using testing::ReadBytes;
using testing::TempDir;
using testing::WriteBytes;

json Expected() {
  std::ifstream in(FixturePath("expected.json"));
  return json::parse(in);
}

// Compares a TensorSet with what PyTorch computed for the same file.
void CheckAgainstPyTorch(const std::string& case_name, const json& expected,
                         const TensorSet& set) {
  CAPTURE(case_name);
  const json& tensors = expected["tensors"];
  REQUIRE(set.tensors.size() == tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const json& want = tensors[i];
    const OwnedTensor& got = set.tensors[i];
    CAPTURE(got.name);
    CHECK(got.name == want["name"].get<std::string>());
    CHECK(TorchName(got.dtype) == want["dtype"].get<std::string>());
    CHECK(got.shape == want["shape"].get<std::vector<int64_t>>());
    int64_t numel = 0;
    int64_t extent = 0;
    REQUIRE(ValidateView(got.view(), &numel, &extent).ok());
    CHECK(numel == want["numel"].get<int64_t>());
    const testing::Summary s = testing::Summarize(got.view());
    // Same values, summed in a different order: float64 rounding only.
    CHECK(std::fabs(s.sum - want["sum"].get<double>()) <=
          1e-12 * s.sum_abs + 1e-300);
    if (want["min"].is_null()) {
      CHECK(s.min == std::numeric_limits<double>::infinity());
    } else {
      CHECK(s.min == want["min"].get<double>());
      CHECK(s.max == want["max"].get<double>());
    }
    CHECK(s.nonfinite == want["nonfinite"].get<int64_t>());
  }
  const json& scalars = expected["scalars"];
  CHECK(set.scalars.size() >= scalars.size());
  for (const auto& [key, want] : scalars.items()) {
    CAPTURE(key);
    auto it = set.scalars.find(key);
    REQUIRE(it != set.scalars.end());
    const ScalarValue& got = it->second;
    if (want.is_boolean()) {
      CHECK(std::get<bool>(got) == want.get<bool>());
    } else if (want.is_number_integer()) {
      CHECK(std::get<int64_t>(got) == want.get<int64_t>());
    } else if (want.is_number_float()) {
      CHECK(std::get<double>(got) == want.get<double>());
    } else {
      CHECK(std::get<std::string>(got) == want.get<std::string>());
    }
  }
}

TEST_CASE("every fixture reads with PyTorch's names, dtypes, shapes and sums") {
  const json expected = Expected();
  REQUIRE(expected["cases"].size() >= 12);
  for (const auto& [case_name, want] : expected["cases"].items()) {
    const std::string file =
        want.contains("file") ? want["file"].get<std::string>() : case_name;
    TensorFileFormat format;
    Result<TensorSet> set = ReadTensorFile(
        FixturePath(file), {want["key_path"].get<std::string>()}, &format);
    CAPTURE(case_name);
    REQUIRE_MESSAGE(set.ok(), set.status().message());
    CHECK(FormatName(format) == want["format"].get<std::string>());
    CheckAgainstPyTorch(case_name, want, *set);
  }
}

TEST_CASE("pth tensors are zero-copy views into the mapped file") {
  Result<TensorSet> set = ReadTensorFile(FixturePath("cnn_state_dict.pth"));
  REQUIRE(set.ok());
  const std::vector<uint8_t> file =
      ReadBytes(FixturePath("cnn_state_dict.pth"));
  const OwnedTensor* fc = set->Find("fc.weight");
  REQUIRE(fc != nullptr);
  // The bytes equal the file's bytes at a 64-byte aligned offset: torch.save
  // aligns storages and the reader points into the mapping, not a copy.
  CHECK(reinterpret_cast<uintptr_t>(fc->data) % 64 == 0);
  const size_t nbytes = 10 * 2704 * 4;
  const auto* begin = static_cast<const uint8_t*>(fc->data);
  auto found = std::search(file.begin(), file.end(), begin, begin + nbytes);
  CHECK(found != file.end());
}

TEST_CASE("round trips pth -> safetensors -> pth keep every byte") {
  TempDir dir;
  for (const char* name :
       {"cnn_state_dict.pth", "shared_views.pth", "all_dtypes.pth",
        "scalar_tensors.pth", "parameters.pth", "big_endian.pth"}) {
    CAPTURE(std::string(name));
    Result<TensorSet> original = ReadTensorFile(FixturePath(name));
    REQUIRE(original.ok());
    const std::string st = dir.File("a.safetensors");
    const std::string pth = dir.File("b.pth");
    REQUIRE(WriteTensorFile(st, original->Views()).ok());
    Result<TensorSet> middle = ReadTensorFile(st);
    REQUIRE(middle.ok());
    REQUIRE(WriteTensorFile(pth, middle->Views()).ok());
    Result<TensorSet> back = ReadTensorFile(pth);
    REQUIRE(back.ok());
    REQUIRE(back->tensors.size() == original->tensors.size());
    for (size_t i = 0; i < original->tensors.size(); ++i) {
      const OwnedTensor& a = original->tensors[i];
      const OwnedTensor& b = back->tensors[i];
      CHECK(a.name == b.name);
      CHECK(a.dtype == b.dtype);
      CHECK(a.shape == b.shape);
      CHECK(testing::RowMajorBytes(a.view()) ==
            testing::RowMajorBytes(b.view()));
      CHECK(b.view().IsContiguous());
    }
  }
}

TEST_CASE("metadata survives both writers") {
  TempDir dir;
  const float x = 3.0f;
  const TensorView view{"x", DType::kF32, {}, {}, &x};
  for (const char* name : {"m.safetensors", "m.pth"}) {
    CAPTURE(std::string(name));
    REQUIRE(WriteTensorFile(dir.File(name), {&view, 1}, {{"round", "3"}}).ok());
    Result<TensorSet> set = ReadTensorFile(dir.File(name));
    REQUIRE(set.ok());
    CHECK(std::get<std::string>(set->scalars.at("round")) == "3");
  }
}

TEST_CASE("format comes from magic bytes, not the extension") {
  TempDir dir;
  const std::string disguised = dir.File("weights.bin");
  WriteBytes(disguised, ReadBytes(FixturePath("all_dtypes.safetensors")));
  TensorFileFormat format = TensorFileFormat::kPth;
  Result<TensorSet> set = ReadTensorFile(disguised, {}, &format);
  REQUIRE(set.ok());
  CHECK(format == TensorFileFormat::kSafetensors);

  const std::string misnamed = dir.File("weights.safetensors");
  WriteBytes(misnamed, ReadBytes(FixturePath("one_fp16.pth")));
  set = ReadTensorFile(misnamed, {}, &format);
  REQUIRE(set.ok());
  CHECK(format == TensorFileFormat::kPth);

  CHECK(FormatFromExtension("x.txt").status().code() ==
        ErrorCode::kInvalidArgument);
  CHECK(WriteTensorFile(dir.File("x.npz"), {}).code() ==
        ErrorCode::kInvalidArgument);
}

TEST_CASE("key paths select a sub-tree; misses name the available keys") {
  Result<TensorSet> set =
      ReadTensorFile(FixturePath("nested_checkpoint.pth"), {"model"});
  REQUIRE(set.ok());
  CHECK(set->tensors.front().name == "conv.weight");
  CHECK(std::get<int64_t>(set->scalars.at("num_examples")) == 600);
  CHECK(std::get<double>(set->scalars.at("history.1")) == 0.5);

  set = ReadTensorFile(FixturePath("nested_checkpoint.pth"), {"optimizer"});
  REQUIRE_FALSE(set.ok());
  CHECK(set.status().code() == ErrorCode::kNotFound);
  CHECK(set.status().message().find("has: model, num_examples") !=
        std::string::npos);

  set = ReadTensorFile(FixturePath("nested_checkpoint.pth"), {"round"});
  REQUIRE_FALSE(set.ok());
  CHECK(set.status().message().find("holding no tensors") != std::string::npos);

  TempDir dir;
  const std::string st = dir.File("nested.safetensors");
  Result<TensorSet> all = ReadTensorFile(FixturePath("nested_checkpoint.pth"));
  REQUIRE(all.ok());
  REQUIRE(WriteTensorFile(st, all->Views()).ok());
  set = ReadTensorFile(st, {"model.bn"});
  REQUIRE(set.ok());
  CHECK(set->tensors.size() == 5);
  CHECK(set->tensors.front().name == "weight");
}

// ---- bad input: one row per case in the list, plus more ----------

struct BadInput {
  const char* what;
  std::string path;
  const char* message_part;  // must appear in the one-line error
};

std::vector<BadInput> BadInputs(const TempDir& dir) {
  WriteBytes(dir.File("empty.pth"), {});
  std::vector<uint8_t> pth = ReadBytes(FixturePath("cnn_state_dict.pth"));
  std::vector<uint8_t> st = ReadBytes(FixturePath("all_dtypes.safetensors"));
  WriteBytes(
      dir.File("truncated_half.pth"),
      {pth.begin(), pth.begin() + static_cast<ptrdiff_t>(pth.size() / 2)});
  WriteBytes(dir.File("truncated_tail.pth"), {pth.begin(), pth.end() - 1});
  WriteBytes(dir.File("truncated.safetensors"), {st.begin(), st.end() - 3});
  WriteBytes(dir.File("truncated_header.safetensors"),
             {st.begin(), st.begin() + 40});
  std::vector<uint8_t> flipped = st;
  flipped[10] ^= 0x40;  // inside the JSON header
  WriteBytes(dir.File("flipped_header.safetensors"), flipped);
  WriteBytes(dir.File("garbage.pth"), std::vector<uint8_t>(100, 0x41));
  const std::string bad = FixturePath("bad/");
  return {
      {"empty file", dir.File("empty.pth"), "file is empty"},
      {"directory", dir.path(), "is a directory"},
      {"missing file", dir.File("absent.pth"), "no such file"},
      {"truncated pth (half)", dir.File("truncated_half.pth"), "zip"},
      {"truncated pth (last byte)", dir.File("truncated_tail.pth"), "zip"},
      {"truncated safetensors data", dir.File("truncated.safetensors"),
       "truncated"},
      {"truncated safetensors header", dir.File("truncated_header.safetensors"),
       "past the end"},
      {"flipped byte in safetensors header",
       dir.File("flipped_header.safetensors"), "JSON"},
      {"flipped byte in pth storage", bad + "flipped_storage_byte.pth", "CRC"},
      {"zip lies about an entry's size", bad + "zip_lies_about_size.pth",
       "holds 1073741824"},
      {"zip local header disagrees", bad + "zip_local_header_mismatch.pth",
       "local header"},
      {"forbidden global (os.system)", bad + "forbidden_global.pth",
       "forbidden global 'posix.system'"},
      {"pth shape overflows", bad + "shape_overflow.pth", "overflows"},
      {"safetensors shape overflows", bad + "shape_overflow.safetensors",
       "overflows"},
      {"safetensors header claims a terabyte",
       bad + "terabyte_header.safetensors", "exceeds the limit"},
      {"safetensors tensors overlap", bad + "overlap.safetensors", "overlap"},
      {"view reaches past its storage", bad + "view_past_storage.pth",
       "storage of 16 bytes"},
      {"storage shorter than declared", bad + "storage_too_short.pth",
       "holds 8 bytes"},
      {"legacy pre-1.6 format", bad + "legacy_format.pth",
       "_use_new_zipfile_serialization=True"},
      {"TorchScript archive", bad + "torchscript.pth", "TorchScript"},
      {"neither format", dir.File("garbage.pth"), "no zip signature"},
  };
}

TEST_CASE("bad input gives one clear error line naming the file") {
  TempDir dir;
  for (const BadInput& c : BadInputs(dir)) {
    CAPTURE(std::string(c.what));
    Result<TensorSet> set = ReadTensorFile(c.path);
    REQUIRE_FALSE(set.ok());
    const std::string& message = set.status().message();
    CAPTURE(message);
    CHECK(message.rfind(c.path, 0) == 0);  // starts with the path
    CHECK(message.find(c.message_part) != std::string::npos);
    CHECK(message.find('\n') == std::string::npos);
  }
}

TEST_CASE(
    "every single-byte corruption of small files fails cleanly or reads") {
  TempDir dir;
  for (const char* name : {"one_fp16.pth", "all_dtypes.safetensors"}) {
    const std::vector<uint8_t> good = ReadBytes(FixturePath(name));
    const std::string path = dir.File(std::string("x_") + name);
    int refused = 0;
    for (size_t i = 0; i < good.size(); ++i) {
      std::vector<uint8_t> bytes = good;
      bytes[i] ^= 0xa5;
      WriteBytes(path, bytes);
      Result<TensorSet> set = ReadTensorFile(path);
      if (!set.ok()) {
        ++refused;
        CHECK(set.status().message().rfind(path, 0) == 0);
      }
    }
    CAPTURE(std::string(name));
    CHECK(refused > static_cast<int>(good.size() / 4));
  }
}

}  // namespace
}  // namespace flsentry
