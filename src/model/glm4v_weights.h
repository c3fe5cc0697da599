// Weight preparation shared by the vision tower and the text decoder. Matrices keep the
// checkpoint's dtype (bf16/f16/f32; ops::linear converts in registers), so a plain matrix is a
// zero-copy view of the mapped file; vectors (norms, biases) are upcast to f32 once.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "model/weights.h"

namespace glimpse::model {

// weights.get(name) as a contiguous f32 copy.
Tensor f32_weight(const ModelWeights& weights, const std::string& name);

// The named 2-D weights stacked along rows into one [sum(rows), cols] matrix, so projections of
// the same input run as one GEMM. Keeps the common dtype; mixed dtypes are stacked as f32.
Tensor stacked_weights(const ModelWeights& weights, const std::vector<std::string>& names);

// The named 1-D vectors concatenated into one f32 vector.
Tensor concatenated_f32_vectors(const ModelWeights& weights, const std::vector<std::string>& names);

// Where prepared weights go at load: the device, and the dtype matrices are converted to
// (nullopt: kept as stored). Vectors stay f32.
struct WeightPlacement {
  Device device = Device::kCPU;
  std::optional<DType> matrix_dtype;

  // A 2-D weight matrix in matrix_dtype on device (a no-op view when it is already so).
  Tensor matrix(const Tensor& t) const;
  // An f32 tensor (norms, biases, tables) on device.
  Tensor vector(const Tensor& t) const;
};

}  // namespace glimpse::model
