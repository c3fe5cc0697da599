#include <cmath>

#include "core/thread_pool.h"
#include "ops/convert.h"
#include "ops/elementwise.h"
#include "ops/shape_checks.h"

namespace glimpse::ops {

Activation parse_activation(std::string_view name, std::string_view where) {
  if (name == "silu" || name == "swish") return Activation::kSilu;
  if (name == "gelu") return Activation::kGelu;
  fail(ErrorKind::kUnsupported, "{}: activation \"{}\" is not supported (silu, gelu)", where, name);
}

namespace cpu {
namespace {

inline float apply(Activation act, float v) {
  if (act == Activation::kSilu) return v / (1.0f + std::exp(-v));
  return 0.5f * v * (1.0f + std::erf(v * float(M_SQRT1_2)));
}

constexpr int64_t kGrain = 1 << 14;  // elements per task: enough work to outweigh a wake-up

}  // namespace

// Reads 2·n floats, writes n.
void add_inplace(Tensor& x, const Tensor& y) {
  check_f32(x, "add", "x");
  check_f32(y, "add", "y");
  if (x.shape() != y.shape())
    fail(ErrorKind::kInvalidArgument, "add: shapes {} and {} differ", shape_string(x.shape()),
         shape_string(y.shape()));
  float* a = x.data<float>();
  const float* b = y.data<float>();
  ThreadPool::global().parallel_for(x.numel(), kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) a[i] += b[i];
  });
}

Tensor activation(const Tensor& x, Activation act) {
  check_f32(x, "activation", "input");
  Tensor y = Tensor::empty(x.shape(), DType::kF32);
  const float* in = x.data<float>();
  float* out = y.data<float>();
  ThreadPool::global().parallel_for(x.numel(), kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) out[i] = apply(act, in[i]);
  });
  return y;
}

// Reads 2·n elements per row, writes n; computes in f32 whatever the dtypes.
Tensor gated_activation(const Tensor& gate_up, Activation act, DType out_dtype) {
  check_gated_shapes(gate_up, out_dtype);
  const int64_t rows = gate_up.size(0), n = gate_up.size(1) / 2;
  Tensor y = Tensor::empty({rows, n}, DType::kF32);
  const Tensor wide = convert(gate_up, DType::kF32);
  const float* in = wide.data<float>();
  float* out = y.data<float>();
  ThreadPool::global().parallel_for(rows * n, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t r = i / n, c = i % n;
      out[i] = apply(act, in[r * 2 * n + c]) * in[r * 2 * n + n + c];
    }
  });
  return convert(y, out_dtype);
}

}  // namespace cpu
}  // namespace glimpse::ops
