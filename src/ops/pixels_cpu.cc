#include <cstdint>

#include "core/dtype.h"
#include "core/error.h"
#include "ops/pixels.h"
#include "ops/shape_checks.h"

namespace glimpse::ops::cpu {
namespace {

template <typename Store>
void expand(const Tensor& bytes, const Tensor& levels, const Tensor& out, Store store) {
  const int64_t rows = bytes.size(0), channels = levels.size(0);
  const int64_t area = bytes.size(1) / channels, copies = out.size(1) / bytes.size(1);
  const auto* samples = bytes.data<uint8_t>();
  const float* level = levels.data<float>();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t i = 0; i < area; ++i) {
        const float value = level[c * 256 + samples[(r * channels + c) * area + i]];
        for (int64_t t = 0; t < copies; ++t)
          store(((r * channels + c) * copies + t) * area + i, value);
      }
}

}  // namespace

void pixels_from_bytes(const Tensor& bytes, const Tensor& levels, const Tensor& out) {
  check_pixels_from_bytes(bytes, levels, out);
  if (levels.device() != Device::kCPU || out.device() != Device::kCPU)
    fail(ErrorKind::kInvalidArgument,
         "pixels_from_bytes: bytes on the CPU, levels on the {} and "
         "out on the {}: all three must be on one device",
         device_name(levels.device()), device_name(out.device()));
  switch (out.dtype()) {
    case DType::kF32:
      expand(bytes, levels, out, [p = out.data<float>()](int64_t i, float v) { p[i] = v; });
      break;
    case DType::kBF16:
      expand(bytes, levels, out,
             [p = out.data<uint16_t>()](int64_t i, float v) { p[i] = f32_to_bf16(v); });
      break;
    default:
      expand(bytes, levels, out,
             [p = out.data<uint16_t>()](int64_t i, float v) { p[i] = f32_to_f16(v); });
  }
}

}  // namespace glimpse::ops::cpu
