// Bicubic resampling of 8-bit RGB images, bit-identical to Pillow's Image.resize(BICUBIC) (the
// resampler transformers' PIL image processors use): separable a = -0.5 cubic with the support
// widened by the downscale factor (antialiasing), 22-bit fixed-point weights, two separable passes,
// each rounded and clamped to uint8.
#pragma once

#include <cstddef>
#include <cstdint>

#include "io/image_decode.h"

namespace glimpse::io {

// The order of the two passes, which changes the rounding in between (by up to a few levels).
// Pillow up to 12 always resamples horizontally first; Pillow 13 (python-pillow/Pillow#9549)
// resamples vertically first when the height shrinks by more than twice as many pixels as the
// width.
enum class PillowPassOrder { kPillow12, kPillow13 };

RgbImage resize_bicubic(const RgbImage& image, int32_t out_width, int32_t out_height,
                        PillowPassOrder order);

// Receives the resized image one row at a time, in planar form: row y's red samples at
// row(y), green at row(y) + plane_stride, blue at row(y) + 2 * plane_stride (out_width each).
// row(y) is asked for before the row is written and row_done(y) follows once it is; rows come in
// order, and a row's memory need only stay valid until its row_done.
class PlanarRowSink {
 public:
  virtual ~PlanarRowSink() = default;
  virtual uint8_t* row(int32_t y) = 0;
  virtual void row_done(int32_t y) = 0;
};

// The same resize (or, when the size does not change, the image itself) handed out row by row
// without storing the resized image: the preprocessor normalises and patchifies each band of rows
// as it comes. Rows are produced on demand, so only a few input rows' worth of the intermediate
// image is ever held.
void resize_bicubic_planar(const RgbImage& image, int32_t out_width, int32_t out_height,
                           PillowPassOrder order, size_t plane_stride, PlanarRowSink& sink);

// The vector instructions the resize and the patch writer use: the best this CPU has, unless
// lowered with set_image_simd (the tests run every level the CPU supports against the same
// expected bytes). Every level gives identical output.
enum class ImageSimd { kScalar, kAvx2, kAvx512 };
ImageSimd image_simd();
ImageSimd best_image_simd();
// Clamped to best_image_simd(); not meant to be changed while images are being processed.
void set_image_simd(ImageSimd simd);

}  // namespace glimpse::io
