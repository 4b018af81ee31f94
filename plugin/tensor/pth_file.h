// pth_file.h — PyTorch's zip-based torch.save format (the default since
// PyTorch 1.6), read without LibTorch and without executing anything:
//   <archive>/data.pkl     a pickle program, run by the restricted unpickler
//   <archive>/data/<key>   one entry per storage (raw little-endian bytes)
//   <archive>/byteorder    optional, "little" or "big"
// The legacy pre-1.6 format is refused with instructions to re-save.
#ifndef FLSENTRY_TENSOR_PTH_FILE_H_
#define FLSENTRY_TENSOR_PTH_FILE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>

#include "base/status.h"
#include "tensor/tensor_set.h"
#include "tensor/tensor_view.h"

namespace flsentry {

// Parses a whole .pth file held in `bytes`. `key_path` selects a sub-tree
// as ReadOptions::key_path describes. Tensors come out in pickle order and
// point into `bytes` wherever the storage is stored uncompressed, aligned and
// little-endian; otherwise into a heap copy. Every non-tensor bool, int,
// float and string in the checkpoint becomes a scalar keyed by its dotted
// path from the root ("round", "optimizer.param_groups.0.lr").
// OWNERSHIP: `keep_alive` must own `bytes`; it goes to TensorSet::backing.
// Errors do not name the file (the caller adds it).
Result<TensorSet> ParsePth(std::span<const uint8_t> bytes,
                           std::shared_ptr<const void> keep_alive,
                           const std::string& key_path);

// Writes a .pth that torch.load reads as an OrderedDict of tensors, in the
// order given, through a temporary file renamed into place. Storage entries
// are STORED (uncompressed) and 64-byte aligned as torch.save aligns them.
// Non-empty `metadata` goes to "<archive>/extra/flsentry_metadata.json".
// Returns kInvalidArgument for duplicate names or an invalid view, kIo on
// write failure.
Status WritePthFile(const std::string& path,
                    std::span<const TensorView> tensors,
                    const std::map<std::string, std::string>& metadata);

}  // namespace flsentry

#endif  // FLSENTRY_TENSOR_PTH_FILE_H_
