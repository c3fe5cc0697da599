#include <cstring>

#include "core/device_copy.h"
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

RotaryTables rotary_tables(const Tensor& positions, std::span<const int32_t> pair_axis,
                           std::span<const float> inv_freq) {
  check_rotary_table_inputs(positions, pair_axis, inv_freq);
  const int64_t n = positions.size(1), pairs = int64_t(inv_freq.size());
  RotaryTables t{Tensor::empty({n, pairs}, DType::kF32, Device::kCUDA),
                 Tensor::empty({n, pairs}, DType::kF32, Device::kCUDA)};
  if (n == 0 || pairs == 0) return t;
  // One upload: the positions, then each pair's axis (int32) and frequency (f32).
  Tensor staged = Tensor::empty({positions.numel() + pairs}, DType::kI64);
  std::memcpy(staged.raw_data(), positions.raw_data(), positions.nbytes());
  auto* pair_words = reinterpret_cast<std::byte*>(staged.data<int64_t>() + positions.numel());
  std::memcpy(pair_words, pair_axis.data(), pair_axis.size_bytes());
  std::memcpy(pair_words + pair_axis.size_bytes(), inv_freq.data(), inv_freq.size_bytes());
  const Tensor inputs = to_device(staged, Device::kCUDA);
  const int64_t* device_positions = inputs.data<int64_t>();
  const auto* device_axis = reinterpret_cast<const int32_t*>(device_positions + positions.numel());
  const auto* device_freq = reinterpret_cast<const float*>(device_axis + pairs);
  check_launch(cuda_kernels::rotary_tables(device_positions, device_axis, device_freq,
                                           t.cos.data<float>(), t.sin.data<float>(), n, int(pairs)),
               "rotary_tables");
  return t;
}

RotaryTables rotary_tables_on_device(const Tensor& positions, const Tensor& pair_axis,
                                     const Tensor& inv_freq) {
  const int64_t pairs = inv_freq.numel();
  if (positions.dtype() != DType::kI64 || positions.dim() != 2 || pair_axis.dtype() != DType::kI32 ||
      inv_freq.dtype() != DType::kF32 || pair_axis.numel() != pairs)
    fail(ErrorKind::kInvalidArgument,
         "rotary_tables: positions I64 [axes, n], pair_axis I32 and inv_freq F32 of one length "
         "expected, got {}, {} and {}",
         shape_string(positions.shape()), shape_string(pair_axis.shape()),
         shape_string(inv_freq.shape()));
  for (const Tensor* t : {&positions, &pair_axis, &inv_freq})
    check_on_gpu(*t, "rotary_tables", "input");
  const int64_t n = positions.size(1);
  RotaryTables t{Tensor::empty({n, pairs}, DType::kF32, Device::kCUDA),
                 Tensor::empty({n, pairs}, DType::kF32, Device::kCUDA)};
  if (n == 0 || pairs == 0) return t;
  check_launch(cuda_kernels::rotary_tables(positions.data<int64_t>(), pair_axis.data<int32_t>(),
                                           inv_freq.data<float>(), t.cos.data<float>(),
                                           t.sin.data<float>(), n, int(pairs)),
               "rotary_tables");
  return t;
}

}  // namespace glimpse::ops::cuda
