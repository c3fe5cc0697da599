#include "io/image_resize.h"

#include <algorithm>
#include <cmath>

#ifdef __x86_64__
#include <immintrin.h>
#endif

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

// Pillow's clip8 (sum >> 22, saturated to 0..255), written so that loops over it vectorise.
inline uint8_t clip8(int32_t sum) {
  return uint8_t(std::clamp(sum >> kPrecisionBits, 0, 255));
}

constexpr int32_t kRoundingHalf = 1 << (kPrecisionBits - 1);
constexpr int kRowBlock = 8;  // rows resampled together: one 8-lane vector per tap

// Rows of a horizontal-pass output buffer: whole blocks, so the last block needs no bounds checks.
size_t padded_rows(int rows) {
  return size_t(rows + kRowBlock - 1) / kRowBlock * kRowBlock;
}

// One block of kRowBlock rows in [x * 3 + channel][row] order (eight bytes per input sample),
// resampled along x into `transposed_out` in the same order.
void resample_row_block(const Coefficients& c, const uint8_t* columns, int out_width,
                        uint8_t* transposed_out) {
  for (int xx = 0; xx < out_width; ++xx) {
    const int32_t* k = &c.weights[size_t(xx) * c.ksize];
    for (int ch = 0; ch < 3; ++ch) {
      const uint8_t* column = columns + (size_t(c.first[xx]) * 3 + ch) * kRowBlock;
      int32_t sums[kRowBlock];
      for (int r = 0; r < kRowBlock; ++r) sums[r] = kRoundingHalf;
      for (int t = 0; t < c.ksize; ++t)
        for (int r = 0; r < kRowBlock; ++r)
          sums[r] += int32_t(column[t * 3 * kRowBlock + r]) * k[t];
      uint8_t* dst = transposed_out + (size_t(xx) * 3 + ch) * kRowBlock;
      for (int r = 0; r < kRowBlock; ++r) dst[r] = clip8(sums[r]);
    }
  }
}

#ifdef __x86_64__
// The same with the eight rows in one AVX2 register. The clip is Pillow's exactly: the sums
// shifted right by 22 lie in [-512, 511], so the signed 16-bit pack is lossless and the unsigned
// 8-bit pack saturates to 0..255.
__attribute__((target("avx2"))) void resample_row_block_avx2(const Coefficients& c,
                                                             const uint8_t* columns, int out_width,
                                                             uint8_t* transposed_out) {
  const __m256i half = _mm256_set1_epi32(kRoundingHalf);
  for (int xx = 0; xx < out_width; ++xx) {
    const int32_t* k = &c.weights[size_t(xx) * c.ksize];
    for (int ch = 0; ch < 3; ++ch) {
      const uint8_t* column = columns + (size_t(c.first[xx]) * 3 + ch) * kRowBlock;
      __m256i sums = half;
      for (int t = 0; t < c.ksize; ++t) {
        const __m256i samples = _mm256_cvtepu8_epi32(
            _mm_loadl_epi64(reinterpret_cast<const __m128i*>(column + t * 3 * kRowBlock)));
        sums = _mm256_add_epi32(sums, _mm256_mullo_epi32(samples, _mm256_set1_epi32(k[t])));
      }
      const __m256i shifted = _mm256_srai_epi32(sums, kPrecisionBits);
      const __m128i words =
          _mm_packs_epi32(_mm256_castsi256_si128(shifted), _mm256_extracti128_si256(shifted, 1));
      _mm_storel_epi64(
          reinterpret_cast<__m128i*>(transposed_out + (size_t(xx) * 3 + ch) * kRowBlock),
          _mm_packus_epi16(words, words));
    }
  }
}

bool has_avx2() {
  static const bool supported = (__builtin_cpu_init(), __builtin_cpu_supports("avx2"));
  return supported;
}
#endif

