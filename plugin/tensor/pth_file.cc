#include "tensor/pth_file.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>
#include <unordered_map>

#include "base/json_reader.h"
#include "tensor/pickle_reader.h"
#include "tensor/zip_reader.h"

namespace flsentry {
namespace {

constexpr uint64_t kMaxPickleBytes = uint64_t{1} << 30;
constexpr uint64_t kMaxMetadataBytes = uint64_t{16} << 20;
constexpr int kMaxDepth = 64;
constexpr const char* kMetadataEntry = "extra/flsentry_metadata.json";

bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

// The key a dict entry contributes to a dotted path.
Result<std::string> KeyText(const PickleValue* key) {
  switch (key->kind) {
    case PickleKind::kString:
      return key->text;
    case PickleKind::kInt:
      return std::to_string(key->integer);
    default:
      return Corrupt(std::string("checkpoint has a dict key of type ") +
                     PickleKindName(key->kind));
  }
}

std::string Join(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}

// Bounds a walk: shared values are visited once per path leading to them,
// so a hostile graph of repeated references could otherwise take 2^depth
// steps.
struct WalkBudget {
  size_t remaining;
};

// Walks the object graph below `value`, calling on_leaf(path, leaf) for every
// value that is not a dict, list or tuple.
template <typename Fn>
Status Walk(const PickleValue* value, const std::string& path, int depth,
            WalkBudget* budget, Fn&& on_leaf) {
  if (budget->remaining-- == 0) {
    return Corrupt(
        "checkpoint's object graph repeats references too often to walk");
  }
  if (depth > kMaxDepth) {
    return Corrupt("checkpoint nests deeper than " + std::to_string(kMaxDepth) +
                   " levels (or contains a reference cycle) at '" + path + "'");
  }
  switch (value->kind) {
    case PickleKind::kDict:
      for (const auto& [key, child] : value->entries) {
        FLS_ASSIGN_OR_RETURN(std::string key_text, KeyText(key));
        FLS_RETURN_IF_ERROR(
            Walk(child, Join(path, key_text), depth + 1, budget, on_leaf));
      }
      return Status::Ok();
    case PickleKind::kList:
    case PickleKind::kTuple:
      for (size_t i = 0; i < value->items.size(); ++i) {
        FLS_RETURN_IF_ERROR(Walk(value->items[i], Join(path, std::to_string(i)),
                                 depth + 1, budget, on_leaf));
      }
      return Status::Ok();
    default:
      return on_leaf(path, value);
  }
}

// Follows a dotted key path from the root; names the available keys when a
// component is missing.
Result<const PickleValue*> Select(const PickleValue* root,
                                  const std::string& key_path) {
  const PickleValue* node = root;
  size_t start = 0;
  while (start <= key_path.size()) {
    const size_t dot = std::min(key_path.find('.', start), key_path.size());
    const std::string part = key_path.substr(start, dot - start);
    const PickleValue* next = nullptr;
    std::string available;
    if (node->kind == PickleKind::kDict) {
      for (const auto& [key, child] : node->entries) {
        Result<std::string> text = KeyText(key);
        if (!text.ok()) continue;
        if (*text == part && next == nullptr) next = child;
        if (available.size() < 200)
          available += (available.empty() ? "" : ", ") + *text;
      }
    } else if (node->kind == PickleKind::kList ||
               node->kind == PickleKind::kTuple) {
      for (size_t i = 0; i < node->items.size(); ++i) {
        if (std::to_string(i) == part) next = node->items[i];
      }
      available = "indices 0.." + std::to_string(node->items.size());
    }
    if (next == nullptr) {
      return NotFound("key path '" + key_path + "': no key '" + part +
                      "' in a " + PickleKindName(node->kind) +
                      (available.empty() ? "" : " (has: " + available + ")"));
    }
    node = next;
    start = dot + 1;
  }
  return node;
}

// Tensor storages resolved to bytes, one zip entry each, read once.
class StorageTable {
 public:
  StorageTable(ZipReader* zip, std::string prefix, bool big_endian,
               TensorSet* set)
      : zip_(zip),
        prefix_(std::move(prefix)),
        big_endian_(big_endian),
        set_(set) {}

