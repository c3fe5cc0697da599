#include "ops/common_cuda.h"
#include "ops/grid_sample.h"
#include "ops/kernels_cuda.h"
#include "ops/shape_checks.h"

namespace glimpse::ops::cuda {

Tensor bicubic_grid_sample(const Tensor& map, const Tensor& points) {
  check_gpu_f32(map, "bicubic_grid_sample", "map");
  check_gpu_f32(points, "bicubic_grid_sample", "points");
  check_grid_sample_shapes(map, points);
  const int64_t n = points.size(0), channels = map.size(2);
  Tensor out = Tensor::empty({n, channels}, DType::kF32, Device::kCUDA);
  check_launch(
      cuda_kernels::bicubic_grid_sample(map.data<float>(), map.size(0), map.size(1), channels,
                                        points.data<float>(), n, out.data<float>()),
      "bicubic_grid_sample");
  return out;
}

}  // namespace glimpse::ops::cuda
