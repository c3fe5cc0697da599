#include "bench/synthetic_image.h"

#include <png.h>

#include <charconv>

#include "core/error.h"

namespace glimpse::bench {

std::vector<uint8_t> synthetic_png(int32_t width, int32_t height, uint64_t variant) {
  if (width <= 0 || height <= 0)
    fail(ErrorKind::kInvalidArgument, "synthetic image {}x{}: sides must be positive", width,
         height);
  std::vector<uint8_t> rgb(size_t(width) * size_t(height) * 3);
  for (int32_t y = 0; y < height; ++y)
    for (int32_t x = 0; x < width; ++x) {
      uint8_t* p = &rgb[(size_t(y) * size_t(width) + size_t(x)) * 3];
      p[0] = uint8_t(int64_t(x) * 255 / width);
      p[1] = uint8_t(int64_t(y) * 255 / height);
      p[2] = uint8_t(((x / 8) ^ (y / 8)) * 16);
    }
  // The variant's 8 bytes go into the red channel of the first 8 pixels (as many as there are).
  for (size_t i = 0; i < 8 && i * 3 < rgb.size(); ++i) rgb[i * 3] = uint8_t(variant >> (8 * i));

  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!info) fail(ErrorKind::kInternal, "libpng: cannot create a writer");
  std::vector<uint8_t> out;
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    fail(ErrorKind::kInternal, "libpng: encoding a {}x{} image failed", width, height);
  }
  png_set_write_fn(
      png, &out,
      [](png_structp p, png_bytep data, png_size_t size) {
        auto* sink = static_cast<std::vector<uint8_t>*>(png_get_io_ptr(p));
        sink->insert(sink->end(), data, data + size);
      },
      nullptr);
  png_set_IHDR(png, info, png_uint_32(width), png_uint_32(height), 8, PNG_COLOR_TYPE_RGB,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_set_compression_level(png, 1);  // fast: images are made outside the timed loops anyway
  png_write_info(png, info);
  for (int32_t y = 0; y < height; ++y) png_write_row(png, &rgb[size_t(y) * size_t(width) * 3]);
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

std::pair<int32_t, int32_t> parse_resolution(const std::string& text) {
  const size_t x = text.find('x');
  int32_t w = 0, h = 0;
  const char* end = text.data() + text.size();
  const bool ok = x != std::string::npos &&
                  std::from_chars(text.data(), text.data() + x, w).ptr == text.data() + x &&
                  std::from_chars(text.data() + x + 1, end, h).ptr == end && w > 0 && h > 0;
  if (!ok)
    fail(ErrorKind::kInvalidArgument, "--resolution '{}': expected WIDTHxHEIGHT, e.g. 1024x768",
         text);
  return {w, h};
}

std::string base64_encode(const std::vector<uint8_t>& bytes) {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const uint32_t n = uint32_t(bytes[i]) << 16 |
                       (i + 1 < bytes.size() ? uint32_t(bytes[i + 1]) << 8 : 0) |
                       (i + 2 < bytes.size() ? uint32_t(bytes[i + 2]) : 0);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[n & 63] : '=';
  }
  return out;
}

std::string data_url(const std::vector<uint8_t>& bytes, const std::string& mime) {
  return "data:" + mime + ";base64," + base64_encode(bytes);
}

}  // namespace glimpse::bench
