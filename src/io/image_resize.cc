#include "io/image_resize.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace glimpse::io {
namespace {

// Pillow's fixed-point precision for 8-bit images: 32 bits minus 8 for the sample and 2 spare.
constexpr int kPrecisionBits = 32 - 8 - 2;
constexpr double kBicubicSupport = 2.0;

double bicubic_filter(double x) {
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// For each output sample: the first input sample it reads and its fixed-point weights
// (ksize of them, zero past `count`).
struct Coefficients {
  int ksize = 0;
  std::vector<int> first, count;
  std::vector<int32_t> weights;  // [out_size][ksize]
};

// Pillow's precompute_coeffs + normalize_coeffs_8bpc, with the same double arithmetic so that the
// rounded weights are identical.
Coefficients precompute(int in_size, int out_size) {
  const double scale = double(float(in_size)) / out_size;
  const double filter_scale = std::max(scale, 1.0);
  const double support = kBicubicSupport * filter_scale;
  Coefficients c;
  c.ksize = int(std::ceil(support)) * 2 + 1;
  c.first.resize(out_size);
  c.count.resize(out_size);
  c.weights.assign(size_t(out_size) * c.ksize, 0);
  std::vector<double> k(c.ksize);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double inverse_scale = 1.0 / filter_scale;
    const int xmin = std::max(int(center - support + 0.5), 0);
    const int xmax = std::min(int(center + support + 0.5), in_size) - xmin;
    double total = 0.0;
    for (int x = 0; x < xmax; ++x) {
      k[x] = bicubic_filter((x + xmin - center + 0.5) * inverse_scale);
      total += k[x];
    }
    for (int x = 0; x < xmax; ++x) {
      const double w = total != 0.0 ? k[x] / total : k[x];
      const double fixed = w * (1 << kPrecisionBits);
      c.weights[size_t(xx) * c.ksize + x] = int32_t(w < 0 ? -0.5 + fixed : 0.5 + fixed);
    }
    c.first[xx] = xmin;
    c.count[xx] = xmax;
  }
  return c;
}

uint8_t clip8(int32_t sum) {
  if (sum >= (1 << kPrecisionBits << 8)) return 255;
  if (sum <= 0) return 0;
  return uint8_t(sum >> kPrecisionBits);
}

// Rows [row_begin, row_begin + rows) of `in`, resampled along x.
RgbImage resample_horizontal(const RgbImage& in, int row_begin, int rows, int out_width) {
  const Coefficients c = precompute(in.width, out_width);
  RgbImage out{out_width, rows, std::vector<uint8_t>(size_t(out_width) * rows * 3)};
  constexpr int32_t kHalf = 1 << (kPrecisionBits - 1);
  for (int y = 0; y < rows; ++y) {
    const uint8_t* src = in.pixels.data() + size_t(row_begin + y) * in.width * 3;
    uint8_t* dst = out.pixels.data() + size_t(y) * out_width * 3;
    for (int xx = 0; xx < out_width; ++xx) {
      const int32_t* k = &c.weights[size_t(xx) * c.ksize];
      const uint8_t* p = src + size_t(c.first[xx]) * 3;
      int32_t r = kHalf, g = kHalf, b = kHalf;
      for (int x = 0; x < c.count[xx]; ++x) {
        r += p[x * 3 + 0] * k[x];
        g += p[x * 3 + 1] * k[x];
        b += p[x * 3 + 2] * k[x];
      }
      dst[xx * 3 + 0] = clip8(r);
      dst[xx * 3 + 1] = clip8(g);
      dst[xx * 3 + 2] = clip8(b);
    }
  }
  return out;
}

// Resamples along y; `row_offset` is the input row that `in`'s first row stands for.
RgbImage resample_vertical(const RgbImage& in, const Coefficients& c, int row_offset,
                           int out_height) {
  const size_t row_bytes = size_t(in.width) * 3;
  RgbImage out{in.width, out_height, std::vector<uint8_t>(row_bytes * out_height)};
  std::vector<int32_t> sums(row_bytes);
  for (int yy = 0; yy < out_height; ++yy) {
    std::fill(sums.begin(), sums.end(), 1 << (kPrecisionBits - 1));
    const int32_t* k = &c.weights[size_t(yy) * c.ksize];
    for (int y = 0; y < c.count[yy]; ++y) {
      const uint8_t* src = in.pixels.data() + size_t(c.first[yy] - row_offset + y) * row_bytes;
      const int32_t weight = k[y];
      for (size_t i = 0; i < row_bytes; ++i) sums[i] += src[i] * weight;  // vectorises
    }
    uint8_t* dst = out.pixels.data() + size_t(yy) * row_bytes;
    for (size_t i = 0; i < row_bytes; ++i) dst[i] = clip8(sums[i]);
  }
  return out;
}

}  // namespace

RgbImage resize_bicubic(const RgbImage& image, int32_t out_width, int32_t out_height,
                        PillowPassOrder order) {
  if (out_width <= 0 || out_height <= 0 || image.width <= 0 || image.height <= 0)
    fail(ErrorKind::kInvalidArgument, "resize: cannot resize {}x{} to {}x{}", image.width,
         image.height, out_width, out_height);
  GLIMPSE_ASSERT(image.pixels.size() == size_t(image.width) * image.height * 3);
  const bool need_horizontal = out_width != image.width;
  const bool need_vertical = out_height != image.height;
  if (!need_horizontal && !need_vertical) return image;
  if (!need_vertical) return resample_horizontal(image, 0, image.height, out_width);

  const Coefficients vertical = precompute(image.height, out_height);
  if (!need_horizontal) return resample_vertical(image, vertical, 0, out_height);
  // The rule was checked against Pillow 13.0 on 300 random size pairs.
  const bool vertical_first = order == PillowPassOrder::kPillow13 && out_height < image.height &&
                              image.height - out_height > 2 * (image.width - out_width);
  if (vertical_first)
    return resample_horizontal(resample_vertical(image, vertical, 0, out_height), 0, out_height,
                               out_width);
  // As Pillow does: the horizontal pass covers only the input rows the vertical pass reads.
  const int first_row = vertical.first.front();
  const int last_row = vertical.first.back() + vertical.count.back();
  const RgbImage wide = resample_horizontal(image, first_row, last_row - first_row, out_width);
  return resample_vertical(wide, vertical, first_row, out_height);
}

}  // namespace glimpse::io
