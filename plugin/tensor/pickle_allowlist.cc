#include "tensor/pickle_allowlist.h"

namespace flsentry::pickle {
namespace {

constexpr AllowedGlobal kAllowedGlobals[] = {
    {"collections", "OrderedDict", Callable::kOrderedDict, DType::kF32},
    {"torch._utils", "_rebuild_tensor_v2", Callable::kRebuildTensorV2,
     DType::kF32},
    {"torch._utils", "_rebuild_parameter", Callable::kRebuildParameter,
     DType::kF32},
    {"torch._utils", "_rebuild_parameter_with_state",
     Callable::kRebuildParameterWithState, DType::kF32},
    {"torch", "Size", Callable::kTorchSize, DType::kF32},
    {"_codecs", "encode", Callable::kCodecsEncode, DType::kF32},
    {"torch", "FloatStorage", Callable::kStorageClass, DType::kF32},
    {"torch", "DoubleStorage", Callable::kStorageClass, DType::kF64},
    {"torch", "HalfStorage", Callable::kStorageClass, DType::kF16},
    {"torch", "BFloat16Storage", Callable::kStorageClass, DType::kBF16},
    {"torch", "LongStorage", Callable::kStorageClass, DType::kI64},
    {"torch", "IntStorage", Callable::kStorageClass, DType::kI32},
    {"torch", "ShortStorage", Callable::kStorageClass, DType::kI16},
    {"torch", "CharStorage", Callable::kStorageClass, DType::kI8},
    {"torch", "ByteStorage", Callable::kStorageClass, DType::kU8},
    {"torch", "BoolStorage", Callable::kStorageClass, DType::kBool},
};

}  // namespace

const char* OpName(uint8_t op) {
  switch (op) {
    case '(':
      return "MARK";
    case '.':
      return "STOP";
    case '0':
      return "POP";
    case '1':
      return "POP_MARK";
    case '2':
      return "DUP";
    case 'F':
      return "FLOAT";
    case 'I':
      return "INT";
    case 'J':
      return "BININT";
    case 'K':
      return "BININT1";
    case 'L':
      return "LONG";
    case 'M':
      return "BININT2";
    case 'N':
      return "NONE";
    case 'P':
      return "PERSID";
    case 'Q':
      return "BINPERSID";
    case 'R':
      return "REDUCE";
    case 'S':
      return "STRING";
    case 'T':
      return "BINSTRING";
    case 'U':
      return "SHORT_BINSTRING";
    case 'V':
      return "UNICODE";
    case 'X':
      return "BINUNICODE";
    case 'a':
      return "APPEND";
    case 'b':
      return "BUILD";
    case 'c':
      return "GLOBAL";
    case 'd':
      return "DICT";
    case '}':
      return "EMPTY_DICT";
    case 'e':
      return "APPENDS";
    case 'g':
      return "GET";
    case 'h':
      return "BINGET";
    case 'i':
      return "INST";
    case 'j':
      return "LONG_BINGET";
    case 'l':
      return "LIST";
    case ']':
      return "EMPTY_LIST";
    case 'o':
      return "OBJ";
    case 'p':
      return "PUT";
    case 'q':
      return "BINPUT";
    case 'r':
      return "LONG_BINPUT";
    case 's':
      return "SETITEM";
    case 't':
      return "TUPLE";
    case ')':
      return "EMPTY_TUPLE";
    case 'u':
      return "SETITEMS";
    case 'G':
      return "BINFLOAT";
    case 'B':
      return "BINBYTES";
    case 'C':
      return "SHORT_BINBYTES";
    case 0x80:
      return "PROTO";
    case 0x81:
      return "NEWOBJ";
    case 0x82:
      return "EXT1";
    case 0x83:
      return "EXT2";
    case 0x84:
      return "EXT4";
    case 0x85:
      return "TUPLE1";
    case 0x86:
      return "TUPLE2";
    case 0x87:
      return "TUPLE3";
    case 0x88:
      return "NEWTRUE";
    case 0x89:
      return "NEWFALSE";
    case 0x8a:
      return "LONG1";
    case 0x8b:
      return "LONG4";
    case 0x8c:
      return "SHORT_BINUNICODE";
    case 0x8d:
      return "BINUNICODE8";
    case 0x8e:
      return "BINBYTES8";
    case 0x8f:
      return "EMPTY_SET";
    case 0x90:
      return "ADDITEMS";
    case 0x91:
      return "FROZENSET";
    case 0x92:
      return "NEWOBJ_EX";
    case 0x93:
      return "STACK_GLOBAL";
    case 0x94:
      return "MEMOIZE";
    case 0x95:
      return "FRAME";
    case 0x96:
      return "BYTEARRAY8";
    case 0x97:
      return "NEXT_BUFFER";
    case 0x98:
      return "READONLY_BUFFER";
    default:
      return "unknown";
  }
}

std::string Hex(uint8_t byte) {
  static const char* kDigits = "0123456789abcdef";
  return std::string("0x") + kDigits[byte >> 4] + kDigits[byte & 15];
}

const AllowedGlobal* FindGlobal(std::string_view module,
                                std::string_view name) {
  for (const AllowedGlobal& g : kAllowedGlobals) {
    if (g.module == module && g.name == name) return &g;
  }
  return nullptr;
}

}  // namespace flsentry::pickle
