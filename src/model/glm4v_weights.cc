#include "model/glm4v_weights.h"

#include <cstring>

#include "core/device_copy.h"

namespace glimpse::model {
namespace {

// Rows of `parts` one after another, as one [sum(rows), cols] tensor of their dtype.
Tensor concatenate_rows(const std::vector<Tensor>& parts, int64_t rows, int64_t cols) {
  Tensor joined = Tensor::empty(cols < 0 ? Shape{rows} : Shape{rows, cols}, parts.front().dtype());
  auto* dst = static_cast<std::byte*>(joined.raw_data());
  for (const Tensor& part : parts) {
    std::memcpy(dst, part.raw_data(), part.nbytes());
    dst += part.nbytes();
  }
  return joined;
}

}  // namespace

Tensor f32_weight(const ModelWeights& weights, const std::string& name) {
  return weights.get(name).to_f32();
}

Tensor stacked_weights(const ModelWeights& weights, const std::vector<std::string>& names) {
  std::vector<Tensor> parts;
  bool same_dtype = true;
  for (const std::string& name : names) {
    parts.push_back(weights.get(name));
    const Tensor& part = parts.back();
    if (part.dim() != 2 || part.size(1) != parts.front().size(1))
      fail(ErrorKind::kCorrupt, "{}: shape {} cannot be stacked with {} {}", name,
           shape_string(part.shape()), names.front(), shape_string(parts.front().shape()));
    same_dtype = same_dtype && part.dtype() == parts.front().dtype();
  }
  int64_t rows = 0;
  for (Tensor& part : parts) {
    if (!same_dtype) part = part.to_f32();
    rows += part.size(0);
  }
  return concatenate_rows(parts, rows, parts.front().size(1));
}

Tensor concatenated_f32_vectors(const ModelWeights& weights,
                                const std::vector<std::string>& names) {
  std::vector<Tensor> parts;
  int64_t total = 0;
  for (const std::string& name : names) {
    parts.push_back(f32_weight(weights, name));
    total += parts.back().numel();
  }
  return concatenate_rows(parts, total, -1);
}

Tensor WeightPlacement::matrix(const Tensor& t) const {
  if (!matrix_dtype || *matrix_dtype == t.dtype()) return to_device(t, device);
  if (!is_float_weight(*matrix_dtype))
    fail(ErrorKind::kUnsupported, "weights can be converted to f32, bf16 or f16, not {}",
         dtype_name(*matrix_dtype));
  const Tensor f32 = t.to_f32();
  if (*matrix_dtype == DType::kF32) return to_device(f32, device);
  Tensor converted = Tensor::empty(t.shape(), *matrix_dtype);
  const float* src = f32.data<float>();
  auto* dst = converted.data<uint16_t>();
  for (int64_t i = 0; i < t.numel(); ++i)
    dst[i] = *matrix_dtype == DType::kBF16 ? f32_to_bf16(src[i]) : f32_to_f16(src[i]);
  return to_device(converted, device);
}

Tensor WeightPlacement::vector(const Tensor& t) const {
  return to_device(t, device);
}

}  // namespace glimpse::model
