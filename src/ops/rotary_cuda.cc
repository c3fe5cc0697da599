#include "ops/common_cuda.h"
#include "ops/kernels_cuda.h"
#include "ops/rotary.h"
#include "ops/shape_checks.h"

namespace glimpse::ops::cuda {

void rotary_inplace(Tensor& x, const Tensor& cos, const Tensor& sin, RotaryLayout layout) {
  check_gpu_f32(x, "rotary", "input");
  check_gpu_f32(cos, "rotary", "cos");
  check_gpu_f32(sin, "rotary", "sin");
  check_rotary_shapes(x, cos, sin);
  const int64_t tokens = x.size(0), heads = x.size(1), head_dim = x.size(2);
  const int64_t pairs = cos.size(1);
  const bool interleaved = layout == RotaryLayout::kInterleaved;
  check_launch(cuda_kernels::rotary(x.data<float>(), cos.data<float>(), sin.data<float>(), tokens,
                                    int(heads), int(head_dim), int(pairs), interleaved ? 2 : 1,
                                    interleaved ? 1 : int(pairs)),
               "rotary");
}

}  // namespace glimpse::ops::cuda
