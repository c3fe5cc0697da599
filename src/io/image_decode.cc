#include "io/image_decode.h"

#include <png.h>
#include <turbojpeg.h>
#include <webp/decode.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "core/error.h"
#include "io/image_exif.h"

namespace glimpse::io {
namespace {

bool starts_with(std::span<const uint8_t> bytes, std::string_view magic, size_t offset = 0) {
  return bytes.size() >= offset + magic.size() &&
         std::memcmp(bytes.data() + offset, magic.data(), magic.size()) == 0;
}

std::optional<ImageFormat> sniff_format(std::span<const uint8_t> bytes) {
  if (starts_with(bytes, "\xFF\xD8\xFF")) return ImageFormat::kJpeg;
  if (starts_with(bytes, "\x89PNG\r\n\x1A\n")) return ImageFormat::kPng;
  if (starts_with(bytes, "RIFF") && starts_with(bytes, "WEBP", 8)) return ImageFormat::kWebp;
  return std::nullopt;
}

// ---- JPEG (TurboJPEG) ----

using TjHandle = std::unique_ptr<void, decltype([](void* h) { tjDestroy(h); })>;

struct JpegInfo {
  int width = 0, height = 0, colorspace = 0;
};

JpegInfo jpeg_header(tjhandle handle, std::span<const uint8_t> bytes) {
  JpegInfo info;
  int subsampling = 0;
  if (tjDecompressHeader3(handle, bytes.data(), static_cast<unsigned long>(bytes.size()),
                          &info.width, &info.height, &subsampling, &info.colorspace) != 0)
    fail(ErrorKind::kCorrupt, "JPEG header: {}", tjGetErrorStr2(handle));
  return info;
}

// PIL reads Adobe CMYK JPEGs inverted ("CMYK;I") and converts CMYK to RGB as
// 255 - (c + k - c*k/255) per channel, with its rounded divide by 255.
uint8_t pil_cmyk_channel(uint8_t inverted_c, uint8_t inverted_k) {
  const int c = 255 - inverted_c, black = 255 - inverted_k;
  const int nk = 255 - black;
  const int product = c * nk + 128;
  return static_cast<uint8_t>(std::clamp(nk - (((product >> 8) + product) >> 8), 0, 255));
}

void check_jpeg_result(tjhandle handle, int result) {
  if (result == 0) return;
  const std::string message = tjGetErrorStr2(handle);
  // libjpeg warns (and fills grey) on data that ends early; PIL refuses such files as truncated.
  // Other warnings (e.g. extraneous bytes between markers) are tolerated by PIL and by us.
  if (tjGetErrorCode(handle) == TJERR_WARNING && message.find("Premature end") == std::string::npos)
    return;
  fail(ErrorKind::kCorrupt, "JPEG data: {}", message);
}

RgbImage decode_jpeg(std::span<const uint8_t> bytes) {
  TjHandle handle(tjInitDecompress());
  if (!handle) fail(ErrorKind::kInternal, "JPEG: cannot create a TurboJPEG decoder");
  const JpegInfo info = jpeg_header(handle.get(), bytes);
  RgbImage image{info.width, info.height, {}};
  const size_t pixels = size_t(info.width) * size_t(info.height);
  // Accurate DCT and fancy upsampling (the defaults) are what PIL decodes with; LIMITSCANS bounds
  // the work of hostile progressive files.
  const int flags = TJFLAG_LIMITSCANS;
  if (info.colorspace == TJCS_CMYK || info.colorspace == TJCS_YCCK) {
    std::vector<uint8_t> cmyk(pixels * 4);
    check_jpeg_result(handle.get(),
                      tjDecompress2(handle.get(), bytes.data(), bytes.size(), cmyk.data(),
                                    info.width, 0, info.height, TJPF_CMYK, flags));
    image.pixels.resize(pixels * 3);
    for (size_t i = 0; i < pixels; ++i)
      for (int c = 0; c < 3; ++c)
        image.pixels[i * 3 + c] = pil_cmyk_channel(cmyk[i * 4 + c], cmyk[i * 4 + 3]);
    return image;
  }
  image.pixels.resize(pixels * 3);
  check_jpeg_result(handle.get(),
                    tjDecompress2(handle.get(), bytes.data(), bytes.size(), image.pixels.data(),
                                  info.width, 0, info.height, TJPF_RGB, flags));
  return image;
}

// ---- PNG (libpng) ----

struct PngReader {
  std::span<const uint8_t> bytes;
  size_t offset = 0;
  std::string error;
};

[[noreturn]] void png_error_handler(png_structp png, png_const_charp message) {
  auto* reader = static_cast<PngReader*>(png_get_error_ptr(png));
  reader->error = message;
  png_longjmp(png, 1);
}

void png_warning_handler(png_structp, png_const_charp) {}

void png_read_from_span(png_structp png, png_bytep out, size_t length) {
  auto* reader = static_cast<PngReader*>(png_get_io_ptr(png));
  if (length > reader->bytes.size() - reader->offset) png_error(png, "file is truncated");
  std::memcpy(out, reader->bytes.data() + reader->offset, length);
  reader->offset += length;
}

struct PngHandles {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~PngHandles() { png_destroy_read_struct(&png, info ? &info : nullptr, nullptr); }
};

// libpng reports errors by longjmp; each call that may fail runs inside one of these small
// frames, which hold no C++ objects, and returns false instead (message in PngReader::error).
bool png_read_header(png_structp png, png_infop info) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_info(png, info);
  return true;
}

// PIL opens 16-bit grey as mode I;16 and converts it to RGB by clamping to 255 (done by the
// caller on the 16-bit samples); every other 16-bit layout it reads as 8 bits by keeping the high
// byte, as png_set_strip_16 does. Alpha is dropped without compositing, as convert("RGB") does.
bool png_set_rgb_transforms(png_structp png, png_infop info, bool gray16) {
  if (setjmp(png_jmpbuf(png))) return false;
  if (gray16) {
    png_set_swap(png);  // host-order (little-endian) 16-bit samples
  } else {
    png_set_strip_16(png);
    png_set_gray_to_rgb(png);
  }
  png_set_palette_to_rgb(png);
  png_set_expand_gray_1_2_4_to_8(png);
  png_set_strip_alpha(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  return true;
}

bool png_read_rows(png_structp png, png_bytep* rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_image(png, rows);
  return true;
}

RgbImage decode_png(std::span<const uint8_t> bytes, const ImageLimits& limits) {
  PngReader reader{bytes, 0, {}};
  PngHandles handles;
  handles.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &reader, png_error_handler,
                                       png_warning_handler);
  if (!handles.png) fail(ErrorKind::kInternal, "PNG: cannot create a libpng reader");
  handles.info = png_create_info_struct(handles.png);
  if (!handles.info) fail(ErrorKind::kInternal, "PNG: cannot create a libpng info struct");
  png_set_read_fn(handles.png, &reader, png_read_from_span);
  const auto side_limit =
      static_cast<png_uint_32>(std::min<int64_t>(limits.max_pixels, 0x7fffffff));
  png_set_user_limits(handles.png, side_limit, side_limit);

  if (!png_read_header(handles.png, handles.info))
    fail(ErrorKind::kCorrupt, "PNG: {}", reader.error);
  const png_uint_32 width = png_get_image_width(handles.png, handles.info);
  const png_uint_32 height = png_get_image_height(handles.png, handles.info);
  const int bit_depth = png_get_bit_depth(handles.png, handles.info);
  const int color_type = png_get_color_type(handles.png, handles.info);
  if (int64_t(width) * int64_t(height) > limits.max_pixels)
    fail(ErrorKind::kLimitExceeded, "PNG: {}x{} is over the limit of {} pixels", width, height,
         limits.max_pixels);
  png_bytep exif_data = nullptr;
  png_uint_32 exif_size = 0;
  std::vector<uint8_t> exif;
  if (png_get_eXIf_1(handles.png, handles.info, &exif_size, &exif_data) && exif_data)
    exif.assign(exif_data, exif_data + exif_size);

  const bool gray16 = bit_depth == 16 && color_type == PNG_COLOR_TYPE_GRAY;
  if (!png_set_rgb_transforms(handles.png, handles.info, gray16))
    fail(ErrorKind::kCorrupt, "PNG: {}", reader.error);
  const size_t row_bytes = png_get_rowbytes(handles.png, handles.info);
  if (row_bytes != size_t(width) * (gray16 ? 2 : 3))
    fail(ErrorKind::kInternal, "PNG: unexpected row size {} after transforms (colour type {})",
         row_bytes, color_type);

  std::vector<uint8_t> decoded(row_bytes * height);
  std::vector<png_bytep> rows(height);
  for (png_uint_32 y = 0; y < height; ++y) rows[y] = decoded.data() + y * row_bytes;
  if (!png_read_rows(handles.png, rows.data())) fail(ErrorKind::kCorrupt, "PNG: {}", reader.error);

  RgbImage image{int32_t(width), int32_t(height), {}};
  if (gray16) {
    const size_t pixels = size_t(width) * height;
    image.pixels.resize(pixels * 3);
    for (size_t i = 0; i < pixels; ++i) {
      uint16_t sample;
      std::memcpy(&sample, decoded.data() + i * 2, 2);
      std::fill_n(image.pixels.data() + i * 3, 3, uint8_t(std::min<uint16_t>(sample, 255)));
    }
  } else {
    image.pixels = std::move(decoded);
  }
  return apply_exif_orientation(std::move(image), exif);
}

// ---- WebP (libwebp) ----

RgbImage decode_webp(std::span<const uint8_t> bytes, int width, int height) {
  WebPBitstreamFeatures features;
  if (WebPGetFeatures(bytes.data(), bytes.size(), &features) != VP8_STATUS_OK)
    fail(ErrorKind::kCorrupt, "WebP: unreadable bitstream header");
  if (features.has_animation)
    fail(ErrorKind::kUnsupported, "WebP: animated images are not supported");
  RgbImage image{width, height, std::vector<uint8_t>(size_t(width) * size_t(height) * 3)};
  // WebPDecodeRGBInto drops alpha, as PIL's convert("RGB") does.
  if (!WebPDecodeRGBInto(bytes.data(), bytes.size(), image.pixels.data(), image.pixels.size(),
                         width * 3))
    fail(ErrorKind::kCorrupt, "WebP: corrupt or truncated image data");
  return apply_exif_orientation(std::move(image), webp_exif(bytes));
}

}  // namespace

