#include "tensor/dtype.h"

#include <cstring>

namespace flsentry {
namespace {

struct DTypeInfo {
  DType dtype;
  size_t size;
  bool floating;
  std::string_view torch_name;
  std::string_view safetensors_name;
};

constexpr DTypeInfo kInfo[] = {
    {DType::kF32, 4, true, "float32", "F32"},
    {DType::kF64, 8, true, "float64", "F64"},
    {DType::kF16, 2, true, "float16", "F16"},
    {DType::kBF16, 2, true, "bfloat16", "BF16"},
    {DType::kI64, 8, false, "int64", "I64"},
    {DType::kI32, 4, false, "int32", "I32"},
    {DType::kI16, 2, false, "int16", "I16"},
    {DType::kI8, 1, false, "int8", "I8"},
    {DType::kU8, 1, false, "uint8", "U8"},
    {DType::kBool, 1, false, "bool", "BOOL"},
};

const DTypeInfo& Info(DType dtype) { return kInfo[static_cast<size_t>(dtype)]; }

template <typename T>
T Load(const void* data, size_t index) {
  T value;
  std::memcpy(&value,
              static_cast<const unsigned char*>(data) + index * sizeof(T),
              sizeof(T));
  return value;
}

}  // namespace

size_t DTypeSize(DType dtype) { return Info(dtype).size; }
bool IsFloating(DType dtype) { return Info(dtype).floating; }
std::string_view TorchName(DType dtype) { return Info(dtype).torch_name; }
std::string_view SafetensorsName(DType dtype) {
  return Info(dtype).safetensors_name;
}

std::optional<DType> FromTorchName(std::string_view name) {
  for (const DTypeInfo& info : kInfo) {
    if (info.torch_name == name) return info.dtype;
  }
  return std::nullopt;
}

std::optional<DType> FromSafetensorsName(std::string_view name) {
  for (const DTypeInfo& info : kInfo) {
    if (info.safetensors_name == name) return info.dtype;
  }
  return std::nullopt;
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;
  uint32_t bits;
  if (exponent == 0x1f) {  // Inf or NaN
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else if (exponent != 0) {  // normal
    bits = sign | ((exponent + 112u) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {  // zero
    bits = sign;
  } else {  // subnormal: renormalise
    exponent = 113;
    while ((mantissa & 0x400u) == 0) {
      mantissa <<= 1;
      --exponent;
    }
    bits = sign | (exponent << 23) | ((mantissa & 0x3ffu) << 13);
  }
  float out;
  std::memcpy(&out, &bits, sizeof out);
  return out;
}

float BFloat16ToFloat(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float out;
  std::memcpy(&out, &bits, sizeof out);
  return out;
}

double ElementAsDouble(const void* data, DType dtype, size_t index) {
  switch (dtype) {
    case DType::kF32:
      return Load<float>(data, index);
    case DType::kF64:
      return Load<double>(data, index);
    case DType::kF16:
      return HalfToFloat(Load<uint16_t>(data, index));
    case DType::kBF16:
      return BFloat16ToFloat(Load<uint16_t>(data, index));
    case DType::kI64:
      return static_cast<double>(Load<int64_t>(data, index));
    case DType::kI32:
      return Load<int32_t>(data, index);
    case DType::kI16:
      return Load<int16_t>(data, index);
    case DType::kI8:
      return Load<int8_t>(data, index);
    case DType::kU8:
      return Load<uint8_t>(data, index);
    case DType::kBool:
      return Load<uint8_t>(data, index) != 0 ? 1.0 : 0.0;
  }
  return 0.0;
}

}  // namespace flsentry
