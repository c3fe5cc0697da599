// Image preprocessing against transformers 5.17 (tests/golden): grids exactly, pixel_values within
// max |Δ| ≤ 0.03 and mean |Δ| ≤ 0.003 (normalised units) for every golden image, plus
// smart_resize and config parsing edge cases.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/npy.h"
#include "io/image_decode.h"
#include "io/image_preprocess.h"
#include "ops/pixels.h"

namespace glimpse::io {
namespace {

namespace fs = std::filesystem;
const fs::path kGolden = fs::path(GLIMPSE_SOURCE_DIR) / "tests/golden";

std::vector<uint8_t> read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("missing golden file " + path.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

nlohmann::json manifest() {
  std::ifstream in(kGolden / "manifest.json");
  if (!in) throw std::runtime_error("missing tests/golden/manifest.json");
  return nlohmann::json::parse(in);
}

TEST(ImagePreprocessGolden, EveryImageCaseMatchesTransformers) {
  const nlohmann::json index = manifest();
  int checked_images = 0;
  for (const auto& test_case : index["cases"]) {
    if (test_case["images"].empty()) continue;
    const std::string id = test_case["id"];
    SCOPED_TRACE(id);
    const auto model_dir = kGolden / index["models"][test_case["model"].get<std::string>()];
    const auto config = ImageProcessorConfig::from_model_dir(model_dir.string());
    const Tensor grids = read_npy((kGolden / test_case["files"]["image_grid_thw"]).string());
    const Tensor expected = read_npy((kGolden / test_case["files"]["pixel_values"]).string());
    ASSERT_EQ(grids.size(0), int64_t(test_case["images"].size()));
    int64_t row = 0;
    for (size_t i = 0; i < test_case["images"].size(); ++i) {
      const std::string image_path = test_case["images"][i];
      SCOPED_TRACE(image_path);
      const PreparedImage prepared =
          preprocess_image(decode_image(read_bytes(kGolden / image_path), {}), config);
      const int64_t* grid = grids.data<int64_t>() + i * 3;
      EXPECT_EQ(prepared.t, grid[0]);
      EXPECT_EQ(prepared.h, grid[1]);
      EXPECT_EQ(prepared.w, grid[2]);
      EXPECT_EQ(prepared.num_tokens, grid[0] * grid[1] * grid[2] / 4);
      const int64_t rows = prepared.pixel_values.size(0), cols = prepared.pixel_values.size(1);
      ASSERT_EQ(cols, expected.size(1));
      ASSERT_LE(row + rows, expected.size(0));
      const float* got = prepared.pixel_values.data<float>();
      const float* want = expected.data<float>() + row * cols;
      double max_diff = 0, sum_diff = 0;
      for (int64_t k = 0; k < rows * cols; ++k) {
        const double diff = std::fabs(double(got[k]) - double(want[k]));
        max_diff = std::max(max_diff, diff);
        sum_diff += diff;
      }
      EXPECT_LE(max_diff, 0.03);
      EXPECT_LE(sum_diff / double(rows * cols), 0.003);
      row += rows;
      ++checked_images;
    }
    EXPECT_EQ(row, expected.size(0));
  }
  EXPECT_GE(checked_images, 7);
}

TEST(SmartResize, MatchesReferenceValues) {
  ImageProcessorConfig config;  // factor 28, t 2
  config.min_pixels = 12544;
  config.max_pixels = 47040;
  // Values printed by transformers' smart_resize(num_frames=2, ..., factor=28).
  struct Case {
    int64_t h, w, want_h, want_w;
  };
  for (const Case& c : std::initializer_list<Case>{{517, 333, 168, 112},
                                                   {24, 20, 112, 84},
                                                   {40, 1500, 28, 924},
                                                   {42, 70, 84, 112},
                                                   {1080, 1920, 112, 196}}) {
    SCOPED_TRACE(testing::Message() << c.h << "x" << c.w);
    const ResizedSize size = smart_resize(c.h, c.w, config);
    EXPECT_EQ(size.height, c.want_h);
    EXPECT_EQ(size.width, c.want_w);
  }
}

TEST(SmartResize, RejectsExtremeAspectRatio) {
  ImageProcessorConfig config;
  EXPECT_THROW(smart_resize(28, 28 * 201, config), Error);
  EXPECT_NO_THROW(smart_resize(28, 28 * 200, config));
  // Upscaled tiny images are checked after scaling, as the reference does.
  EXPECT_THROW(smart_resize(1, 300, config), Error);
}

TEST(ImageProcessorConfig, ReadsBothLayoutsAndRejectsBadValues) {
  const auto a = ImageProcessorConfig::from_model_dir((kGolden / "models/tiny-a").string());
  EXPECT_EQ(a.max_pixels, 62720);
  const auto b = ImageProcessorConfig::from_model_dir((kGolden / "models/tiny-b").string());
  EXPECT_EQ(b.min_pixels, 12544);
  EXPECT_EQ(b.max_pixels, 47040);
  const auto legacy = ImageProcessorConfig::from_json(
      nlohmann::json{{"min_pixels", 100}, {"max_pixels", 5000}, {"image_mean", 0.5}}, "x");
  EXPECT_EQ(legacy.min_pixels, 100);
  EXPECT_EQ(legacy.image_mean[2], 0.5f);
  EXPECT_THROW(ImageProcessorConfig::from_json(nlohmann::json{{"patch_size", -1}}, "x"), Error);
  EXPECT_THROW(ImageProcessorConfig::from_json(nlohmann::json{{"resample", 2}}, "x"), Error);
  EXPECT_THROW(ImageProcessorConfig::from_json(nlohmann::json{{"image_std", {1, 0, 1}}}, "x"),
               Error);
  EXPECT_THROW(ImageProcessorConfig::from_model_dir("/nonexistent"), Error);
}

TEST(PreprocessImage, PatchOrderFollowsMergeWindows) {
  // A 56x56 image with no resizing: every pixel value encodes its position, so the order of the
  // emitted patches and of the values inside them can be checked directly.
  ImageProcessorConfig config;
  config.do_resize = false;
  config.do_rescale = false;
  config.do_normalize = false;
  RgbImage image{56, 56, std::vector<uint8_t>(56 * 56 * 3)};
  for (int y = 0; y < 56; ++y)
    for (int x = 0; x < 56; ++x)
      for (int c = 0; c < 3; ++c)
        image.pixels[(y * 56 + x) * 3 + c] = uint8_t(y / 14 * 4 + x / 14 + c * 50);
  const PreparedImage out = preprocess_image(image, config);
  ASSERT_EQ(out.h, 4);
  ASSERT_EQ(out.w, 4);
  EXPECT_EQ(out.num_tokens, 4);
  ASSERT_EQ(out.pixel_values.size(1), 3 * 2 * 14 * 14);
  // Patch k lies in merge window k / 4 (row-major over 2x2 windows) at position k % 4 within it.
  for (int64_t k = 0; k < 16; ++k) {
    const int64_t window = k / 4, inside = k % 4;
    const int64_t patch_y = window / 2 * 2 + inside / 2, patch_x = window % 2 * 2 + inside % 2;
    const float* patch = out.pixel_values.data<float>() + k * 1176;
    for (int c = 0; c < 3; ++c)
      for (int t = 0; t < 2; ++t)
        EXPECT_EQ(patch[(c * 2 + t) * 196], float(patch_y * 4 + patch_x + c * 50)) << k;
  }
}

TEST(PreprocessImage, RefusesUnalignedSizeWithoutResize) {
  ImageProcessorConfig config;
  config.do_resize = false;
  RgbImage image{30, 28, std::vector<uint8_t>(30 * 28 * 3)};
  EXPECT_THROW(preprocess_image(image, config), Error);
  RgbImage broken{10, 10, std::vector<uint8_t>(5)};
  EXPECT_THROW(preprocess_image(broken, config), Error);
}

// A deterministic photo-like image: gradients, hard edges, saturated areas and noise, so that the
// bicubic overshoot is clipped at both ends and every rounding path is exercised.
RgbImage synthetic_image(int width, int height, uint32_t seed) {
  RgbImage image{width, height, std::vector<uint8_t>(size_t(width) * height * 3)};
  uint32_t state = seed * 2654435761u + 1;
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      for (int c = 0; c < 3; ++c) {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        int v = (x * (c + 1) * 7 + y * 3) % 256;
        if ((x / 23 + y / 17) % 3 == 0) v = ((x / 5 + y / 7) % 2) ? 255 : 0;
        v += int(state % 41) - 20;
        image.pixels[(size_t(y) * width + x) * 3 + c] = uint8_t(std::clamp(v, 0, 255));
      }
    }
  }
  return image;
}

// SHA-256 of pixel_values (and the grid) for many sizes and settings, recorded from the
// implementation the golden tests checked against transformers: any change to the resize,
// normalisation or patch order, however small, changes a digest.
TEST(PreprocessImage, OutputIsBitIdenticalToTheRecordedDigests) {
  struct Case {
    const char* name;
    int width, height;
    int64_t patch, merge, temporal, min_pixels, max_pixels;
    bool rescale, normalize;
    float std0;  // image_std[0] if not 0
    PillowPassOrder order;
    const char* digest;
  };
  constexpr auto k12 = PillowPassOrder::kPillow12, k13 = PillowPassOrder::kPillow13;
  const Case cases[] = {
      {"1080p_glm46v", 1920, 1080, 14, 2, 2, 12544, 9633792, true, true, 0.0f, k12,
       "4ef18a1f0382b8d8bceb1508d2cbc45b6d1eb8311be006a0b4dc6af1a568d8d4"},
      {"odd_upscale", 333, 517, 14, 2, 2, 12544, 28 * 28 * 15000, true, true, 0.0f, k12,
       "92a098e721ec30f2830fb92e8f7a4f821d57fab3795b30bc18baf1f7a674ce4f"},
      {"downscale_p12", 1203, 801, 14, 2, 2, 12544, 2 * 200000, true, true, 0.0f, k12,
       "bd7ee533ce73b093cfa0c6339faad4e281e0ecb5c918e063f1da61cd600b6c6c"},
      {"downscale_p13", 1203, 801, 14, 2, 2, 12544, 2 * 200000, true, true, 0.0f, k13,
       "bd7ee533ce73b093cfa0c6339faad4e281e0ecb5c918e063f1da61cd600b6c6c"},
      {"tall_p12", 301, 2411, 14, 2, 2, 12544, 2 * 180000, true, true, 0.0f, k12,
       "23c948d8da67cea0d9b83f87c5652e95d8eb8724cfcb5ab9ce8d4c4f886abc30"},
      {"tall_p13", 301, 2411, 14, 2, 2, 12544, 2 * 180000, true, true, 0.0f, k13,
       "f3474c5c9cb16672ba0ffea013ab2954d155850142b23ed52c95dc425616bc32"},
      // a standard deviation whose reciprocal-and-correction division is not exact everywhere
      {"odd_std", 517, 333, 14, 2, 2, 12544, 28 * 28 * 15000, true, true, 0.99999994f, k12,
       "3b281e1ae68fbdb9c14fd433cf190232694f0c86828c243c889b0934f130c644"},
      {"strong_downscale", 2003, 1499, 14, 2, 2, 12544, 2 * 100000, true, true, 0.0f, k12,
       "f2d3567a879d246ff4a42dfc6e23118e26ce72038e53f9f1795f19fb76f5531b"},
      {"wide_down_p13", 2411, 301, 14, 2, 2, 12544, 2 * 180000, true, true, 0.0f, k13,
       "bfa60a9e541eaf722fd83f4b61724e37fe7fa09b4a0eedc5572d3cf8262487f9"},
      {"width_only", 1001, 280, 14, 2, 2, 12544, 28 * 28 * 15000, true, true, 0.0f, k12,
       "4ab2a2eea7da724b1f537b1ab67651ed398ac28d86ec482b0b245c4b13db9573"},
      {"height_only", 280, 1001, 14, 2, 2, 12544, 28 * 28 * 15000, true, true, 0.0f, k13,
       "7e78c91370141bdfe538cd63b95eccea515bbbeca9492da5018e43f59180fb10"},
      {"no_resize", 84, 56, 14, 2, 2, 12544, 28 * 28 * 15000, true, true, 0.0f, k12,
       "63dc0799e6c8b1ad34346ba01cbdd1a4886d2fdbd56229f96140b861e554862e"},
      {"tiny", 20, 24, 14, 2, 2, 12544, 28 * 28 * 15000, true, true, 0.0f, k12,
       "4664f680d2e699aa6913e09b6c1f4f55306d71aaaad8622dd3a35cc941fa107d"},
      {"thin", 1500, 40, 14, 2, 2, 12544, 28 * 28 * 15000, true, true, 0.0f, k12,
       "b3f19ec4e319ee4023d70fa1b2c77e39224ef3549ef7756a118fb304c0c7e4c1"},
      {"temporal1_patch16", 517, 333, 16, 2, 1, 12544, 28 * 28 * 15000, true, true, 0.0f, k12,
       "06eac04407f53de73d9bceb0312f75fa2d06b6a2de66380377af963c3bf92f96"},
      {"temporal3_merge1", 517, 333, 14, 1, 3, 3136, 28 * 28 * 15000, true, true, 0.0f, k12,
       "04c13b00f4c9354ab9f36ce01006e2a08a4bd5dd8ffa4e35ac6f9385d30d1b36"},
      {"unnormalised", 517, 333, 14, 2, 2, 12544, 28 * 28 * 15000, true, false, 0.0f, k12,
       "309dfba1d933d7663c7dc184ac4eef6c3e82ea2e5479545cbd784901c92a2710"},
      {"raw", 517, 333, 14, 2, 2, 12544, 28 * 28 * 15000, false, false, 0.0f, k12,
       "51fef4480ce71791278fbb2208a14ea5e9eaad02776956be1e034c0a9f6a7b7d"},
  };
  // Every vector level this CPU has (the scalar, AVX2 and AVX-512 kernels) gives the same bytes.
  for (const ImageSimd simd : {ImageSimd::kScalar, ImageSimd::kAvx2, ImageSimd::kAvx512}) {
    if (simd > best_image_simd()) continue;
    set_image_simd(simd);
    SCOPED_TRACE(testing::Message() << "vector level " << int(simd));
    for (const Case& c : cases) {
      SCOPED_TRACE(c.name);
      ImageProcessorConfig config;
      config.patch_size = c.patch;
      config.merge_size = c.merge;
      config.temporal_patch_size = c.temporal;
      config.min_pixels = c.min_pixels;
      config.max_pixels = c.max_pixels;
      config.do_rescale = c.rescale;
      config.do_normalize = c.normalize;
      config.pass_order = c.order;
      if (c.std0 != 0.0f) config.image_std[0] = c.std0;
      const PreparedImage out = preprocess_image(
          synthetic_image(c.width, c.height, uint32_t(c.width * 65537 + c.height)), config);
      const auto bytes = out.pixel_values.bytes();
      std::vector<uint8_t> hashed(reinterpret_cast<const uint8_t*>(bytes.data()),
                                  reinterpret_cast<const uint8_t*>(bytes.data()) + bytes.size());
      for (int64_t v : {out.t, out.h, out.w}) {
        hashed.push_back(uint8_t(v));
        hashed.push_back(uint8_t(v >> 8));
      }
      EXPECT_EQ(sha256_hex(hashed), c.digest) << c.name << " " << out.h << "x" << out.w;
      // The kept 8-bit samples and level table rebuild every value exactly (what the GPU uploads).
      const Tensor rebuilt = Tensor::empty(out.pixel_values.shape(), DType::kF32);
      ops::cpu::pixels_from_bytes(out.pixel_bytes, out.pixel_levels, rebuilt);
      EXPECT_EQ(
          std::memcmp(rebuilt.raw_data(), out.pixel_values.raw_data(), out.pixel_values.nbytes()),
          0)
          << c.name;
    }
  }
  set_image_simd(best_image_simd());
}

// Each pixel form keeps what it names, with the same values as the form that keeps both.
TEST(PreprocessImage, PixelFormsKeepTheSameValues) {
  ImageProcessorConfig config;
  config.max_pixels = 2 * 200000;
  for (const auto& [width, height] : {std::pair{517, 333}, std::pair{1203, 801}}) {
    const RgbImage image = synthetic_image(width, height, 11);
    const PreparedImage both = preprocess_image(image, config, PixelForm::kRowsAndSamples);
    const PreparedImage rows = preprocess_image(image, config, PixelForm::kRows);
    const PreparedImage samples = preprocess_image(image, config, PixelForm::kSamples);
    ASSERT_TRUE(both.pixel_values.defined() && both.pixel_bytes.defined());
    EXPECT_FALSE(rows.pixel_bytes.defined() || rows.pixel_levels.defined());
    EXPECT_FALSE(samples.pixel_values.defined());
    ASSERT_TRUE(rows.pixel_values.defined() && samples.pixel_bytes.defined());
    EXPECT_EQ(std::memcmp(rows.pixel_values.raw_data(), both.pixel_values.raw_data(),
                          both.pixel_values.nbytes()),
              0);
    EXPECT_EQ(std::memcmp(samples.pixel_bytes.raw_data(), both.pixel_bytes.raw_data(),
                          both.pixel_bytes.nbytes()),
              0);
    EXPECT_EQ(std::memcmp(samples.pixel_levels.raw_data(), both.pixel_levels.raw_data(),
                          both.pixel_levels.nbytes()),
              0);
    EXPECT_EQ(samples.patches(), both.pixel_values.size(0));
    EXPECT_EQ(samples.num_tokens, both.num_tokens);
  }
}

TEST(Sha256, KnownDigest) {
  const std::string abc = "abc";
  EXPECT_EQ(sha256_hex({reinterpret_cast<const uint8_t*>(abc.data()), abc.size()}),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace glimpse::io
