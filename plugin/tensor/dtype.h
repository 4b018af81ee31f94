// dtype.h — element types of tensors flsentry reads, their sizes and names,
// and conversion of one element to double. No LibTorch.
#ifndef FLSENTRY_TENSOR_DTYPE_H_
#define FLSENTRY_TENSOR_DTYPE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace flsentry {

// Values are part of no file format; use the names for anything persisted.
enum class DType : uint8_t {
  kF32,
  kF64,
  kF16,
  kBF16,
  kI64,
  kI32,
  kI16,
  kI8,
  kU8,
  kBool,
};

// Bytes per element.
size_t DTypeSize(DType dtype);
// True for kF32, kF64, kF16, kBF16.
bool IsFloating(DType dtype);
// PyTorch's name: "float32", "bfloat16", "int64", "bool"...
std::string_view TorchName(DType dtype);
// safetensors' name: "F32", "BF16", "I64", "BOOL"...
std::string_view SafetensorsName(DType dtype);
std::optional<DType> FromTorchName(std::string_view name);
std::optional<DType> FromSafetensorsName(std::string_view name);

// IEEE binary16 / bfloat16 bit patterns to float (exact).
float HalfToFloat(uint16_t bits);
float BFloat16ToFloat(uint16_t bits);

// Reads element `index` of a contiguous buffer of `dtype` as double.
// REQUIRES: data holds at least index + 1 elements.
double ElementAsDouble(const void* data, DType dtype, size_t index);

}  // namespace flsentry

#endif  // FLSENTRY_TENSOR_DTYPE_H_
