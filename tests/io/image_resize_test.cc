// Bicubic resampling against Pillow (fixtures from tests/io/images/make_fixtures.py): identical
// bytes in both pass orders, for down- and upscales, one-axis and two-axis resizes, with every
// vector level the CPU has.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/npy.h"
#include "io/image_resize.h"

namespace glimpse::io {
namespace {

namespace fs = std::filesystem;
const fs::path kFixtures = fs::path(GLIMPSE_SOURCE_DIR) / "tests/io/images";

RgbImage source_image() {
  std::ifstream in(kFixtures / "resize_source.png", std::ios::binary);
  if (!in) throw std::runtime_error("missing tests/io/images/resize_source.png");
  const std::vector<uint8_t> bytes{std::istreambuf_iterator<char>(in), {}};
  return decode_image(bytes, {});
}

int max_difference(const RgbImage& got, const std::string& expected_file) {
  const Tensor expected = read_npy((kFixtures / expected_file).string());
  EXPECT_EQ(expected.shape(), (Shape{got.height, got.width, 3})) << expected_file;
  if (expected.numel() != int64_t(got.pixels.size())) return 256;
  int worst = 0;
  for (size_t i = 0; i < got.pixels.size(); ++i)
    worst = std::max(worst, std::abs(int(got.pixels[i]) - int(expected.data<uint8_t>()[i])));
  return worst;
}

TEST(ResizeBicubic, MatchesPillowInBothPassOrders) {
  const RgbImage source = source_image();
  const std::pair<int, int> sizes[] = {{37, 20}, {30, 8},  {21, 9}, {64, 50},
                                       {20, 45}, {39, 31}, {40, 29}};
  // Every vector level this CPU has runs its own kernels; all must give Pillow's bytes.
  for (const ImageSimd simd : {ImageSimd::kScalar, ImageSimd::kAvx2, ImageSimd::kAvx512}) {
    if (simd > best_image_simd()) continue;
    set_image_simd(simd);
    for (const auto& [width, height] : sizes) {
      const std::string stem = "resize_" + std::to_string(width) + "x" + std::to_string(height);
      EXPECT_EQ(max_difference(resize_bicubic(source, width, height, PillowPassOrder::kPillow12),
                               stem + "_pillow12.npy"),
                0)
          << stem << " vector level " << int(simd);
      EXPECT_EQ(max_difference(resize_bicubic(source, width, height, PillowPassOrder::kPillow13),
                               stem + "_pillow13.npy"),
                0)
          << stem << " vector level " << int(simd);
    }
  }
  set_image_simd(best_image_simd());
}

// Noise with hard edges, so that the overshoot is clipped at both ends.
RgbImage noise_image(int width, int height, uint32_t seed) {
  RgbImage image{width, height, std::vector<uint8_t>(size_t(width) * height * 3)};
  for (size_t i = 0; i < image.pixels.size(); ++i) {
    seed = seed * 1664525u + 1013904223u;
    const int edge = (i / 3 % size_t(width)) / 7 % 2 ? 255 : 0;
    image.pixels[i] = uint8_t((seed >> 24) % 3 == 0 ? edge : seed >> 24);
  }
  return image;
}

TEST(ResizeBicubic, EveryVectorLevelMatchesTheScalarCode) {
  // Scale factors that select each kernel variant: upscales (one-row kernel, tap pairs), mild
  // downscales (one 64-byte stretch, no pairs), downscales up to ~2.7 (128-byte stretches) and
  // beyond (the eight-row transposed kernels), in both pass orders and one-axis resizes.
  struct Size {
    int in_w, in_h, out_w, out_h;
  };
  const Size sizes[] = {{1920, 37, 1932, 41}, {333, 60, 1001, 65}, {1300, 40, 1000, 31},
                        {1000, 33, 760, 29},  {1203, 50, 532, 24}, {1000, 40, 370, 20},
                        {2003, 30, 364, 12},  {301, 240, 140, 60}, {640, 480, 640, 300},
                        {640, 48, 500, 48},   {97, 1203, 61, 300}, {5, 7, 23, 3}};
  const ImageSimd best = best_image_simd();
  for (const Size& size : sizes) {
    const RgbImage source =
        noise_image(size.in_w, size.in_h, uint32_t(size.in_w * 31 + size.out_w));
    for (const PillowPassOrder order : {PillowPassOrder::kPillow12, PillowPassOrder::kPillow13}) {
      set_image_simd(ImageSimd::kScalar);
      const RgbImage want = resize_bicubic(source, size.out_w, size.out_h, order);
      for (const ImageSimd simd : {ImageSimd::kAvx2, ImageSimd::kAvx512}) {
        if (simd > best) continue;
        set_image_simd(simd);
        EXPECT_EQ(resize_bicubic(source, size.out_w, size.out_h, order).pixels, want.pixels)
            << size.in_w << "x" << size.in_h << " -> " << size.out_w << "x" << size.out_h
            << " order " << int(order) << " vector level " << int(simd);
      }
    }
  }
  set_image_simd(best);
}

TEST(ResizeBicubic, SameSizeIsACopyAndBadSizesAreRefused) {
  const RgbImage source = source_image();
  EXPECT_EQ(resize_bicubic(source, 40, 31, PillowPassOrder::kPillow12).pixels, source.pixels);
  EXPECT_THROW(resize_bicubic(source, 0, 10, PillowPassOrder::kPillow12), Error);
  EXPECT_THROW(resize_bicubic(RgbImage{}, 10, 10, PillowPassOrder::kPillow12), Error);
}

}  // namespace
}  // namespace glimpse::io
