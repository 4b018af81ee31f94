#include "tensor/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

#include "base/file_writer.h"
#include "base/json_reader.h"
#include "base/mapped_file.h"
#include "tensor/view_bytes.h"

namespace flsentry {
namespace {

using nlohmann::json;

constexpr size_t kMaxRank = 8;
constexpr const char* kMetadataKey = "__metadata__";

uint64_t LoadLe64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

struct Entry {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin;
  uint64_t end;
};

// Reads a JSON non-negative integer that fits in int64.
bool AsNonNegativeInt64(const json& value, int64_t* out) {
  if (value.is_number_unsigned()) {
    const uint64_t u = value.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return false;
    }
    *out = static_cast<int64_t>(u);
    return true;
  }
  if (value.is_number_integer()) {
    const int64_t i = value.get<int64_t>();
    if (i < 0) return false;
    *out = i;
    return true;
  }
  return false;
}

Result<Entry> ParseEntry(const std::string& name, const json& info) {
  const std::string who = "tensor '" + name + "'";
  if (!info.is_object())
    return Corrupt(who + ": header entry is not an object");
  const auto dtype_it = info.find("dtype");
  const auto shape_it = info.find("shape");
  const auto offsets_it = info.find("data_offsets");
  if (dtype_it == info.end() || !dtype_it->is_string()) {
    return Corrupt(who + ": missing or non-string \"dtype\"");
  }
  if (shape_it == info.end() || !shape_it->is_array()) {
    return Corrupt(who + ": missing or non-array \"shape\"");
  }
  if (offsets_it == info.end() || !offsets_it->is_array() ||
      offsets_it->size() != 2) {
    return Corrupt(who + ": \"data_offsets\" is not a [begin, end] pair");
  }
  Entry entry;
  entry.name = name;
  const std::string dtype_name = dtype_it->get<std::string>();
  const auto dtype = FromSafetensorsName(dtype_name);
  if (!dtype)
    return Unsupported(who + ": unsupported dtype \"" + dtype_name + "\"");
  entry.dtype = *dtype;
  if (shape_it->size() > kMaxRank) {
    return Corrupt(who + ": rank " + std::to_string(shape_it->size()) +
                   " exceeds " + std::to_string(kMaxRank));
  }
  int64_t numel = 1;
  for (const json& dim : *shape_it) {
    int64_t size = 0;
    if (!AsNonNegativeInt64(dim, &size)) {
      return Corrupt(who + ": shape holds a value that is not a size");
    }
    if (__builtin_mul_overflow(numel, size, &numel)) {
      return Corrupt(who + ": shape's number of elements overflows");
    }
    entry.shape.push_back(size);
  }
  int64_t nbytes = 0;
  if (__builtin_mul_overflow(
          numel, static_cast<int64_t>(DTypeSize(entry.dtype)), &nbytes)) {
    return Corrupt(who + ": byte size overflows");
  }
  int64_t begin = 0;
  int64_t end = 0;
  if (!AsNonNegativeInt64((*offsets_it)[0], &begin) ||
      !AsNonNegativeInt64((*offsets_it)[1], &end) || end < begin) {
    return Corrupt(who + ": \"data_offsets\" are not 0 <= begin <= end");
  }
  if (end - begin != nbytes) {
    return Corrupt(who + ": data_offsets span " + std::to_string(end - begin) +
                   " bytes but " + std::string(SafetensorsName(entry.dtype)) +
                   " shape needs " + std::to_string(nbytes));
  }
  entry.begin = static_cast<uint64_t>(begin);
  entry.end = static_cast<uint64_t>(end);
  return entry;
}

Status ParseMetadata(const json& metadata, TensorSet* set) {
  if (!metadata.is_object()) {
    return Corrupt("\"__metadata__\" is not an object");
  }
  for (const auto& [key, value] : metadata.items()) {
    if (!value.is_string()) {
      return Corrupt("\"__metadata__\" value for \"" + key +
                     "\" is not a string");
    }
    set->scalars[key] = value.get<std::string>();
  }
  return Status::Ok();
}

Result<TensorSet> ParseUnchecked(std::span<const uint8_t> bytes,
                                 std::shared_ptr<const void> keep_alive) {
  if (bytes.size() < 8) {
    return Corrupt("file of " + std::to_string(bytes.size()) +
                   " bytes is too short for a safetensors header");
  }
  const uint64_t header_len = LoadLe64(bytes.data());
  // The length read is not echoed: in a file that is not safetensors these
  // are 8 bytes of its text, which a message must not carry as a number.
  if (header_len > kMaxSafetensorsHeaderBytes) {
    return Corrupt(
        "the safetensors header length (the first 8 bytes) exceeds the "
        "limit of " +
        std::to_string(kMaxSafetensorsHeaderBytes) +
        " bytes: not a safetensors file");
  }
  if (header_len > bytes.size() - 8) {
    return Corrupt(
        "the safetensors header length (the first 8 bytes) runs past the "
        "end of the file (" +
        std::to_string(bytes.size()) + " bytes; truncated?)");
  }
  const auto* header_begin = reinterpret_cast<const char*>(bytes.data() + 8);
  if (header_len < 2 || header_begin[0] != '{') {
    return Corrupt("safetensors header does not start with '{'");
  }
  auto parsed = ParseJsonStrict(
      std::string_view(header_begin, static_cast<size_t>(header_len)));
  if (!parsed.ok()) {
    const std::string& why = parsed.status().message();
    return Corrupt(why.rfind("not valid JSON", 0) == 0
                       ? "safetensors header is not valid JSON"
                       : "safetensors header: " + why);
  }
  json header = std::move(parsed).value();
  if (!header.is_object())
    return Corrupt("safetensors header is not a JSON object");

  TensorSet set;
  std::vector<Entry> entries;
  entries.reserve(header.size());
  for (const auto& [key, value] : header.items()) {
    if (key == kMetadataKey) {
      FLS_RETURN_IF_ERROR(ParseMetadata(value, &set));
      continue;
    }
    FLS_ASSIGN_OR_RETURN(Entry entry, ParseEntry(key, value));
    entries.push_back(std::move(entry));
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  const uint64_t data_len = bytes.size() - 8 - header_len;
  uint64_t expected = 0;
  for (const Entry& entry : entries) {
    if (entry.begin != expected) {
      return Corrupt("tensor '" + entry.name + "': data starts at " +
                     std::to_string(entry.begin) +
                     " but the previous tensor ends at " +
                     std::to_string(expected) +
                     (entry.begin < expected ? " (overlap)" : " (gap)"));
    }
    expected = entry.end;
  }
  if (expected != data_len) {
    return Corrupt("tensor data covers " + std::to_string(expected) +
                   " bytes but the file holds " + std::to_string(data_len) +
                   " bytes after the header" +
                   (expected > data_len ? " (truncated?)" : ""));
  }

  const uint8_t* data = bytes.data() + 8 + header_len;
  set.backing.push_back(std::move(keep_alive));
  set.tensors.reserve(entries.size());
  for (Entry& entry : entries) {
    OwnedTensor tensor;
    tensor.name = std::move(entry.name);
    tensor.dtype = entry.dtype;
    tensor.shape = std::move(entry.shape);
    const uint8_t* start = data + entry.begin;
    const size_t nbytes = entry.end - entry.begin;
    const size_t esize = DTypeSize(entry.dtype);
    if (reinterpret_cast<uintptr_t>(start) % esize != 0) {
      // Unaligned in the file: give the tensor its own aligned copy.
      auto copy = std::make_shared<std::vector<uint8_t>>(start, start + nbytes);
      start = copy->data();
      set.backing.push_back(std::move(copy));
    }
    tensor.data = start;
    set.tensors.push_back(std::move(tensor));
  }
  return set;
}

}  // namespace

Result<TensorSet> ParseSafetensors(std::span<const uint8_t> bytes,
                                   std::shared_ptr<const void> keep_alive) {
  try {
    return ParseUnchecked(bytes, std::move(keep_alive));
  } catch (const std::bad_alloc&) {
    return Corrupt("safetensors header needs more memory than is available");
  } catch (const std::exception& e) {
    return Corrupt(std::string("safetensors header: ") + e.what());
  }
}

Result<TensorSet> ReadSafetensorsFile(const std::string& path) {
  FLS_ASSIGN_OR_RETURN(std::shared_ptr<const MappedFile> file,
                       MappedFile::Open(path));
  const std::span<const uint8_t> bytes = file->bytes();
  Result<TensorSet> set = ParseSafetensors(bytes, std::move(file));
  if (!set.ok()) return set.status().WithContext(path);
  return set;
}

Status WriteSafetensorsFile(
    const std::string& path, std::span<const TensorView> tensors,
    const std::map<std::string, std::string>& metadata) {
  try {
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!metadata.empty()) {
      nlohmann::ordered_json meta = nlohmann::ordered_json::object();
      for (const auto& [key, value] : metadata) meta[key] = value;
      header[kMetadataKey] = std::move(meta);
    }
    std::set<std::string_view> names;
    uint64_t offset = 0;
    for (const TensorView& view : tensors) {
      const std::string name(view.name);
      if (name == kMetadataKey) {
        return InvalidArgument(path +
                               ": a tensor may not be named \"__metadata__\"");
      }
      if (!names.insert(view.name).second) {
        return InvalidArgument(path + ": duplicate tensor name '" + name + "'");
      }
      int64_t numel = 0;
      int64_t extent = 0;
      Status valid = ValidateView(view, &numel, &extent);
      if (!valid.ok()) return valid.WithContext(path);
      const uint64_t nbytes = static_cast<uint64_t>(ContiguousByteSize(view));
      header[name] = {
          {"dtype", SafetensorsName(view.dtype)},
          {"shape", std::vector<int64_t>(view.shape.begin(), view.shape.end())},
          {"data_offsets", {offset, offset + nbytes}}};
      offset += nbytes;
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    if (text.size() > kMaxSafetensorsHeaderBytes) {
      return InvalidArgument(path + ": safetensors header would exceed " +
                             std::to_string(kMaxSafetensorsHeaderBytes) +
                             " bytes");
    }
    FileWriter writer;
    FLS_RETURN_IF_ERROR(writer.Open(path));
    uint8_t length[8];
    for (int i = 0; i < 8; ++i)
      length[i] = static_cast<uint8_t>(text.size() >> (8 * i));
    FLS_RETURN_IF_ERROR(writer.Write(length));
    FLS_RETURN_IF_ERROR(writer.Write(text));
    for (const TensorView& view : tensors) {
      FLS_RETURN_IF_ERROR(StreamViewBytes(
          view,
          [&](std::span<const uint8_t> chunk) { return writer.Write(chunk); }));
    }
    return writer.Commit();
  } catch (const std::exception& e) {
    return InternalError(path + ": writing safetensors: " + e.what());
  }
}

}  // namespace flsentry
