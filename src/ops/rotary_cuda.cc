#include "ops/common_cuda.h"
#include "ops/kernels_cuda.h"
#include "ops/rotary.h"

namespace glimpse::ops::cuda {

void rotary_inplace(Tensor& x, const Tensor& cos, const Tensor& sin, RotaryLayout layout) {
  check_gpu_f32(x, "rotary", "input");
  check_gpu_f32(cos, "rotary", "cos");
  check_gpu_f32(sin, "rotary", "sin");
  if (x.dim() != 3)
    fail(ErrorKind::kInvalidArgument, "rotary: input must be [tokens, heads, head_dim], got {}",
         shape_string(x.shape()));
  const int64_t tokens = x.size(0), heads = x.size(1), head_dim = x.size(2);
  if (cos.dim() != 2 || cos.size(0) != tokens || cos.shape() != sin.shape() ||
      2 * cos.size(1) > head_dim)
    fail(ErrorKind::kInvalidArgument, "rotary: cos {} / sin {} must be [{}, ≤{}]",
         shape_string(cos.shape()), shape_string(sin.shape()), tokens, head_dim / 2);
  const int64_t pairs = cos.size(1);
  const bool interleaved = layout == RotaryLayout::kInterleaved;
  check_launch(cuda_kernels::rotary(x.data<float>(), cos.data<float>(), sin.data<float>(), tokens,
                                    int(heads), int(head_dim), int(pairs), interleaved ? 2 : 1,
                                    interleaved ? 1 : int(pairs)),
               "rotary");
}

}  // namespace glimpse::ops::cuda
