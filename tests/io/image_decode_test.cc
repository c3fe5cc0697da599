// Decoding against PIL 13 (tests/io/images/make_fixtures.py writes each fixture and the RGB array
// transformers' load_image makes of it): identical pixels for every layout, although Pillow bundles
// newer libjpeg-turbo/libwebp than Debian 12's (same accurate IDCT, fancy upsampling); refused
// inputs give clear errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/npy.h"
#include "io/image_decode.h"

namespace glimpse::io {
namespace {

namespace fs = std::filesystem;
const fs::path kFixtures = fs::path(GLIMPSE_SOURCE_DIR) / "tests/io/images";

std::vector<uint8_t> read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("missing fixture " + path.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Decodes `name` and compares with its PIL array; returns the largest per-sample difference.
int max_difference_from_pil(const std::string& name) {
  const RgbImage image = decode_image(read_bytes(kFixtures / name), {});
  const Tensor expected = read_npy((kFixtures / (name + ".rgb.npy")).string());
  EXPECT_EQ(expected.shape(), (Shape{image.height, image.width, 3})) << name;
  if (expected.numel() != int64_t(image.pixels.size())) return 256;
  const auto* want = expected.data<uint8_t>();
  int worst = 0;
  for (size_t i = 0; i < image.pixels.size(); ++i)
    worst = std::max(worst, std::abs(int(image.pixels[i]) - int(want[i])));
  return worst;
}

TEST(DecodeImage, PngLayoutsMatchPil) {
  for (const char* name : {"gray16.png", "rgb16.png", "rgba16.png", "gray_alpha.png", "gray1.png",
                           "rgba.png", "palette_trns.png", "exif_rot8.png"})
    EXPECT_EQ(max_difference_from_pil(name), 0) << name;
}

TEST(DecodeImage, JpegMatchesPil) {
  for (const char* name :
       {"photo.jpg", "gray.jpg", "cmyk.jpg", "progressive.jpg", "exif_rot2.jpg", "exif_rot3.jpg",
        "exif_rot4.jpg", "exif_rot5.jpg", "exif_rot6.jpg", "exif_rot7.jpg"})
    EXPECT_EQ(max_difference_from_pil(name), 0) << name;
}

TEST(DecodeImage, WebpMatchesPil) {
  EXPECT_EQ(max_difference_from_pil("lossless_alpha.webp"), 0);
  EXPECT_EQ(max_difference_from_pil("exif_rot6.webp"), 0);
  EXPECT_EQ(max_difference_from_pil("lossy.webp"), 0);
}

TEST(DecodeImage, OrientationSwapsAxes) {
  const RgbImage upright = decode_image(read_bytes(kFixtures / "photo.jpg"), {});
  const RgbImage rotated = decode_image(read_bytes(kFixtures / "exif_rot6.jpg"), {});
  EXPECT_EQ(rotated.width, upright.height);
  EXPECT_EQ(rotated.height, upright.width);
}

ErrorKind decode_error(const std::string& name, const ImageLimits& limits = {}) {
  try {
    decode_image(read_bytes(kFixtures / name), limits);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).size(), 0u);
    return e.kind();
  }
  ADD_FAILURE() << name << " decoded without error";
  return ErrorKind::kInternal;
}

TEST(DecodeImage, RefusesDamagedFiles) {
  EXPECT_EQ(decode_error("truncated.jpg"), ErrorKind::kCorrupt);
  EXPECT_EQ(decode_error("truncated.png"), ErrorKind::kCorrupt);
  EXPECT_EQ(decode_error("bad_crc.png"), ErrorKind::kCorrupt);
  EXPECT_EQ(decode_error("truncated.webp"), ErrorKind::kCorrupt);
  EXPECT_EQ(decode_error("not_an_image.bin"), ErrorKind::kUnsupported);
  EXPECT_THROW(decode_image({}, {}), Error);
}

TEST(DecodeImage, RefusesOversizedImagesFromTheHeader) {
  // 100000 x 100000 declared in a 45-byte file: refused before any pixel memory is allocated.
  EXPECT_EQ(decode_error("bomb.png"), ErrorKind::kLimitExceeded);
  ImageLimits small;
  small.max_pixels = 100;
  EXPECT_EQ(decode_error("photo.jpg", small), ErrorKind::kLimitExceeded);
  EXPECT_EQ(decode_error("lossy.webp", small), ErrorKind::kLimitExceeded);
  ImageLimits tiny_files;
  tiny_files.max_bytes = 64;
  EXPECT_EQ(decode_error("photo.jpg", tiny_files), ErrorKind::kLimitExceeded);
}

TEST(ReadImageHeader, ReportsFormatAndSize) {
  const ImageHeader header = read_image_header(read_bytes(kFixtures / "lossy.webp"));
  EXPECT_EQ(header.format, ImageFormat::kWebp);
  EXPECT_EQ(header.width, 23);
  EXPECT_EQ(header.height, 17);
  EXPECT_EQ(read_image_header(read_bytes(kFixtures / "bomb.png")).width, 100000);
}

}  // namespace
}  // namespace glimpse::io
