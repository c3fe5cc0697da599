// Image decode + Glm4v preprocessing on one core: a 1920x1080 JPEG (goal: <= 15 ms for both) with
// GLM-4.6V's processor settings (patch 14, merge 2, temporal 2, 12544..9633792 pixels), and the
// stages on their own. Results: docs/benchmarks/image.md.
#include <benchmark/benchmark.h>
#include <turbojpeg.h>

#include <cmath>
#include <random>

#include "core/error.h"
#include "io/image_decode.h"
#include "io/image_preprocess.h"

namespace glimpse::io {
namespace {

constexpr int kWidth = 1920, kHeight = 1080;

// A photo-like frame: smooth gradients, edges and sensor-like noise, so that the JPEG carries
// realistic entropy (a flat or purely synthetic image decodes unrealistically fast).
RgbImage synthetic_photo() {
  RgbImage image{kWidth, kHeight, std::vector<uint8_t>(size_t(kWidth) * kHeight * 3)};
  std::mt19937 rng(7);
  std::normal_distribution<float> noise(0.0f, 6.0f);
  for (int y = 0; y < kHeight; ++y) {
    for (int x = 0; x < kWidth; ++x) {
      const float base[3] = {
          120 + 90 * std::sin(x * 0.004f + y * 0.002f), 100 + 80 * std::cos(y * 0.006f),
          (((x / 97) + (y / 61)) % 2 ? 180.0f : 60.0f) + 40 * std::sin(x * 0.05f)};
      for (int c = 0; c < 3; ++c)
        image.pixels[(size_t(y) * kWidth + x) * 3 + c] =
            uint8_t(std::clamp(base[c] + noise(rng), 0.0f, 255.0f));
    }
  }
  return image;
}

std::vector<uint8_t> encode_jpeg(const RgbImage& image, int quality) {
  tjhandle handle = tjInitCompress();
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  const int status = tjCompress2(handle, image.pixels.data(), image.width, 0, image.height,
                                 TJPF_RGB, &buffer, &size, TJSAMP_420, quality, TJFLAG_ACCURATEDCT);
  std::vector<uint8_t> bytes;
  if (status == 0) bytes.assign(buffer, buffer + size);
  tjFree(buffer);
  tjDestroy(handle);
  if (bytes.empty()) fail(ErrorKind::kInternal, "benchmark: JPEG encoding failed");
  return bytes;
}

const std::vector<uint8_t>& test_jpeg() {
  static const std::vector<uint8_t> bytes = encode_jpeg(synthetic_photo(), 90);
  return bytes;
}

ImageProcessorConfig glm46v_config() {
  ImageProcessorConfig config;  // patch 14, merge 2, temporal 2, CLIP mean/std
  config.min_pixels = 12544;
  config.max_pixels = 9633792;
  return config;
}

void BM_DecodeAndPreprocess1080p(benchmark::State& state) {
  const auto& jpeg = test_jpeg();
  const ImageProcessorConfig config = glm46v_config();
  for (auto _ : state) {
    PreparedImage prepared = preprocess_image(decode_image(jpeg, {}), config);
    benchmark::DoNotOptimize(prepared.pixel_values.raw_data());
  }
  state.counters["jpeg_kB"] = double(jpeg.size()) / 1024.0;
}

void BM_Decode1080p(benchmark::State& state) {
  const auto& jpeg = test_jpeg();
  for (auto _ : state) benchmark::DoNotOptimize(decode_image(jpeg, {}).pixels.data());
}

void BM_Preprocess1080p(benchmark::State& state) {
  const RgbImage image = decode_image(test_jpeg(), {});
  const ImageProcessorConfig config = glm46v_config();
  const auto form = PixelForm(state.range(0));
  PreparedImage prepared;
  for (auto _ : state) {
    prepared = preprocess_image(image, config, form);
    benchmark::DoNotOptimize(prepared.patches());
  }
  state.counters["patches"] = double(prepared.patches());
}

// The preprocessing with each vector level this CPU has (0 scalar, 1 AVX2, 2 AVX-512): the same
// bytes from each (tests/io/image_preprocess_test.cc), for the CPUs without the best one.
void BM_Preprocess1080pLevel(benchmark::State& state) {
  const auto simd = ImageSimd(state.range(0));
  if (simd > best_image_simd()) {
    state.SkipWithError("this CPU lacks the instructions");
    return;
  }
  const RgbImage image = decode_image(test_jpeg(), {});
  const ImageProcessorConfig config = glm46v_config();
  set_image_simd(simd);
  PreparedImage prepared;
  for (auto _ : state) {
    prepared = preprocess_image(image, config);
    benchmark::DoNotOptimize(prepared.pixel_values.raw_data());
  }
  set_image_simd(best_image_simd());
}

BENCHMARK(BM_DecodeAndPreprocess1080p)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Decode1080p)->Unit(benchmark::kMillisecond)->UseRealTime();
// form: 0 the f32 rows (what a CPU model reads), 1 the 8-bit samples (a GPU model), 2 both.
BENCHMARK(BM_Preprocess1080p)
    ->ArgName("form")
    ->DenseRange(0, 2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_Preprocess1080pLevel)
    ->ArgName("simd")
    ->DenseRange(0, 2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace glimpse::io

BENCHMARK_MAIN();
