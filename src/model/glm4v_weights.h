// Weight preparation shared by the vision tower and the text decoder: every tensor used in compute
// is upcast to f32 once, at load (see ops/linear_cpu.cc for why).
#pragma once

#include <string>
#include <vector>

#include "model/weights.h"

namespace glimpse::model {

// weights.get(name) as a contiguous f32 copy.
Tensor f32_weight(const ModelWeights& weights, const std::string& name);

// The named 2-D weights stacked along rows into one f32 [sum(rows), cols] matrix, so projections of
// the same input run as one GEMM.
Tensor stacked_f32_weights(const ModelWeights& weights, const std::vector<std::string>& names);

// The named 1-D vectors concatenated into one f32 vector.
Tensor concatenated_f32_vectors(const ModelWeights& weights, const std::vector<std::string>& names);

}  // namespace glimpse::model
