#include "tensor/pickle_reader.h"

#include <cstring>
#include <string_view>
#include <unordered_map>

#include "tensor/pickle_allowlist.h"

namespace flsentry {
namespace {

using pickle::AllowedGlobal;
using pickle::Callable;
using pickle::FindGlobal;
using pickle::Hex;
using pickle::OpName;
using namespace pickle::opcodes;

const AllowedGlobal* GlobalOf(const PickleValue* value) {
  if (value->kind != PickleKind::kGlobal) return nullptr;
  const size_t dot = value->text.rfind('.');
  return FindGlobal(std::string_view(value->text).substr(0, dot),
                    std::string_view(value->text).substr(dot + 1));
}

class Unpickler {
 public:
  Unpickler(std::span<const uint8_t> program, const PickleLimits& limits)
      : program_(program), limits_(limits), doc_(limits.max_values) {}

  Result<PickleDocument> Run();

 private:
  // --- reading the program ---
  bool Take(size_t n, const uint8_t** out) {
    if (program_.size() - pos_ < n) return false;
    *out = program_.data() + pos_;
    pos_ += n;
    return true;
  }
  Status Truncated() const {
    return Corrupt("pickle program ends in the middle of opcode " +
                   OpDescription());
  }
  std::string OpDescription() const {
    return Hex(op_) + " '" + OpName(op_) + "' at byte " +
           std::to_string(op_pos_);
  }
  template <typename T>
  Status ReadLe(T* out) {
    const uint8_t* p;
    if (!Take(sizeof(T), &p)) return Truncated();
    uint64_t v = 0;
    for (size_t i = sizeof(T); i-- > 0;) v = (v << 8) | p[i];
    *out = static_cast<T>(v);
    return Status::Ok();
  }
  // Reads a newline-terminated line (GLOBAL's operands).
  Status ReadLine(std::string* out) {
    const size_t limit = std::min(program_.size(), pos_ + 256);
    for (size_t i = pos_; i < limit; ++i) {
      if (program_[i] == '\n') {
        out->assign(reinterpret_cast<const char*>(program_.data() + pos_),
                    i - pos_);
        pos_ = i + 1;
        return Status::Ok();
      }
    }
    return Corrupt("pickle GLOBAL at byte " + std::to_string(op_pos_) +
                   " has no newline-terminated name within 256 bytes");
  }

  // --- building values ---
  Result<PickleValue*> New(PickleKind kind) {
    PickleValue* v = doc_.NewValue(kind);
    if (v == nullptr) {
      return Corrupt("pickle builds more than " +
                     std::to_string(limits_.max_values) + " values");
    }
    return v;
  }
  Status Push(PickleValue* v) {
    if (stack_.size() + marks_.size() >= limits_.max_stack) {
      return Corrupt("pickle stack grows beyond " +
                     std::to_string(limits_.max_stack) + " entries");
    }
    stack_.push_back(v);
    return Status::Ok();
  }
  Status PushNew(PickleKind kind, PickleValue** out = nullptr) {
    FLS_ASSIGN_OR_RETURN(PickleValue * v, New(kind));
    if (out != nullptr) *out = v;
    return Push(v);
  }
  Result<PickleValue*> Pop() {
    if (stack_.size() <= StackFloor()) {
      return Corrupt("pickle opcode " + OpDescription() +
                     " pops from an empty stack");
    }
    PickleValue* v = stack_.back();
    stack_.pop_back();
    return v;
  }
  Result<PickleValue*> Top() {
    if (stack_.size() <= StackFloor()) {
      return Corrupt("pickle opcode " + OpDescription() +
                     " needs a value on an empty stack");
    }
    return stack_.back();
  }
  size_t StackFloor() const { return marks_.empty() ? 0 : marks_.back(); }
  // Pops everything above the topmost MARK, and the mark.
  Result<std::vector<PickleValue*>> PopToMark() {
    if (marks_.empty()) {
      return Corrupt("pickle opcode " + OpDescription() + " has no MARK");
    }
    const size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<PickleValue*> items(
        stack_.begin() + static_cast<ptrdiff_t>(mark), stack_.end());
    stack_.resize(mark);
    return items;
  }
  Status Refuse(const std::string& what) const {
    return Unsupported("pickle " + what + " is not allowed (opcode " +
                       OpDescription() + ")");
  }
  Status TypeError(const std::string& what) const {
    return Corrupt("pickle opcode " + OpDescription() + ": " + what);
  }

