#include "model/glm4v_weights.h"

#include <cstring>

namespace glimpse::model {

Tensor f32_weight(const ModelWeights& weights, const std::string& name) {
  return weights.get(name).to_f32();
}

Tensor stacked_f32_weights(const ModelWeights& weights, const std::vector<std::string>& names) {
  std::vector<Tensor> parts;
  int64_t rows = 0;
  for (const std::string& name : names) {
    parts.push_back(f32_weight(weights, name));
    const Tensor& part = parts.back();
    if (part.dim() != 2 || part.size(1) != parts.front().size(1))
      fail(ErrorKind::kCorrupt, "{}: shape {} cannot be stacked with {} {}", name,
           shape_string(part.shape()), names.front(), shape_string(parts.front().shape()));
    rows += part.size(0);
  }
  Tensor stacked = Tensor::empty({rows, parts.front().size(1)}, DType::kF32);
  auto* dst = static_cast<std::byte*>(stacked.raw_data());
  for (const Tensor& part : parts) {
    std::memcpy(dst, part.raw_data(), part.nbytes());
    dst += part.nbytes();
  }
  return stacked;
}

Tensor concatenated_f32_vectors(const ModelWeights& weights,
                                const std::vector<std::string>& names) {
  std::vector<Tensor> parts;
  int64_t total = 0;
  for (const std::string& name : names) {
    parts.push_back(f32_weight(weights, name));
    total += parts.back().numel();
  }
  Tensor joined = Tensor::empty({total}, DType::kF32);
  auto* dst = static_cast<std::byte*>(joined.raw_data());
  for (const Tensor& part : parts) {
    std::memcpy(dst, part.raw_data(), part.nbytes());
    dst += part.nbytes();
  }
  return joined;
}

}  // namespace glimpse::model
