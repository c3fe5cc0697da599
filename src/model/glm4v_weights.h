// Weight preparation shared by the vision tower and the text decoder. Matrices keep the
// checkpoint's dtype (bf16/f16/f32; ops::linear converts in registers), so a plain matrix is a
// zero-copy view of the mapped file; vectors (norms, biases) are upcast to f32 once.
#pragma once

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

}  // namespace glimpse::model
