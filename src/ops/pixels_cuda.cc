#include "ops/common_cuda.h"
#include "ops/kernels_cuda.h"
#include "ops/pixels.h"
#include "ops/shape_checks.h"

namespace glimpse::ops::cuda {

void pixels_from_bytes(const Tensor& bytes, const Tensor& levels, const Tensor& out) {
  check_pixels_from_bytes(bytes, levels, out);
  check_on_gpu(bytes, "pixels_from_bytes", "bytes");
  check_on_gpu(levels, "pixels_from_bytes", "levels");
  check_on_gpu(out, "pixels_from_bytes", "out");
  const int64_t channels = levels.size(0), area = bytes.size(1) / channels;
  check_launch(
      cuda_kernels::pixels_from_bytes(bytes.data<uint8_t>(), levels.data<float>(), out.raw_data(),
                                      float_type(out.dtype()), bytes.size(0), int(channels),
                                      int(area), int(out.size(1) / bytes.size(1))),
      "pixels_from_bytes");
}

}  // namespace glimpse::ops::cuda
