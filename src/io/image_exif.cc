#include "io/image_exif.h"

#include <cstring>
#include <string_view>

namespace glimpse::io {
namespace {

constexpr std::string_view kExifPrefix{"Exif\0\0", 6};

std::vector<uint8_t> strip_exif_prefix(std::span<const uint8_t> payload) {
  if (payload.size() >= kExifPrefix.size() &&
      std::memcmp(payload.data(), kExifPrefix.data(), kExifPrefix.size()) == 0)
    payload = payload.subspan(kExifPrefix.size());
  return {payload.begin(), payload.end()};
}

}  // namespace

std::vector<uint8_t> jpeg_exif(std::span<const uint8_t> jpeg) {
  size_t at = 2;  // after SOI
  while (at + 4 <= jpeg.size()) {
    if (jpeg[at] != 0xFF) return {};
    const uint8_t marker = jpeg[at + 1];
    if (marker == 0xFF) {  // fill byte
      ++at;
      continue;
    }
    if (marker == 0xDA || marker == 0xD9) return {};  // start of scan / end: no more metadata
    const size_t length = size_t(jpeg[at + 2]) << 8 | jpeg[at + 3];
    if (length < 2 || at + 2 + length > jpeg.size()) return {};
    const auto payload = jpeg.subspan(at + 4, length - 2);
    if (marker == 0xE1 && payload.size() >= kExifPrefix.size() &&
        std::memcmp(payload.data(), kExifPrefix.data(), kExifPrefix.size()) == 0)
      return strip_exif_prefix(payload);
    at += 2 + length;
  }
  return {};
}

std::vector<uint8_t> webp_exif(std::span<const uint8_t> webp) {
  size_t at = 12;  // after "RIFF" size "WEBP"
  while (at + 8 <= webp.size()) {
    const size_t length = size_t(webp[at + 4]) | size_t(webp[at + 5]) << 8 |
                          size_t(webp[at + 6]) << 16 | size_t(webp[at + 7]) << 24;
    if (length > webp.size() - at - 8) return {};
    if (std::memcmp(webp.data() + at, "EXIF", 4) == 0)
      return strip_exif_prefix(webp.subspan(at + 8, length));
    at += 8 + length + (length & 1);  // chunks are padded to even sizes
  }
  return {};
}

int exif_orientation(std::span<const uint8_t> tiff) {
  if (tiff.size() < 8) return 1;
  const bool little = tiff[0] == 'I' && tiff[1] == 'I';
  if (!little && !(tiff[0] == 'M' && tiff[1] == 'M')) return 1;
  const auto u16 = [&](size_t at) -> uint32_t {
    return little ? tiff[at] | tiff[at + 1] << 8 : tiff[at] << 8 | tiff[at + 1];
  };
  const auto u32 = [&](size_t at) -> uint32_t {
    return little ? u16(at) | u16(at + 2) << 16 : u16(at) << 16 | u16(at + 2);
  };
  if (u16(2) != 42) return 1;
  const size_t ifd = u32(4);
  if (ifd > tiff.size() || tiff.size() - ifd < 2) return 1;
  const size_t entries = u16(ifd);
  for (size_t i = 0; i < entries; ++i) {
    const size_t entry = ifd + 2 + i * 12;
    if (entry + 12 > tiff.size()) return 1;
    constexpr uint32_t kOrientationTag = 0x0112, kShortType = 3;
    if (u16(entry) == kOrientationTag && u16(entry + 2) == kShortType) {
      const int value = int(u16(entry + 8));
      return value >= 1 && value <= 8 ? value : 1;
    }
  }
  return 1;
}

RgbImage apply_exif_orientation(RgbImage image, std::span<const uint8_t> tiff) {
  const int orientation = exif_orientation(tiff);
  if (orientation == 1) return image;
  const int64_t in_w = image.width, in_h = image.height;
  const bool swaps_axes = orientation >= 5;  // transpose, rotate 270, transverse, rotate 90
  RgbImage out{int32_t(swaps_axes ? in_h : in_w), int32_t(swaps_axes ? in_w : in_h), {}};
  out.pixels.resize(image.pixels.size());
  for (int64_t y = 0; y < out.height; ++y) {
    for (int64_t x = 0; x < out.width; ++x) {
      int64_t sx = x, sy = y;
      switch (orientation) {
        case 2:
          sx = in_w - 1 - x;
          break;  // mirror left-right
        case 3:
          sx = in_w - 1 - x;
          sy = in_h - 1 - y;
          break;  // rotate 180
        case 4:
          sy = in_h - 1 - y;
          break;  // mirror top-bottom
        case 5:
          sx = y;
          sy = x;
          break;  // transpose
        case 6:
          sx = y;
          sy = in_h - 1 - x;
          break;  // rotate 90 clockwise
        case 7:
          sx = in_w - 1 - y;
          sy = in_h - 1 - x;
          break;  // transverse
        case 8:
          sx = in_w - 1 - y;
          sy = x;
          break;  // rotate 90 counter-clockwise
      }
      std::memcpy(&out.pixels[size_t(y * out.width + x) * 3],
                  &image.pixels[size_t(sy * in_w + sx) * 3], 3);
    }
  }
  return out;
}

}  // namespace glimpse::io
