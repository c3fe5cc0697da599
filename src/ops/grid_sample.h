// Bicubic sampling of a 2-D feature map at normalised points, as torch's
// F.grid_sample(mode="bicubic", align_corners=False, padding_mode="border"). The vision tower
// resamples its learned position table to each image's patch grid with it.
#pragma once

#include "core/tensor.h"
#include "ops/dispatch.h"

namespace glimpse::ops {

namespace cpu {
Tensor bicubic_grid_sample(const Tensor& map, const Tensor& points);
}
namespace cuda {
Tensor bicubic_grid_sample(const Tensor& map, const Tensor& points);
}

// map: f32 [height, width, channels] (channels last); points: f32 [n, 2] as (x, y) in [-1, 1],
// -1 and 1 being the outer edges of the first and last cells. Returns f32 [n, channels].
inline Tensor bicubic_grid_sample(const Tensor& map, const Tensor& points) {
  GLIMPSE_OPS_DISPATCH(map, bicubic_grid_sample, map, points);
}

}  // namespace glimpse::ops
