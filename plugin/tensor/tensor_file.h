// tensor_file.h — the one entry point the rest of flsentry uses to read and
// write files of named tensors: PyTorch's zip-based .pth (torch.save) and
// .safetensors. Files are untrusted input: every error is a Status whose
// message names the file; nothing throws. No LibTorch.
//
//   FLS_ASSIGN_OR_RETURN(TensorSet set, ReadTensorFile("update_3.pth"));
//   for (const TensorView& v : set.Views()) ...
#ifndef FLSENTRY_TENSOR_TENSOR_FILE_H_
#define FLSENTRY_TENSOR_TENSOR_FILE_H_

#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "base/mapped_file.h"
#include "base/status.h"
#include "tensor/tensor_set.h"
#include "tensor/tensor_view.h"

namespace flsentry {

enum class TensorFileFormat { kPth, kSafetensors };

// "pth" or "safetensors" (the names `flsentry inspect --json` prints).
std::string_view FormatName(TensorFileFormat format);

// From the file name: ".pth"/".pt" -> kPth, ".safetensors" -> kSafetensors.
// Returns kInvalidArgument naming the path for any other extension.
Result<TensorFileFormat> FormatFromExtension(const std::string& path);

// From the first bytes of a file: a zip or a legacy torch pickle -> kPth, an
// 8-byte length followed by '{' -> kSafetensors; nullopt otherwise.
std::optional<TensorFileFormat> FormatFromMagic(std::span<const uint8_t> head);

struct ReadOptions {
  // Selects a sub-tree of a nested checkpoint, dotted: "model" picks
  // checkpoint["model"], "state.model" picks checkpoint["state"]["model"];
  // tensor names are then relative to it. Empty: every tensor in the file,
  // nested ones named by their dotted path ("model.fc.weight").
  // For safetensors the key path is a name prefix: "model" keeps the tensors
  // named "model.*" and strips the prefix.
  std::string key_path;
};

// Reads the tensor file at `path`, choosing the format from its magic bytes
// (the extension only breaks ties for unrecognised content). Tensor views
// point into a read-only mmap of the file kept in TensorSet::backing. Also
// sets *format when not null. Errors (kNotFound, kIo, kCorrupt,
// kUnsupported, kInvalidArgument) carry a one-line message starting with
// the path.
Result<TensorSet> ReadTensorFile(const std::string& path,
                                 const ReadOptions& options = {},
                                 TensorFileFormat* format = nullptr);
// As ReadTensorFile, for a file already mapped (e.g. opened confined to a
// directory); messages start with file->path().
Result<TensorSet> ReadTensorFile(const std::shared_ptr<const MappedFile>& file,
                                 const ReadOptions& options = {},
                                 TensorFileFormat* format = nullptr);

// Writes `tensors` to `path` in the format its extension names (see
// FormatFromExtension); the file appears only when complete. `metadata`
// becomes safetensors' "__metadata__", or in a .pth an extra entry that
// ReadTensorFile returns as string scalars (torch.load ignores it).
// Tensors may be strided; they are written contiguous.
Status WriteTensorFile(const std::string& path,
                       std::span<const TensorView> tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace flsentry

#endif  // FLSENTRY_TENSOR_TENSOR_FILE_H_
