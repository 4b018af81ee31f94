#include "tensor/tensor_file.h"

#include <algorithm>
#include <cstring>

#include "base/mapped_file.h"
#include "tensor/pth_file.h"
#include "tensor/safetensors.h"

namespace flsentry {
namespace {

bool EndsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() &&
         text.substr(text.size() - suffix.size()) == suffix;
}

std::string Lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return static_cast<char>(std::tolower(c));
  });
  return out;
}

// Keeps the tensors named "<prefix>.*", renamed without the prefix.
Status SelectByPrefix(const std::string& key_path, TensorSet* set) {
  const std::string prefix = key_path + ".";
  std::vector<OwnedTensor> kept;
  for (OwnedTensor& tensor : set->tensors) {
    if (tensor.name.compare(0, prefix.size(), prefix) == 0) {
      tensor.name.erase(0, prefix.size());
      kept.push_back(std::move(tensor));
    }
  }
  if (kept.empty()) {
    return NotFound("no tensor named '" + prefix + "*' for key path '" +
                    key_path + "'");
  }
  set->tensors = std::move(kept);
  return Status::Ok();
}

}  // namespace

std::string_view FormatName(TensorFileFormat format) {
  switch (format) {
    case TensorFileFormat::kPth:
      return "pth";
    case TensorFileFormat::kSafetensors:
      return "safetensors";
  }
  return "unknown";
}

Result<TensorFileFormat> FormatFromExtension(const std::string& path) {
  const std::string lower = Lowercase(path);
  if (EndsWith(lower, ".pth") || EndsWith(lower, ".pt")) {
    return TensorFileFormat::kPth;
  }
  if (EndsWith(lower, ".safetensors")) return TensorFileFormat::kSafetensors;
  return InvalidArgument(path +
                         ": unknown tensor file extension (expected .pth, "
                         ".pt or .safetensors)");
}

std::optional<TensorFileFormat> FormatFromMagic(std::span<const uint8_t> head) {
  if (head.size() >= 4 && std::memcmp(head.data(), "PK\x03\x04", 4) == 0) {
    return TensorFileFormat::kPth;
  }
  // safetensors before legacy pickles: a header length such as 0x280 also
  // starts with the bytes 0x80 0x02 of a pickle PROTO opcode.
  if (head.size() >= 9 && head[8] == '{') return TensorFileFormat::kSafetensors;
  // Legacy torch.save: a pickle (PROTO 2..5) of the magic number.
  if (head.size() >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5) {
    return TensorFileFormat::kPth;
  }
  return std::nullopt;
}

Result<TensorSet> ReadTensorFile(const std::string& path,
                                 const ReadOptions& options,
                                 TensorFileFormat* format) {
  FLS_ASSIGN_OR_RETURN(std::shared_ptr<const MappedFile> file,
                       MappedFile::Open(path));
  return ReadTensorFile(file, options, format);
}

Result<TensorSet> ReadTensorFile(const std::shared_ptr<const MappedFile>& file,
                                 const ReadOptions& options,
                                 TensorFileFormat* format) {
  const std::string path = file->path();
  const std::span<const uint8_t> bytes = file->bytes();
  std::optional<TensorFileFormat> detected = FormatFromMagic(bytes);
  if (!detected) {
    Result<TensorFileFormat> by_name = FormatFromExtension(path);
    if (!by_name.ok()) {
      return Corrupt(path +
                     ": not a tensor file (neither a zip-based .pth nor "
                     "safetensors)");
    }
    detected = *by_name;
  }
  if (format != nullptr) *format = *detected;
  Result<TensorSet> set = *detected == TensorFileFormat::kPth
                              ? ParsePth(bytes, file, options.key_path)
                              : ParseSafetensors(bytes, file);
  if (!set.ok()) return set.status().WithContext(path);
  if (*detected == TensorFileFormat::kSafetensors &&
      !options.key_path.empty()) {
    Status selected = SelectByPrefix(options.key_path, &set.value());
    if (!selected.ok()) return selected.WithContext(path);
  }
  return set;
}

Status WriteTensorFile(const std::string& path,
                       std::span<const TensorView> tensors,
                       const std::map<std::string, std::string>& metadata) {
  FLS_ASSIGN_OR_RETURN(TensorFileFormat format, FormatFromExtension(path));
  if (format == TensorFileFormat::kPth) {
    return WritePthFile(path, tensors, metadata);
  }
  return WriteSafetensorsFile(path, tensors, metadata);
}

}  // namespace flsentry
