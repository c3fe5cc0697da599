#include <cmath>

#include "core/thread_pool.h"
#include "ops/rotary.h"
#include "ops/shape_checks.h"

namespace glimpse::ops::cpu {

// Per token and head: reads and writes rotary_dim floats, 6 FLOPs per pair.
void rotary_inplace(Tensor& x, const Tensor& cos, const Tensor& sin, RotaryLayout layout) {
  check_f32(x, "rotary", "input");
  check_f32(cos, "rotary", "cos");
  check_f32(sin, "rotary", "sin");
  check_rotary_shapes(x, cos, sin);
  const int64_t tokens = x.size(0), heads = x.size(1), head_dim = x.size(2);
  const int64_t pairs = cos.size(1);
  // Feature indices of pair i: (i·first_step, i·first_step + second_offset).
  const int64_t first_step = layout == RotaryLayout::kInterleaved ? 2 : 1;
  const int64_t second_offset = layout == RotaryLayout::kInterleaved ? 1 : pairs;
  float* data = x.data<float>();
  const float* cos_data = cos.data<float>();
  const float* sin_data = sin.data<float>();
  ThreadPool::global().parallel_for(tokens, 4, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const float* c = cos_data + t * pairs;
      const float* s = sin_data + t * pairs;
      for (int64_t h = 0; h < heads; ++h) {
        float* v = data + (t * heads + h) * head_dim;
        for (int64_t i = 0; i < pairs; ++i) {
          const float a = v[i * first_step], b = v[i * first_step + second_offset];
          v[i * first_step] = a * c[i] - b * s[i];
          v[i * first_step + second_offset] = b * c[i] + a * s[i];
        }
      }
    }
  });
}

RotaryTables rotary_tables(const Tensor& positions, std::span<const int32_t> pair_axis,
                           std::span<const float> inv_freq) {
  check_rotary_table_inputs(positions, pair_axis, inv_freq);
  const int64_t n = positions.size(1), pairs = int64_t(inv_freq.size());
  RotaryTables t{Tensor::empty({n, pairs}, DType::kF32), Tensor::empty({n, pairs}, DType::kF32)};
  const int64_t* pos = positions.data<int64_t>();
  float* c = t.cos.data<float>();
  float* s = t.sin.data<float>();
  for (int64_t token = 0; token < n; ++token)
    for (int64_t i = 0; i < pairs; ++i) {
      const float angle = float(pos[pair_axis[size_t(i)] * n + token]) * inv_freq[size_t(i)];
      c[token * pairs + i] = std::cos(angle);
      s[token * pairs + i] = std::sin(angle);
    }
  return t;
}

}  // namespace glimpse::ops::cpu
