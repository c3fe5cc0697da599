#include <cstring>

#include "core/thread_pool.h"
#include "ops/softmax.h"

namespace glimpse::ops::cpu {

// Per row: three passes over n floats.
Tensor softmax(const Tensor& x) {
  check_f32(x, "softmax", "input");
  if (x.dim() < 1 || x.size(-1) == 0)
    fail(ErrorKind::kInvalidArgument, "softmax: input {} has no last dimension to normalise",
         shape_string(x.shape()));
  const int64_t n = x.size(-1);
  Tensor y = Tensor::empty(x.shape(), DType::kF32);
  std::memcpy(y.data<float>(), x.data<float>(), x.nbytes());
  float* out = y.data<float>();
  ThreadPool::global().parallel_for(x.numel() / n, 8, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) softmax_row(out + r * n, n);
  });
  return y;
}

}  // namespace glimpse::ops::cpu
