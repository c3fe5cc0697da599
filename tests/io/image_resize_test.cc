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

TEST(ResizeBicubic, SameSizeIsACopyAndBadSizesAreRefused) {
  const RgbImage source = source_image();
  EXPECT_EQ(resize_bicubic(source, 40, 31, PillowPassOrder::kPillow12).pixels, source.pixels);
  EXPECT_THROW(resize_bicubic(source, 0, 10, PillowPassOrder::kPillow12), Error);
  EXPECT_THROW(resize_bicubic(RgbImage{}, 10, 10, PillowPassOrder::kPillow12), Error);
}

}  // namespace
}  // namespace glimpse::io