  // Returns the bytes of `storage`, checked to hold exactly numel elements.
  Result<std::span<const uint8_t>> Bytes(const PickleStorage& storage) {
    auto it = resolved_.find(storage.key);
    if (it != resolved_.end()) {
      if (it->second.dtype != storage.dtype) {
        return Corrupt("storage '" + storage.key + "' is used with two dtypes");
      }
      return it->second.bytes;
    }
    const std::string name = prefix_ + "/data/" + storage.key;
    const ZipEntry* entry = zip_->Find(name);
    if (entry == nullptr) {
      return Corrupt("tensor storage entry '" + name + "' is missing");
    }
    const size_t esize = DTypeSize(storage.dtype);
    int64_t nbytes = 0;
    if (__builtin_mul_overflow(storage.numel, static_cast<int64_t>(esize),
                               &nbytes)) {
      return Corrupt("storage '" + storage.key + "' size overflows");
    }
    if (entry->uncompressed_size != static_cast<uint64_t>(nbytes)) {
      return Corrupt("storage '" + name + "' holds " +
                     std::to_string(entry->uncompressed_size) +
                     " bytes but the pickle "
                     "declares " +
                     std::to_string(storage.numel) + " " +
                     std::string(TorchName(storage.dtype)) + " elements (" +
                     std::to_string(nbytes) + " bytes)");
    }
    FLS_ASSIGN_OR_RETURN(ZipEntryBytes data,
                         zip_->Read(*entry, entry->uncompressed_size));
    std::span<const uint8_t> bytes = data.bytes;
    const bool misaligned =
        reinterpret_cast<uintptr_t>(bytes.data()) % esize != 0;
    if ((big_endian_ && esize > 1) || (misaligned && !data.owned)) {
      auto copy =
          std::make_shared<std::vector<uint8_t>>(bytes.begin(), bytes.end());
      if (big_endian_ && esize > 1) {
        for (size_t i = 0; i + esize <= copy->size(); i += esize) {
          std::reverse(copy->begin() + static_cast<ptrdiff_t>(i),
                       copy->begin() + static_cast<ptrdiff_t>(i + esize));
        }
      }
      data.owned = std::move(copy);
      bytes = {data.owned->data(), data.owned->size()};
    }
    if (data.owned) set_->backing.push_back(std::move(data.owned));
    resolved_[storage.key] = {storage.dtype, bytes};
    return bytes;
  }

