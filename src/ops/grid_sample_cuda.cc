#include "ops/common_cuda.h"
#include "ops/grid_sample.h"
#include "ops/kernels_cuda.h"

namespace glimpse::ops::cuda {

Tensor bicubic_grid_sample(const Tensor& map, const Tensor& points) {
  check_gpu_f32(map, "bicubic_grid_sample", "map");
  check_gpu_f32(points, "bicubic_grid_sample", "points");
  if (map.dim() != 3 || map.size(0) == 0 || map.size(1) == 0)
    fail(ErrorKind::kInvalidArgument,
         "bicubic_grid_sample: map must be [height, width, channels], got {}",
         shape_string(map.shape()));
  if (points.dim() != 2 || points.size(1) != 2)
    fail(ErrorKind::kInvalidArgument, "bicubic_grid_sample: points must be [n, 2], got {}",
         shape_string(points.shape()));
  const int64_t n = points.size(0), channels = map.size(2);
  Tensor out = Tensor::empty({n, channels}, DType::kF32, Device::kCUDA);
  check_launch(
      cuda_kernels::bicubic_grid_sample(map.data<float>(), map.size(0), map.size(1), channels,
                                        points.data<float>(), n, out.data<float>()),
      "bicubic_grid_sample");
  return out;
}

}  // namespace glimpse::ops::cuda
