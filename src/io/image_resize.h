// Bicubic resampling of 8-bit RGB images, bit-identical to Pillow's Image.resize(BICUBIC) (the
// resampler transformers' PIL image processors use): separable a = -0.5 cubic with the support
// widened by the downscale factor (antialiasing), 22-bit fixed-point weights, two separable passes
// (in Pillow 13's order), each rounded and clamped to uint8.
#pragma once

#include "io/image_decode.h"

namespace glimpse::io {

RgbImage resize_bicubic(const RgbImage& image, int32_t out_width, int32_t out_height);

}  // namespace glimpse::io