  Status Step();
  Status PushString(PickleKind kind, uint64_t length);
  Status PushInteger(std::span<const uint8_t> little_endian);
  Status Memoize(uint64_t index);
  Status Recall(uint64_t index);
  Status PushGlobal(const std::string& module, const std::string& name);
  Status Call(PickleValue* callable, PickleValue* args);
  Status RebuildTensor(const PickleValue* args);
  Status PersistentLoad(const PickleValue* pid);
  Status SetItems(PickleValue* dict, const std::vector<PickleValue*>& flat);

  std::span<const uint8_t> program_;
  PickleLimits limits_;
  PickleDocument doc_;
  size_t pos_ = 0;
  size_t op_pos_ = 0;
  uint8_t op_ = 0;
  bool stopped_ = false;
  std::vector<PickleValue*> stack_;
  std::vector<size_t> marks_;  // stack sizes at each MARK
  std::unordered_map<uint64_t, PickleValue*> memo_;
};

Result<PickleDocument> Unpickler::Run() {
  while (!stopped_) {
    if (pos_ >= program_.size()) {
      return Corrupt("pickle program ends without STOP (truncated?)");
    }
    op_pos_ = pos_;
    op_ = program_[pos_++];
    FLS_RETURN_IF_ERROR(Step());
  }
  return std::move(doc_);
}

Status Unpickler::Step() {
  switch (op_) {
    case kProto: {
      const uint8_t* p;
      if (!Take(1, &p)) return Truncated();
      if (*p < 2 || *p > 5) {
        return Unsupported("pickle protocol " + std::to_string(*p) +
                           " is not supported (2 to 5 are)");
      }
      return Status::Ok();
    }
    case kFrame: {
      uint64_t ignored = 0;
      return ReadLe(&ignored);
    }
    case kStop: {
      FLS_ASSIGN_OR_RETURN(PickleValue * root, Pop());
      doc_.set_root(root);
      stopped_ = true;
      return Status::Ok();
    }
    case kMark:
      if (stack_.size() + marks_.size() >= limits_.max_stack) {
        return Corrupt("pickle nests MARKs beyond the stack limit");
      }
      marks_.push_back(stack_.size());
      return Status::Ok();
    case kPop:
      return Pop().status();
    case kPopMark:
      return PopToMark().status();
    case kDup: {
      FLS_ASSIGN_OR_RETURN(PickleValue * top, Top());
      return Push(top);
    }
    case kNone:
      return PushNew(PickleKind::kNone);
    case kNewTrue:
    case kNewFalse: {
      PickleValue* v;
      FLS_RETURN_IF_ERROR(PushNew(PickleKind::kBool, &v));
      v->boolean = op_ == kNewTrue;
      return Status::Ok();
    }
    case kBinInt: {
      uint32_t raw = 0;
      FLS_RETURN_IF_ERROR(ReadLe(&raw));
      PickleValue* v;
      FLS_RETURN_IF_ERROR(PushNew(PickleKind::kInt, &v));
      v->integer = static_cast<int32_t>(raw);
      return Status::Ok();
    }
    case kBinInt1:
    case kBinInt2: {
      uint16_t raw = 0;
      if (op_ == kBinInt1) {
        uint8_t byte = 0;
        FLS_RETURN_IF_ERROR(ReadLe(&byte));
        raw = byte;
      } else {
        FLS_RETURN_IF_ERROR(ReadLe(&raw));
      }
      PickleValue* v;
      FLS_RETURN_IF_ERROR(PushNew(PickleKind::kInt, &v));
      v->integer = raw;
      return Status::Ok();
    }
    case kLong1:
    case kLong4: {
      uint32_t n = 0;
      if (op_ == kLong1) {
        uint8_t byte = 0;
        FLS_RETURN_IF_ERROR(ReadLe(&byte));
        n = byte;
      } else {
        FLS_RETURN_IF_ERROR(ReadLe(&n));
      }
      const uint8_t* p;
      if (!Take(n, &p)) return Truncated();
      return PushInteger({p, n});
    }
    case kBinFloat: {
      const uint8_t* p;
      if (!Take(8, &p)) return Truncated();
      uint64_t bits = 0;
      for (int i = 0; i < 8; ++i) bits = (bits << 8) | p[i];  // big-endian
      PickleValue* v;
      FLS_RETURN_IF_ERROR(PushNew(PickleKind::kFloat, &v));
      std::memcpy(&v->real, &bits, sizeof bits);
      return Status::Ok();
    }
    case kShortBinUnicode:
    case kShortBinBytes: {
      uint8_t n = 0;
      FLS_RETURN_IF_ERROR(ReadLe(&n));
      return PushString(
          op_ == kShortBinBytes ? PickleKind::kBytes : PickleKind::kString, n);
    }
    case kBinUnicode:
    case kBinBytes: {
      uint32_t n = 0;
      FLS_RETURN_IF_ERROR(ReadLe(&n));
      return PushString(
          op_ == kBinBytes ? PickleKind::kBytes : PickleKind::kString, n);
    }
    case kBinUnicode8:
    case kBinBytes8: {
      uint64_t n = 0;
      FLS_RETURN_IF_ERROR(ReadLe(&n));
      return PushString(
          op_ == kBinBytes8 ? PickleKind::kBytes : PickleKind::kString, n);
    }
    case kEmptyTuple:
      return PushNew(PickleKind::kTuple);
    case kTuple1:
    case kTuple2:
    case kTuple3: {
      const size_t n = op_ - kTuple1 + 1u;
      std::vector<PickleValue*> items(n);
      for (size_t i = n; i-- > 0;) {
        FLS_ASSIGN_OR_RETURN(items[i], Pop());
      }
      PickleValue* v;
      FLS_RETURN_IF_ERROR(PushNew(PickleKind::kTuple, &v));
      v->items = std::move(items);
      return Status::Ok();
    }
    case kTuple:
    case kList: {
      FLS_ASSIGN_OR_RETURN(std::vector<PickleValue*> items, PopToMark());
      PickleValue* v;
      FLS_RETURN_IF_ERROR(
          PushNew(op_ == kTuple ? PickleKind::kTuple : PickleKind::kList, &v));
      v->items = std::move(items);
      return Status::Ok();
    }
    case kEmptyList:
      return PushNew(PickleKind::kList);
    case kEmptyDict:
      return PushNew(PickleKind::kDict);
    case kDict: {
      FLS_ASSIGN_OR_RETURN(std::vector<PickleValue*> flat, PopToMark());
      PickleValue* v;
      FLS_RETURN_IF_ERROR(PushNew(PickleKind::kDict, &v));
      return SetItems(v, flat);
    }
    case kAppend:
    case kAppends: {
      std::vector<PickleValue*> items;
      if (op_ == kAppend) {
        FLS_ASSIGN_OR_RETURN(PickleValue * item, Pop());
        items.push_back(item);
      } else {
        FLS_ASSIGN_OR_RETURN(items, PopToMark());
      }
      FLS_ASSIGN_OR_RETURN(PickleValue * list, Top());
      if (list->kind != PickleKind::kList) {
        return TypeError(std::string("appends to a ") +
                         PickleKindName(list->kind));
      }
      list->items.insert(list->items.end(), items.begin(), items.end());
      return Status::Ok();
    }
    case kSetItem:
    case kSetItems: {
      std::vector<PickleValue*> flat;
      if (op_ == kSetItem) {
        FLS_ASSIGN_OR_RETURN(PickleValue * value, Pop());
        FLS_ASSIGN_OR_RETURN(PickleValue * key, Pop());
        flat = {key, value};
      } else {
        FLS_ASSIGN_OR_RETURN(flat, PopToMark());
      }
      FLS_ASSIGN_OR_RETURN(PickleValue * dict, Top());
      return SetItems(dict, flat);
    }
    case kBinPut: {
      uint8_t index = 0;
      FLS_RETURN_IF_ERROR(ReadLe(&index));
      return Memoize(index);
    }
    case kLongBinPut: {
      uint32_t index = 0;
      FLS_RETURN_IF_ERROR(ReadLe(&index));
      return Memoize(index);
    }
    case kMemoize:
      return Memoize(memo_.size());
    case kBinGet: {
      uint8_t index = 0;
      FLS_RETURN_IF_ERROR(ReadLe(&index));
      return Recall(index);
    }
    case kLongBinGet: {
      uint32_t index = 0;
      FLS_RETURN_IF_ERROR(ReadLe(&index));
      return Recall(index);
    }
    case kGlobal: {
      std::string module, name;
      FLS_RETURN_IF_ERROR(ReadLine(&module));
      FLS_RETURN_IF_ERROR(ReadLine(&name));
      return PushGlobal(module, name);
    }
    case kStackGlobal: {
      FLS_ASSIGN_OR_RETURN(PickleValue * name, Pop());
      FLS_ASSIGN_OR_RETURN(PickleValue * module, Pop());
      if (name->kind != PickleKind::kString ||
          module->kind != PickleKind::kString) {
        return TypeError("module and name are not strings");
      }
      return PushGlobal(module->text, name->text);
    }
    case kReduce: {
      FLS_ASSIGN_OR_RETURN(PickleValue * args, Pop());
      FLS_ASSIGN_OR_RETURN(PickleValue * callable, Pop());
      return Call(callable, args);
    }
    case kNewObj: {
      FLS_ASSIGN_OR_RETURN(PickleValue * args, Pop());
      FLS_ASSIGN_OR_RETURN(PickleValue * cls, Pop());
      const AllowedGlobal* g = GlobalOf(cls);
      if (g == nullptr || g->callable != Callable::kOrderedDict) {
        return Refuse(
            std::string("instantiating a ") + PickleKindName(cls->kind) +
            (cls->kind == PickleKind::kGlobal ? " '" + cls->text + "'" : ""));
      }
      return Call(cls, args);
    }
    case kBuild: {
      FLS_ASSIGN_OR_RETURN(PickleValue * state, Pop());
      FLS_ASSIGN_OR_RETURN(PickleValue * target, Top());
      (void)state;
      // state_dict()'s OrderedDict carries `_metadata` (module versions) as
      // instance state, and tensors may carry Python attributes: neither
      // changes tensor data, so the state is dropped.
      if (target->kind != PickleKind::kDict &&
          target->kind != PickleKind::kTensor) {
        return Refuse(std::string("BUILD on a ") +
                      PickleKindName(target->kind));
      }
      return Status::Ok();
    }
    case kBinPersId: {
      FLS_ASSIGN_OR_RETURN(PickleValue * pid, Pop());
      return PersistentLoad(pid);
    }
    default:
      return Unsupported("pickle opcode " + OpDescription() +
                         " is not allowed (only the binary opcodes torch.save "
                         "emits are read)");
  }
}

Status Unpickler::PushString(PickleKind kind, uint64_t length) {
  if (length > limits_.max_string_bytes) {
    return Corrupt("pickle string of " + std::to_string(length) +
                   " bytes exceeds the limit (opcode " + OpDescription() + ")");
  }
  const uint8_t* p;
  if (!Take(length, &p)) return Truncated();
  PickleValue* v;
  FLS_RETURN_IF_ERROR(PushNew(kind, &v));
  v->text.assign(reinterpret_cast<const char*>(p), length);
  return Status::Ok();
}

Status Unpickler::PushInteger(std::span<const uint8_t> le) {
  if (le.size() > 8) {
    return Unsupported("pickle integer of " + std::to_string(le.size()) +
                       " bytes does not fit in 64 bits (opcode " +
                       OpDescription() + ")");
  }
  uint64_t v = 0;
  for (size_t i = le.size(); i-- > 0;) v = (v << 8) | le[i];
  if (!le.empty() && le.size() < 8 && (le.back() & 0x80) != 0) {
    v |= ~uint64_t{0} << (8 * le.size());  // sign-extend
  }
  PickleValue* value;
  FLS_RETURN_IF_ERROR(PushNew(PickleKind::kInt, &value));
  value->integer = static_cast<int64_t>(v);
  return Status::Ok();
}

Status Unpickler::Memoize(uint64_t index) {
  FLS_ASSIGN_OR_RETURN(PickleValue * top, Top());
  if (memo_.size() >= limits_.max_memo && memo_.find(index) == memo_.end()) {
    return Corrupt("pickle memo grows beyond " +
                   std::to_string(limits_.max_memo) + " entries");
  }
  memo_[index] = top;
  return Status::Ok();
}

Status Unpickler::Recall(uint64_t index) {
  auto it = memo_.find(index);
  if (it == memo_.end()) {
    return Corrupt("pickle opcode " + OpDescription() + " reads memo entry " +
                   std::to_string(index) + " that was never stored");
  }
  return Push(it->second);
}

Status Unpickler::PushGlobal(const std::string& module,
                             const std::string& name) {
  if (FindGlobal(module, name) == nullptr) {
    return Unsupported(
        "pickle imports forbidden global '" + module + "." + name +
        "' (opcode " + OpDescription() +
        "); only tensors, storages and plain containers are read");
  }
  PickleValue* v;
  FLS_RETURN_IF_ERROR(PushNew(PickleKind::kGlobal, &v));
  v->text = module + "." + name;
  return Status::Ok();
}

Status Unpickler::SetItems(PickleValue* dict,
                           const std::vector<PickleValue*>& flat) {
  if (dict->kind != PickleKind::kDict) {
    return TypeError(std::string("sets items on a ") +
                     PickleKindName(dict->kind));
  }
  if (flat.size() % 2 != 0) return TypeError("odd number of keys and values");
  for (size_t i = 0; i < flat.size(); i += 2) {
    dict->entries.emplace_back(flat[i], flat[i + 1]);
  }
  return Status::Ok();
}

Status Unpickler::Call(PickleValue* callable, PickleValue* args) {
  const AllowedGlobal* g = GlobalOf(callable);
  if (g == nullptr) {
    return Refuse(std::string("calling a ") + PickleKindName(callable->kind));
  }
  if (args->kind != PickleKind::kTuple) {
    return TypeError("arguments of '" + callable->text + "' are not a tuple");
  }
  const std::vector<PickleValue*>& a = args->items;
  switch (g->callable) {
    case Callable::kOrderedDict:
      if (!a.empty()) return TypeError("OrderedDict called with arguments");
      return PushNew(PickleKind::kDict);
    case Callable::kRebuildTensorV2:
      return RebuildTensor(args);
    case Callable::kRebuildParameter:
    case Callable::kRebuildParameterWithState:
      if (a.size() < 3 || a[0]->kind != PickleKind::kTensor) {
        return TypeError("'" + callable->text +
                         "' expects (tensor, requires_grad, hooks)");
      }
      a[0]->tensor.is_parameter = true;
      return Push(a[0]);
    case Callable::kTorchSize:
      if (a.size() != 1 || a[0]->kind != PickleKind::kTuple) {
        return TypeError("torch.Size expects one tuple");
      }
      return Push(a[0]);
    case Callable::kCodecsEncode: {
      if (a.size() != 2 || a[0]->kind != PickleKind::kString ||
          a[1]->kind != PickleKind::kString || a[1]->text != "latin1") {
        return TypeError("_codecs.encode expects (str, 'latin1')");
      }
      PickleValue* v;
      FLS_RETURN_IF_ERROR(PushNew(PickleKind::kBytes, &v));
      // Each code point below 256 becomes one byte.
      const std::string& s = a[0]->text;
      for (size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<uint8_t>(s[i]);
        if (c < 0x80) {
          v->text.push_back(static_cast<char>(c));
        } else if ((c == 0xc2 || c == 0xc3) && i + 1 < s.size()) {
          v->text.push_back(static_cast<char>(
              ((c & 0x03) << 6) | (static_cast<uint8_t>(s[++i]) & 0x3f)));
        } else {
          return TypeError("_codecs.encode: text is not latin-1");
        }
      }
      return Status::Ok();
    }
    case Callable::kStorageClass:
      return Refuse("constructing storage '" + callable->text + "' directly");
  }
  return InternalError("unhandled allowed global");
}

Status Unpickler::RebuildTensor(const PickleValue* args) {
  const std::vector<PickleValue*>& a = args->items;
  if (a.size() < 6 || a.size() > 7 || a[0]->kind != PickleKind::kStorage ||
      a[1]->kind != PickleKind::kInt || a[2]->kind != PickleKind::kTuple ||
      a[3]->kind != PickleKind::kTuple) {
    return TypeError(
        "_rebuild_tensor_v2 expects (storage, offset, size, "
        "stride, requires_grad, hooks[, metadata])");
  }
  if (a[2]->items.size() != a[3]->items.size()) {
    return TypeError("_rebuild_tensor_v2 size and stride differ in length");
  }
  PickleValue* v;
  FLS_RETURN_IF_ERROR(PushNew(PickleKind::kTensor, &v));
  v->tensor.storage = a[0];
  v->tensor.storage_offset = a[1]->integer;
  for (size_t i = 0; i < a[2]->items.size(); ++i) {
    const PickleValue* size = a[2]->items[i];
    const PickleValue* stride = a[3]->items[i];
    if (size->kind != PickleKind::kInt || stride->kind != PickleKind::kInt) {
      return TypeError("_rebuild_tensor_v2 size or stride is not an int");
    }
    v->tensor.shape.push_back(size->integer);
    v->tensor.strides.push_back(stride->integer);
  }
  return Status::Ok();
}

Status Unpickler::PersistentLoad(const PickleValue* pid) {
  const auto& a = pid->items;
  if (pid->kind != PickleKind::kTuple || a.size() != 5 ||
      a[0]->kind != PickleKind::kString || a[0]->text != "storage") {
    return TypeError(
        "persistent id is not ('storage', type, key, location, numel)");
  }
  const AllowedGlobal* g = GlobalOf(a[1]);
  if (g == nullptr || g->callable != Callable::kStorageClass) {
    return Refuse("persistent id whose storage type is not a torch.*Storage");
  }
  if (a[2]->kind != PickleKind::kString || a[3]->kind != PickleKind::kString ||
      a[4]->kind != PickleKind::kInt || a[4]->integer < 0) {
    return TypeError("persistent id has a malformed key, location or size");
  }
  PickleValue* v;
  FLS_RETURN_IF_ERROR(PushNew(PickleKind::kStorage, &v));
  v->storage.dtype = g->storage_dtype;
  v->storage.key = a[2]->text;
  v->storage.location = a[3]->text;
  v->storage.numel = a[4]->integer;
  return Status::Ok();
}

}  // namespace

const char* PickleKindName(PickleKind kind) {
  switch (kind) {
    case PickleKind::kNone:
      return "None";
    case PickleKind::kBool:
      return "bool";
    case PickleKind::kInt:
      return "int";
    case PickleKind::kFloat:
      return "float";
    case PickleKind::kString:
      return "str";
    case PickleKind::kBytes:
      return "bytes";
    case PickleKind::kTuple:
      return "tuple";
    case PickleKind::kList:
      return "list";
    case PickleKind::kDict:
      return "dict";
    case PickleKind::kGlobal:
      return "global";
    case PickleKind::kStorage:
      return "storage";
    case PickleKind::kTensor:
      return "tensor";
  }
  return "unknown";
}

PickleValue* PickleDocument::NewValue(PickleKind kind) {
  if (values_.size() >= max_values_) return nullptr;
  PickleValue& v = values_.emplace_back();
  v.kind = kind;
  return &v;
}

Result<PickleDocument> Unpickle(std::span<const uint8_t> program,
                                const PickleLimits& limits) {
  try {
    Unpickler unpickler(program, limits);
    return unpickler.Run();
  } catch (const std::bad_alloc&) {
    return Corrupt("pickle program needs more memory than is available");
  } catch (const std::exception& e) {
    return InternalError(std::string("pickle: ") + e.what());
  }
}

}  // namespace flsentry
