// pickle_allowlist.h — what the restricted unpickler (pickle_reader.h)
// accepts: the pickle opcode bytes it knows, their names for refusal
// messages, and the globals torch.save's pickles may import. Internal to
// pickle_reader.cc; no LibTorch.
#ifndef FLSENTRY_TENSOR_PICKLE_ALLOWLIST_H_
#define FLSENTRY_TENSOR_PICKLE_ALLOWLIST_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "tensor/dtype.h"

namespace flsentry::pickle {

// Pickle opcode bytes (CPython Lib/pickle.py) the unpickler accepts.
namespace opcodes {
enum Op : uint8_t {
  kMark = '(',
  kStop = '.',
  kPop = '0',
  kPopMark = '1',
  kDup = '2',
  kNone = 'N',
  kBinInt = 'J',
  kBinInt1 = 'K',
  kBinInt2 = 'M',
  kBinFloat = 'G',
  kBinUnicode = 'X',
  kBinBytes = 'B',
  kShortBinBytes = 'C',
  kEmptyTuple = ')',
  kTuple = 't',
  kEmptyList = ']',
  kAppend = 'a',
  kAppends = 'e',
  kList = 'l',
  kEmptyDict = '}',
  kSetItem = 's',
  kSetItems = 'u',
  kDict = 'd',
  kGlobal = 'c',
  kReduce = 'R',
  kBuild = 'b',
  kBinPersId = 'Q',
  kBinPut = 'q',
  kLongBinPut = 'r',
  kBinGet = 'h',
  kLongBinGet = 'j',
  kProto = 0x80,
  kNewObj = 0x81,
  kTuple1 = 0x85,
  kTuple2 = 0x86,
  kTuple3 = 0x87,
  kNewTrue = 0x88,
  kNewFalse = 0x89,
  kLong1 = 0x8a,
  kLong4 = 0x8b,
  kShortBinUnicode = 0x8c,
  kBinUnicode8 = 0x8d,
  kBinBytes8 = 0x8e,
  kStackGlobal = 0x93,
  kMemoize = 0x94,
  kFrame = 0x95,
};
}  // namespace opcodes

// The globals torch.save's pickles may name, and what calling each builds.
enum class Callable {
  kOrderedDict,
  kRebuildTensorV2,
  kRebuildParameter,
  kRebuildParameterWithState,
  kStorageClass,
  kTorchSize,
  kCodecsEncode,
};

struct AllowedGlobal {
  std::string_view module;
  std::string_view name;
  Callable callable;
  DType storage_dtype;  // for kStorageClass
};

// Pickle's name for an opcode byte ("GLOBAL", "REDUCE"), or "unknown".
const char* OpName(uint8_t op);

// "0x63".
std::string Hex(uint8_t byte);

// The allow-list entry for module.name, or nullptr when it is forbidden.
const AllowedGlobal* FindGlobal(std::string_view module, std::string_view name);

}  // namespace flsentry::pickle

#endif  // FLSENTRY_TENSOR_PICKLE_ALLOWLIST_H_
