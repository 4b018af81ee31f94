// pickle_reader.h — a restricted unpickler for the data.pkl program inside
// torch.save files: the C++ counterpart of Python's
// torch.load(weights_only=True). It understands the binary opcodes of pickle
// protocols 2 to 5 that torch.save emits and a fixed allow-list of globals
// (collections.OrderedDict, torch._utils._rebuild_tensor_v2,
// torch._utils._rebuild_parameter[_with_state], the torch.*Storage classes,
// torch.Size, _codecs.encode). Any other opcode or global is refused by name;
// nothing is ever imported or executed. Storages stay symbolic (their key in
// the archive); resolving them to bytes is the caller's job. No LibTorch.
#ifndef FLSENTRY_TENSOR_PICKLE_READER_H_
#define FLSENTRY_TENSOR_PICKLE_READER_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "tensor/dtype.h"

namespace flsentry {

enum class PickleKind : uint8_t {
  kNone,
  kBool,
  kInt,
  kFloat,
  kString,  // str
  kBytes,   // bytes
  kTuple,
  kList,
  kDict,     // dict or collections.OrderedDict; insertion order kept
  kGlobal,   // an allowed callable or class, not yet called
  kStorage,  // a persistent-id storage reference
  kTensor,   // _rebuild_tensor_v2(...) or an nn.Parameter wrapping one
};

// "None", "int", "dict", "tensor"...
const char* PickleKindName(PickleKind kind);

struct PickleStorage {
  DType dtype = DType::kF32;
  std::string key;       // storage entry is "<archive>/data/<key>"
  std::string location;  // e.g. "cpu", "cuda:0" (informational)
  int64_t numel = 0;     // elements of dtype, as torch.save recorded it
};

struct PickleTensor {
  const struct PickleValue* storage = nullptr;  // kind == kStorage
  int64_t storage_offset = 0;                   // in elements
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;  // in elements, same rank as shape
  bool is_parameter = false;
};

// One value of the unpickled object graph. Values are owned by their
// PickleDocument and may be shared (pickle's memo): a value can appear in
// several containers and containers can even contain themselves, so walk
// the graph with a depth limit.
struct PickleValue {
  PickleKind kind = PickleKind::kNone;
  bool boolean = false;
  int64_t integer = 0;
  double real = 0;
  std::string text;                 // kString, kBytes; kGlobal's
                                    // "module.name"
  std::vector<PickleValue*> items;  // kTuple, kList
  std::vector<std::pair<PickleValue*, PickleValue*>> entries;  // kDict
  PickleStorage storage;                                       // kStorage
  PickleTensor tensor;                                         // kTensor
};

// Bounds on what one program may build, so hostile input cannot exhaust
// memory. Defaults comfortably fit state_dicts with tens of thousands of
// tensors.
struct PickleLimits {
  size_t max_values = size_t{1} << 20;        // values created (~300 B each)
  size_t max_stack = size_t{1} << 20;         // stack entries, all marks
  size_t max_memo = size_t{4} << 20;          // memo entries
  size_t max_string_bytes = size_t{1} << 28;  // one str/bytes value
};

// The result of running one pickle program. Move-only; owns every value.
class PickleDocument {
 public:
  explicit PickleDocument(size_t max_values = 0) : max_values_(max_values) {}
  PickleDocument(PickleDocument&&) = default;
  PickleDocument& operator=(PickleDocument&&) = default;

  // The object the program returned with STOP. Never null after a
  // successful Unpickle.
  const PickleValue* root() const { return root_; }

  // Used by the unpickler. Returns nullptr when the value budget is spent.
  PickleValue* NewValue(PickleKind kind);
  void set_root(const PickleValue* root) { root_ = root; }
  size_t value_count() const { return values_.size(); }

 private:
  std::deque<PickleValue> values_;
  size_t max_values_ = 0;
  const PickleValue* root_ = nullptr;
};

// Runs `program` (the bytes of a data.pkl). Returns kCorrupt for malformed
// or truncated programs and kUnsupported for an opcode or global outside the
// allow-list; messages name the opcode (byte value and pickle name) or the
// global ("os.system") and the byte offset. Never throws.
Result<PickleDocument> Unpickle(std::span<const uint8_t> program,
                                const PickleLimits& limits = {});

}  // namespace flsentry

#endif  // FLSENTRY_TENSOR_PICKLE_READER_H_