// Transposes an 8x8 block of bytes: row j of `src` (src_stride apart) becomes column j of `dst`.
void transpose_8x8(const uint8_t* src, size_t src_stride, uint8_t* dst, size_t dst_stride) {
#ifdef __x86_64__
  __m128i x[8];
  for (int j = 0; j < 8; ++j)
    x[j] = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(src + j * src_stride));
  const __m128i t0 = _mm_unpacklo_epi8(x[0], x[1]), t1 = _mm_unpacklo_epi8(x[2], x[3]);
  const __m128i t2 = _mm_unpacklo_epi8(x[4], x[5]), t3 = _mm_unpacklo_epi8(x[6], x[7]);
  const __m128i u0 = _mm_unpacklo_epi16(t0, t1), u1 = _mm_unpackhi_epi16(t0, t1);
  const __m128i u2 = _mm_unpacklo_epi16(t2, t3), u3 = _mm_unpackhi_epi16(t2, t3);
  const __m128i pairs[4] = {_mm_unpacklo_epi32(u0, u2), _mm_unpackhi_epi32(u0, u2),
                            _mm_unpacklo_epi32(u1, u3), _mm_unpackhi_epi32(u1, u3)};
  for (int r = 0; r < 4; ++r) {
    _mm_storel_epi64(reinterpret_cast<__m128i*>(dst + size_t(2 * r) * dst_stride), pairs[r]);
    _mm_storel_epi64(reinterpret_cast<__m128i*>(dst + size_t(2 * r + 1) * dst_stride),
                     _mm_unpackhi_epi64(pairs[r], pairs[r]));
  }
#else
  for (int j = 0; j < 8; ++j)
    for (int r = 0; r < 8; ++r) dst[r * dst_stride + j] = src[j * src_stride + r];
#endif
}

// `count` bytes of eight rows (`stride` apart) to [byte][row] order, eight bytes per position.
void rows_to_columns(const uint8_t* rows, size_t stride, size_t count, uint8_t* columns) {
  size_t i = 0;
  for (; i + 8 <= count; i += 8)
    transpose_8x8(rows + i, stride, columns + i * kRowBlock, kRowBlock);
  for (; i < count; ++i)
    for (int r = 0; r < kRowBlock; ++r) columns[i * kRowBlock + r] = rows[r * stride + i];
}

// The inverse of rows_to_columns.
void columns_to_rows(const uint8_t* columns, size_t count, uint8_t* rows, size_t stride) {
  size_t i = 0;
  for (; i + 8 <= count; i += 8)
    transpose_8x8(columns + i * kRowBlock, kRowBlock, rows + i, stride);
  for (; i < count; ++i)
    for (int r = 0; r < kRowBlock; ++r) rows[r * stride + i] = columns[i * kRowBlock + r];
}

// Rows [row_begin, row_begin + rows) of `in`, resampled along x into `out` (room for
// padded_rows(rows) rows). Eight rows at a time are transposed so that each tap is one
// multiply-add across the eight rows (one output column's weights serve every row); taps past
// `count` have weight 0 and may read the zero padding after the last column.
void resample_horizontal(const RgbImage& in, int row_begin, int rows, int out_width, uint8_t* out) {
  const Coefficients c = precompute(in.width, out_width);
  const size_t in_row_bytes = size_t(in.width) * 3, out_row_bytes = size_t(out_width) * 3;
  std::vector<uint8_t> columns((in_row_bytes + size_t(c.ksize) * 3) * kRowBlock, 0);
  std::vector<uint8_t> transposed(out_row_bytes * kRowBlock);
  std::vector<uint8_t> last_block;  // the final rows, padded to a whole block
  for (int block = 0; block < rows; block += kRowBlock) {
    uint8_t* src =
        const_cast<uint8_t*>(in.pixels.data()) + size_t(row_begin + block) * in_row_bytes;
    if (rows - block < kRowBlock) {
      last_block.assign(in_row_bytes * kRowBlock, 0);
      std::copy_n(src, size_t(rows - block) * in_row_bytes, last_block.data());
      src = last_block.data();
    }
    rows_to_columns(src, in_row_bytes, in_row_bytes, columns.data());
#ifdef __x86_64__
    if (has_avx2()) {
      resample_row_block_avx2(c, columns.data(), out_width, transposed.data());
    } else {
      resample_row_block(c, columns.data(), out_width, transposed.data());
    }
#else
    resample_row_block(c, columns.data(), out_width, transposed.data());
#endif
    columns_to_rows(transposed.data(), out_row_bytes, out + size_t(block) * out_row_bytes,
                    out_row_bytes);
  }
}

// Resamples `width`-pixel rows along y, handing each output row to `emit`; `row_offset` is the
// input row that `in`'s first row stands for.
__attribute__((target_clones("avx2", "default"))) void resample_vertical(
    const uint8_t* in, int width, const Coefficients& c, int row_offset, int out_height,
    const RowSink& emit) {
  const size_t row_bytes = size_t(width) * 3;
  std::vector<int32_t> sums(row_bytes);
  std::vector<uint8_t> row(row_bytes);
  for (int yy = 0; yy < out_height; ++yy) {
    std::fill(sums.begin(), sums.end(), kRoundingHalf);
    const int32_t* k = &c.weights[size_t(yy) * c.ksize];
    for (int y = 0; y < c.count[yy]; ++y) {
      const uint8_t* src = in + size_t(c.first[yy] - row_offset + y) * row_bytes;
      const int32_t weight = k[y];
      for (size_t i = 0; i < row_bytes; ++i) sums[i] += src[i] * weight;
    }
    for (size_t i = 0; i < row_bytes; ++i) row[i] = clip8(sums[i]);
    emit(yy, row.data());
  }
}

