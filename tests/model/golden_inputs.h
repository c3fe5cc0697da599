// Golden-case inputs as the model takes them, shared by the CPU and GPU golden tests: the
// processor's pixel_values (all images' patches, one after another) split by image_grid_thw
// (int64 [images, 3]), and a range of tokens' M-RoPE positions.
#pragma once

#include <vector>

#include "core/tensor.h"
#include "model/glm4v.h"

namespace glimpse::model::testing {

inline std::vector<ImageInput> images_by_grid(const Tensor& pixel_values,
                                              const Tensor& image_grid_thw) {
  std::vector<ImageInput> images;
  for (int64_t i = 0, row = 0; i < image_grid_thw.size(0); ++i) {
    const int64_t* g = image_grid_thw.data<int64_t>() + 3 * i;
    const int64_t rows = g[0] * g[1] * g[2];
    images.push_back({pixel_values.slice_rows(row, row + rows), {g[0], g[1], g[2]}});
    row += rows;
  }
  return images;
}

// Columns [begin, end) of an int64 [3, n] position tensor: the positions of tokens begin..end-1.
inline Tensor position_columns(const Tensor& positions, int64_t begin, int64_t end) {
  const int64_t n = positions.size(1);
  Tensor out = Tensor::empty({3, end - begin}, DType::kI64);
  for (int64_t axis = 0; axis < 3; ++axis)
    for (int64_t i = begin; i < end; ++i)
      out.data<int64_t>()[axis * (end - begin) + i - begin] =
          positions.data<int64_t>()[axis * n + i];
  return out;
}

}  // namespace glimpse::model::testing
