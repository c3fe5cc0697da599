#include "core/device_copy.h"
#include "ops/convert.h"
#include "ops/elementwise.h"
#include "ops/fused.h"
#include "ops/linear.h"
#include "ops/norms.h"

namespace glimpse::ops::cpu {
namespace {

// Row width of qkv for `heads` + 2·`kv_heads` heads; throws naming the mismatch.
int64_t qkv_head_dim(const Tensor& qkv, int64_t heads, int64_t kv_heads) {
  check_float(qkv, "split_qkv_rotary", "qkv");
  const int64_t slots = heads + 2 * kv_heads;
  if (qkv.dim() != 2 || heads <= 0 || kv_heads <= 0 || qkv.size(1) % slots != 0)
    fail(ErrorKind::kInvalidArgument,
         "split_qkv_rotary: qkv {} must be [n, ({} + 2 × {}) · head_dim]",
         shape_string(qkv.shape()), heads, kv_heads);
  return qkv.size(1) / slots;
}

}  // namespace

Tensor residual_rms_norm(Tensor& hidden, const Tensor& x, const Tensor& x_weight,
                         const Tensor* next_weight, float eps) {
  cpu::add_inplace(hidden, cpu::rms_norm(x, x_weight, eps));
  return next_weight ? cpu::rms_norm(hidden, *next_weight, eps) : Tensor();
}

QkvParts split_qkv_rotary(const Tensor& qkv, int64_t heads, int64_t kv_heads, const Tensor& cos,
                          const Tensor& sin, RotaryLayout layout, DType out) {
  const int64_t d = qkv_head_dim(qkv, heads, kv_heads), n = qkv.size(0);
  const Tensor qkv32 = cpu::convert(qkv, DType::kF32);  // a half qkv is widened exactly
  QkvParts parts{Tensor::empty({n, heads, d}, DType::kF32),
                 Tensor::empty({n, kv_heads, d}, DType::kF32),
                 Tensor::empty({n, kv_heads, d}, DType::kF32)};
  const size_t row = size_t(qkv.size(1)) * sizeof(float);
  const size_t q_bytes = size_t(heads * d) * sizeof(float);
  const size_t kv_bytes = size_t(kv_heads * d) * sizeof(float);
  const auto* src = static_cast<const std::byte*>(qkv32.raw_data());
  copy_rows(parts.q.raw_data(), q_bytes, src, row, q_bytes, size_t(n), Device::kCPU);
  copy_rows(parts.k.raw_data(), kv_bytes, src + q_bytes, row, kv_bytes, size_t(n), Device::kCPU);
  copy_rows(parts.v.raw_data(), kv_bytes, src + q_bytes + kv_bytes, row, kv_bytes, size_t(n),
            Device::kCPU);
  cpu::rotary_inplace(parts.q, cos, sin, layout);
  cpu::rotary_inplace(parts.k, cos, sin, layout);
  return {cpu::convert(parts.q, out), cpu::convert(parts.k, out), cpu::convert(parts.v, out)};
}

Tensor gated_linear(const Tensor& x, const Tensor& gate_up_weight, Activation act, DType out) {
  return cpu::gated_activation(cpu::linear(x, gate_up_weight, nullptr, DType::kF32), act, out);
}

}  // namespace glimpse::ops::cpu