// Scratch for the intermediate image between the passes, kept per thread so that repeated
// resizes of large images do not fault fresh pages in each time (that costs as much as the
// arithmetic); buffers over kKeptScratchBytes are released after use.
class PassScratch {
 public:
  uint8_t* get(size_t bytes) {
    if (buffer_.size() < bytes) buffer_.resize(bytes);
    return buffer_.data();
  }
  void release_if_large() {
    constexpr size_t kKeptScratchBytes = size_t(32) << 20;
    if (buffer_.size() > kKeptScratchBytes) std::vector<uint8_t>().swap(buffer_);
  }

 private:
  std::vector<uint8_t> buffer_;
};

}  // namespace

void resize_bicubic_rows(const RgbImage& image, int32_t out_width, int32_t out_height,
                         PillowPassOrder order, const RowSink& emit) {
  if (out_width <= 0 || out_height <= 0 || image.width <= 0 || image.height <= 0)
    fail(ErrorKind::kInvalidArgument, "resize: cannot resize {}x{} to {}x{}", image.width,
         image.height, out_width, out_height);
  GLIMPSE_ASSERT(image.pixels.size() == size_t(image.width) * image.height * 3);
  thread_local PassScratch scratch;
  const size_t out_row_bytes = size_t(out_width) * 3;
  if (out_height == image.height) {  // one pass (or none): rows come straight out
    const uint8_t* rows = image.pixels.data();
    if (out_width != image.width) {
      uint8_t* wide = scratch.get(out_row_bytes * padded_rows(out_height));
      resample_horizontal(image, 0, image.height, out_width, wide);
      rows = wide;
    }
    for (int y = 0; y < out_height; ++y) emit(y, rows + size_t(y) * out_row_bytes);
    scratch.release_if_large();
    return;
  }
  const Coefficients vertical = precompute(image.height, out_height);
  // The rule was checked against Pillow 13.0 on 300 random size pairs.
  const bool vertical_first = order == PillowPassOrder::kPillow13 && out_width != image.width &&
                              out_height < image.height &&
                              image.height - out_height > 2 * (image.width - out_width);
  if (out_width == image.width) {
    resample_vertical(image.pixels.data(), image.width, vertical, 0, out_height, emit);
  } else if (vertical_first) {
    RgbImage tall{image.width, out_height,
                  std::vector<uint8_t>(size_t(image.width) * 3 * out_height)};
    resample_vertical(image.pixels.data(), image.width, vertical, 0, out_height,
                      [&](int32_t y, const uint8_t* row) {
                        std::copy_n(row, size_t(image.width) * 3,
                                    tall.pixels.data() + size_t(y) * image.width * 3);
                      });
    uint8_t* wide = scratch.get(out_row_bytes * padded_rows(out_height));
    resample_horizontal(tall, 0, out_height, out_width, wide);
    for (int y = 0; y < out_height; ++y) emit(y, wide + size_t(y) * out_row_bytes);
  } else {
    // As Pillow does: the horizontal pass covers only the input rows the vertical pass reads.
    const int first_row = vertical.first.front();
    const int last_row = vertical.first.back() + vertical.count.back();
    uint8_t* wide = scratch.get(out_row_bytes * padded_rows(last_row - first_row));
    resample_horizontal(image, first_row, last_row - first_row, out_width, wide);
    resample_vertical(wide, out_width, vertical, first_row, out_height, emit);
  }
  scratch.release_if_large();
}

RgbImage resize_bicubic(const RgbImage& image, int32_t out_width, int32_t out_height,
                        PillowPassOrder order) {
  RgbImage out{out_width, out_height, {}};
  out.pixels.resize(size_t(std::max(out_width, 0)) * size_t(std::max(out_height, 0)) * 3);
  resize_bicubic_rows(image, out_width, out_height, order, [&](int32_t y, const uint8_t* row) {
    std::copy_n(row, size_t(out_width) * 3, out.pixels.data() + size_t(y) * out_width * 3);
  });
  return out;
}

}  // namespace glimpse::io
