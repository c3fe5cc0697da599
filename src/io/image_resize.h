// Bicubic resampling of 8-bit RGB images, bit-identical to Pillow's Image.resize(BICUBIC) (the
// resampler transformers' PIL image processors use): separable a = -0.5 cubic with the support
// widened by the downscale factor (antialiasing), 22-bit fixed-point weights, two separable passes,
// each rounded and clamped to uint8.
#pragma once

#include <functional>

#include "io/image_decode.h"

namespace glimpse::io {

// The order of the two passes, which changes the rounding in between (by up to a few levels).
// Pillow up to 12 always resamples horizontally first; Pillow 13 (python-pillow/Pillow#9549)
// resamples vertically first when the height shrinks by more than twice as many pixels as the
// width.
enum class PillowPassOrder { kPillow12, kPillow13 };

RgbImage resize_bicubic(const RgbImage& image, int32_t out_width, int32_t out_height,
                        PillowPassOrder order);

// Receives output row `y` (out_width * 3 bytes, valid only during the call).
using RowSink = std::function<void(int32_t y, const uint8_t* row)>;

// The same resize, handing out rows in order instead of storing the image (the preprocessor
// normalises and patchifies each row as it comes, without a resized copy).
void resize_bicubic_rows(const RgbImage& image, int32_t out_width, int32_t out_height,
                         PillowPassOrder order, const RowSink& emit);

}  // namespace glimpse::io
