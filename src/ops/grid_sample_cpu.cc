#include <algorithm>
#include <array>
#include <cmath>

#include "core/thread_pool.h"
#include "ops/grid_sample.h"
#include "ops/shape_checks.h"

namespace glimpse::ops::cpu {
namespace {

// Keys' cubic convolution weights for the 4 taps around fractional offset t, with torch's A =
// -0.75.
std::array<float, 4> cubic_weights(float t) {
  constexpr float A = -0.75f;
  auto near = [](float x) { return ((A + 2) * x - (A + 3)) * x * x + 1; };       // |x| <= 1
  auto far = [](float x) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; };  // 1 < |x| < 2
  return {far(t + 1), near(t), near(1 - t), far(2 - t)};
}

}  // namespace

// Per point: 16 taps × channels multiply-adds, reading 16 rows of the map.
Tensor bicubic_grid_sample(const Tensor& map, const Tensor& points) {
  check_f32(map, "bicubic_grid_sample", "map");
  check_f32(points, "bicubic_grid_sample", "points");
  check_grid_sample_shapes(map, points);
  const int64_t height = map.size(0), width = map.size(1), channels = map.size(2),
                n = points.size(0);
  Tensor out = Tensor::empty({n, channels}, DType::kF32);
  const float* src = map.data<float>();
  const float* xy = points.data<float>();
  float* dst = out.data<float>();
  ThreadPool::global().parallel_for(n, 16, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      // Unnormalise with align_corners=False: -1 → -0.5, 1 → size - 0.5 (cell centres at integers).
      const float ix = ((xy[2 * p] + 1) * float(width) - 1) / 2;
      const float iy = ((xy[2 * p + 1] + 1) * float(height) - 1) / 2;
      const float x0 = std::floor(ix), y0 = std::floor(iy);
      const std::array<float, 4> wx = cubic_weights(ix - x0), wy = cubic_weights(iy - y0);
      float* row_out = dst + p * channels;
      std::fill(row_out, row_out + channels, 0.0f);
      for (int dy = 0; dy < 4; ++dy) {
        // Border padding clamps every tap into the map.
        const int64_t y = std::clamp(int64_t(y0) - 1 + dy, int64_t(0), height - 1);
        for (int dx = 0; dx < 4; ++dx) {
          const int64_t x = std::clamp(int64_t(x0) - 1 + dx, int64_t(0), width - 1);
          const float weight = wy[size_t(dy)] * wx[size_t(dx)];
          const float* tap = src + (y * width + x) * channels;
          for (int64_t c = 0; c < channels; ++c) row_out[c] += weight * tap[c];
        }
      }
    }
  });
  return out;
}

}  // namespace glimpse::ops::cpu