 private:
  struct Resolved {
    DType dtype;
    std::span<const uint8_t> bytes;
  };
  ZipReader* zip_;
  std::string prefix_;
  bool big_endian_;
  TensorSet* set_;
  std::unordered_map<std::string, Resolved> resolved_;
};

Result<OwnedTensor> MakeTensor(const std::string& name, const PickleTensor& t,
                               StorageTable* storages) {
  const PickleStorage& storage = t.storage->storage;
  FLS_ASSIGN_OR_RETURN(std::span<const uint8_t> bytes,
                       storages->Bytes(storage));
  const std::string who = "tensor '" + name + "'";
  const int64_t esize = static_cast<int64_t>(DTypeSize(storage.dtype));
  int64_t offset_bytes = 0;
  if (t.storage_offset < 0 ||
      __builtin_mul_overflow(t.storage_offset, esize, &offset_bytes) ||
      static_cast<uint64_t>(offset_bytes) > bytes.size()) {
    return Corrupt(who + ": storage offset " +
                   std::to_string(t.storage_offset) +
                   " lies outside its storage");
  }
  OwnedTensor tensor;
  tensor.name = name;
  tensor.dtype = storage.dtype;
  tensor.shape = t.shape;
  tensor.strides = t.strides;
  tensor.data = bytes.data() + offset_bytes;
  int64_t numel = 0;
  int64_t extent = 0;
  FLS_RETURN_IF_ERROR(ValidateView(tensor.view(), &numel, &extent));
  if (extent > static_cast<int64_t>(bytes.size()) - offset_bytes) {
    return Corrupt(who + ": shape and strides reach " + std::to_string(extent) +
                   " bytes past offset " + std::to_string(offset_bytes) +
                   " in a storage of " + std::to_string(bytes.size()) +
                   " bytes");
  }
  if (tensor.view().IsContiguous()) tensor.strides.clear();
  return tensor;
}

Status AddMetadataScalars(ZipReader* zip, const std::string& prefix,
                          TensorSet* set) {
  const ZipEntry* entry = zip->Find(prefix + "/" + kMetadataEntry);
  if (entry == nullptr) return Status::Ok();
  FLS_ASSIGN_OR_RETURN(ZipEntryBytes data,
                       zip->Read(*entry, kMaxMetadataBytes));
  auto parsed = ParseJsonStrict(std::string_view(
      reinterpret_cast<const char*>(data.bytes.data()), data.bytes.size()));
  if (!parsed.ok()) return parsed.status().WithContext(entry->name);
  const nlohmann::json json = std::move(parsed).value();
  if (!json.is_object()) return Corrupt(entry->name + " is not a JSON object");
  for (const auto& [key, value] : json.items()) {
    if (!value.is_string())
      return Corrupt(entry->name + ": value of '" + key + "' is not a string");
    set->scalars[key] = value.get<std::string>();
  }
  return Status::Ok();
}

Result<TensorSet> ParseZip(std::span<const uint8_t> bytes,
                           std::shared_ptr<const void> keep_alive,
                           const std::string& key_path) {
  FLS_ASSIGN_OR_RETURN(std::unique_ptr<ZipReader> zip, ZipReader::Open(bytes));
  std::string prefix;
  bool torchscript = false;
  for (const ZipEntry& entry : zip->entries()) {
    const size_t slash = entry.name.find('/');
    if (slash == std::string::npos || slash == 0) continue;
    const std::string_view rest =
        std::string_view(entry.name).substr(slash + 1);
    if (rest == "data.pkl" && prefix.empty())
      prefix = entry.name.substr(0, slash);
    if (rest == "constants.pkl" || StartsWith(rest, "code/"))
      torchscript = true;
  }
  if (prefix.empty()) {
    return Corrupt("zip holds no '<archive>/data.pkl': not a torch.save file");
  }
  if (torchscript) {
    return Unsupported(
        "this is a TorchScript archive (torch.jit.save); save the "
        "model's state_dict() with torch.save instead");
  }
  bool big_endian = false;
  if (const ZipEntry* order = zip->Find(prefix + "/byteorder")) {
    FLS_ASSIGN_OR_RETURN(ZipEntryBytes data, zip->Read(*order, 16));
    const std::string_view text(
        reinterpret_cast<const char*>(data.bytes.data()), data.bytes.size());
    if (text == "big") {
      big_endian = true;
    } else if (text != "little") {
      return Corrupt("byteorder entry is neither 'little' nor 'big'");
    }
  }
  FLS_ASSIGN_OR_RETURN(
      ZipEntryBytes program,
      zip->Read(*zip->Find(prefix + "/data.pkl"), kMaxPickleBytes));
  Result<PickleDocument> doc = Unpickle(program.bytes);
  if (!doc.ok()) return doc.status().WithContext(prefix + "/data.pkl");

  TensorSet set;
  set.backing.push_back(std::move(keep_alive));
  WalkBudget budget{4 * doc->value_count() + 1024};
  FLS_RETURN_IF_ERROR(Walk(doc->root(), "", 0, &budget,
                           [&](const std::string& path, const PickleValue* v) {
                             switch (v->kind) {
                               case PickleKind::kBool:
                                 set.scalars[path] = v->boolean;
                                 break;
                               case PickleKind::kInt:
                                 set.scalars[path] = v->integer;
                                 break;
                               case PickleKind::kFloat:
                                 set.scalars[path] = v->real;
                                 break;
                               case PickleKind::kString:
                                 set.scalars[path] = v->text;
                                 break;
                               default:
                                 break;
                             }
                             return Status::Ok();
                           }));
  const PickleValue* selected = doc->root();
  if (!key_path.empty()) {
    FLS_ASSIGN_OR_RETURN(selected, Select(doc->root(), key_path));
  }
  StorageTable storages(zip.get(), prefix, big_endian, &set);
  std::set<std::string> names;
  FLS_RETURN_IF_ERROR(
      Walk(selected, "", 0, &budget,
           [&](const std::string& path, const PickleValue* v) -> Status {
             if (v->kind != PickleKind::kTensor) return Status::Ok();
             const std::string name = path.empty() ? "tensor" : path;
             if (!names.insert(name).second) {
               return Corrupt("two tensors are both named '" + name + "'");
             }
             FLS_ASSIGN_OR_RETURN(OwnedTensor tensor,
                                  MakeTensor(name, v->tensor, &storages));
             set.tensors.push_back(std::move(tensor));
             return Status::Ok();
           }));
  if (!key_path.empty() && set.tensors.empty()) {
    return NotFound("key path '" + key_path + "' selects a " +
                    PickleKindName(selected->kind) + " holding no tensors");
  }
  FLS_RETURN_IF_ERROR(AddMetadataScalars(zip.get(), prefix, &set));
  return set;
}

}  // namespace

Result<TensorSet> ParsePth(std::span<const uint8_t> bytes,
                           std::shared_ptr<const void> keep_alive,
                           const std::string& key_path) {
  if (bytes.size() >= 2 && bytes[0] == 0x80) {
    return Unsupported(
        "legacy (pre-1.6) torch.save format is not supported; re-save it in "
        "Python: torch.save(torch.load(path), path, "
        "_use_new_zipfile_serialization=True)");
  }
  if (bytes.size() < 4 || std::memcmp(bytes.data(), "PK\x03\x04", 4) != 0) {
    return Corrupt("not a zip-based torch.save file (no zip signature)");
  }
  try {
    return ParseZip(bytes, std::move(keep_alive), key_path);
  } catch (const std::bad_alloc&) {
    return Corrupt("checkpoint needs more memory than is available");
  } catch (const std::exception& e) {
    return InternalError(std::string("reading checkpoint: ") + e.what());
  }
}

}  // namespace flsentry
