// libFuzzer target: decode_image on arbitrary bytes (JPEG, PNG, WebP, EXIF orientation). Any
// input must either decode to a consistent RGB image or throw glimpse::Error; crashes, leaks,
// UB and hangs are findings. Seeds: fuzz/corpus/image_fuzz/ (small valid and damaged files).
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/error.h"
#include "io/image_decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  glimpse::io::ImageLimits limits;
  limits.max_pixels = 1 << 20;  // keeps each run fast; the limit path itself is exercised too
  try {
    const auto image = glimpse::io::decode_image(std::span<const uint8_t>(data, size), limits);
    if (image.width <= 0 || image.height <= 0 ||
        image.pixels.size() != size_t(image.width) * size_t(image.height) * 3)
      __builtin_trap();
  } catch (const glimpse::Error&) {
  }
  return 0;
}
