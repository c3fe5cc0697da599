// Image decoding: JPEG (libjpeg-turbo), PNG (libpng) and WebP (libwebp) to 8-bit RGB, converted
// the way PIL's Image.convert("RGB") does (alpha dropped, gray replicated, palette looked up),
// since transformers' Glm4v image processor receives PIL images converted that way (16-bit
// grey clamps to 255, other 16-bit layouts keep the high byte, Adobe CMYK JPEGs as PIL inverts
// them). EXIF orientation (JPEG APP1, PNG eXIf, WebP EXIF) is applied as load_image's
// exif_transpose does. Animated WebP is refused (kUnsupported).
//
// The header is read first: images over ImageLimits are refused before any pixel memory is
// allocated (decompression bombs). Corrupt or truncated input throws Error(kCorrupt).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace glimpse::io {

struct ImageLimits {
  int64_t max_pixels = 50'000'000;  // width * height of the encoded image
  int64_t max_bytes = 20 << 20;     // size of the encoded file
};

struct RgbImage {
  int32_t width = 0, height = 0;
  std::vector<uint8_t> pixels;  // RGB8, row-major, width * height * 3 bytes
};

enum class ImageFormat { kJpeg, kPng, kWebp };
const char* to_string(ImageFormat format);

struct ImageHeader {
  ImageFormat format = ImageFormat::kJpeg;
  int32_t width = 0, height = 0;
};

// Sniffs the format from the magic bytes and reads the dimensions without decoding pixels.
// Unknown formats throw Error(kUnsupported); a damaged header throws Error(kCorrupt).
ImageHeader read_image_header(std::span<const uint8_t> bytes);

// Decodes a JPEG, PNG or WebP. Throws Error(kLimitExceeded) when the file or its pixel count is
// over `limits` (checked from the header, before decoding).
RgbImage decode_image(std::span<const uint8_t> bytes, const ImageLimits& limits);

}  // namespace glimpse::io
