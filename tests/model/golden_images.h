// The processor's outputs for a prompt's images as the model's inputs: pixel_values (all images'
// patches, one after another) split by image_grid_thw (int64 [images, 3]). Shared by the CPU and
// GPU golden tests.
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

}  // namespace glimpse::model::testing