const char* to_string(ImageFormat format) {
  switch (format) {
    case ImageFormat::kJpeg:
      return "JPEG";
    case ImageFormat::kPng:
      return "PNG";
    case ImageFormat::kWebp:
      return "WebP";
  }
  return "unknown";
}

ImageHeader read_image_header(std::span<const uint8_t> bytes) {
  const auto format = sniff_format(bytes);
  if (!format) fail(ErrorKind::kUnsupported, "image: not a JPEG, PNG or WebP file");
  ImageHeader header{*format, 0, 0};
  switch (*format) {
    case ImageFormat::kJpeg: {
      TjHandle handle(tjInitDecompress());
      if (!handle) fail(ErrorKind::kInternal, "JPEG: cannot create a TurboJPEG decoder");
      const JpegInfo info = jpeg_header(handle.get(), bytes);
      header.width = info.width;
      header.height = info.height;
      break;
    }
    case ImageFormat::kPng: {
      // IHDR is the first chunk: 8-byte signature, length, "IHDR", width, height (big-endian).
      if (bytes.size() < 24 || !starts_with(bytes, "IHDR", 12))
        fail(ErrorKind::kCorrupt, "PNG: missing IHDR header");
      const auto be32 = [&](size_t at) {
        return uint32_t(bytes[at]) << 24 | uint32_t(bytes[at + 1]) << 16 |
               uint32_t(bytes[at + 2]) << 8 | uint32_t(bytes[at + 3]);
      };
      const uint32_t width = be32(16), height = be32(20);
      if (width == 0 || height == 0 || width > 0x7fffffff || height > 0x7fffffff)
        fail(ErrorKind::kCorrupt, "PNG: invalid size {}x{}", width, height);
      header.width = int32_t(width);
      header.height = int32_t(height);
      break;
    }
    case ImageFormat::kWebp:
      if (!WebPGetInfo(bytes.data(), bytes.size(), &header.width, &header.height))
        fail(ErrorKind::kCorrupt, "WebP: unreadable header");
      break;
  }
  if (header.width <= 0 || header.height <= 0)
    fail(ErrorKind::kCorrupt, "{}: invalid size {}x{}", to_string(*format), header.width,
         header.height);
  return header;
}

RgbImage decode_image(std::span<const uint8_t> bytes, const ImageLimits& limits) {
  if (int64_t(bytes.size()) > limits.max_bytes)
    fail(ErrorKind::kLimitExceeded, "image: {} bytes is over the limit of {} bytes", bytes.size(),
         limits.max_bytes);
  const ImageHeader header = read_image_header(bytes);
  if (int64_t(header.width) * header.height > limits.max_pixels)
    fail(ErrorKind::kLimitExceeded, "{}: {}x{} is over the limit of {} pixels",
         to_string(header.format), header.width, header.height, limits.max_pixels);
  switch (header.format) {
    case ImageFormat::kJpeg:
      return apply_exif_orientation(decode_jpeg(bytes), jpeg_exif(bytes));
    case ImageFormat::kPng:
      return decode_png(bytes, limits);
    case ImageFormat::kWebp:
      return decode_webp(bytes, header.width, header.height);
  }
  fail(ErrorKind::kInternal, "image: unhandled format");
}

}  // namespace glimpse::io
