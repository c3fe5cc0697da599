#include "ops/grid_sample.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "ops_test_util.h"

namespace glimpse::ops {
namespace {

using testing::random_tensor;
using testing::relative_l2;

// torch's bicubic grid_sample written out separably in double: four horizontal cubic
// interpolations, then one vertical; taps clamped into the map (border padding).
double cubic(double a, double b, double c, double d, double t) {
  const double A = -0.75;
  auto near = [&](double x) { return ((A + 2) * x - (A + 3)) * x * x + 1; };
  auto far = [&](double x) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; };
  return a * far(t + 1) + b * near(t) + c * near(1 - t) + d * far(2 - t);
}

std::vector<double> reference_sample(const Tensor& map, const Tensor& points) {
  const int64_t H = map.size(0), W = map.size(1), C = map.size(2);
  auto at = [&](int64_t y, int64_t x, int64_t c) {
    y = std::clamp<int64_t>(y, 0, H - 1);
    x = std::clamp<int64_t>(x, 0, W - 1);
    return double(map.data<float>()[(y * W + x) * C + c]);
  };
  std::vector<double> out;
  for (int64_t p = 0; p < points.size(0); ++p) {
    const double ix = ((points.data<float>()[2 * p] + 1.0) * W - 1) / 2;
    const double iy = ((points.data<float>()[2 * p + 1] + 1.0) * H - 1) / 2;
    const auto x0 = int64_t(std::floor(ix)), y0 = int64_t(std::floor(iy));
    for (int64_t c = 0; c < C; ++c) {
      double rows[4];
      for (int64_t j = 0; j < 4; ++j) {
        const int64_t y = y0 - 1 + j;
        rows[j] = cubic(at(y, x0 - 1, c), at(y, x0, c), at(y, x0 + 1, c), at(y, x0 + 2, c),
                        ix - double(x0));
      }
      out.push_back(cubic(rows[0], rows[1], rows[2], rows[3], iy - double(y0)));
    }
  }
  return out;
}

TEST(BicubicGridSample, MatchesReferenceInsideAndAtTheBorder) {
  const Tensor map = random_tensor({5, 7, 3}, 1);
  // Points span past the edges so border clamping is exercised.
  Tensor points = random_tensor({40, 2}, 2, 0.7f);
  points.data<float>()[0] = -1.0f, points.data<float>()[1] = 1.0f;
  EXPECT_LT(relative_l2(bicubic_grid_sample(map, points), reference_sample(map, points)), 1e-6);
}

TEST(BicubicGridSample, CellCentresOfTheSameGridReturnTheMap) {
  const int64_t H = 4, W = 6, C = 5;
  const Tensor map = random_tensor({H, W, C}, 3);
  std::vector<float> xy;
  std::vector<double> expected;
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x) {
      xy.push_back((float(x) + 0.5f) / float(W) * 2 - 1);
      xy.push_back((float(y) + 0.5f) / float(H) * 2 - 1);
      for (int64_t c = 0; c < C; ++c) expected.push_back(map.data<float>()[(y * W + x) * C + c]);
    }
  const Tensor points = Tensor::from_vector(xy, {H * W, 2});
  EXPECT_LT(relative_l2(bicubic_grid_sample(map, points), expected), 1e-6);
}

}  // namespace
}  // namespace glimpse::ops
