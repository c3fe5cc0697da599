// EXIF orientation, applied as transformers' load_image does (PIL.ImageOps.exif_transpose) before
// the image processor sees the pixels.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "io/image_decode.h"

namespace glimpse::io {

// The EXIF payload (TIFF structure, "Exif\0\0" prefix removed) of the first APP1 Exif segment of
// a JPEG / the EXIF chunk of a WebP; empty when absent or unreadable.
std::vector<uint8_t> jpeg_exif(std::span<const uint8_t> jpeg);
std::vector<uint8_t> webp_exif(std::span<const uint8_t> webp);

// The orientation tag (0x0112) of IFD0, 1 when absent or malformed (PIL ignores bad EXIF too).
int exif_orientation(std::span<const uint8_t> tiff);

// Flips/rotates `image` so that orientation 2..8 becomes upright, as exif_transpose does.
RgbImage apply_exif_orientation(RgbImage image, std::span<const uint8_t> tiff);

}  // namespace glimpse::io
