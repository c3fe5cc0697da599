#include "ops/pixels.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "core/dtype.h"
#include "core/error.h"

namespace glimpse::ops {
namespace {

// Random samples and a random level table of `channels` rows.
struct Inputs {
  Tensor bytes, levels;
};
Inputs random_inputs(int64_t rows, int64_t channels, int64_t area, uint32_t seed) {
  std::mt19937 rng(seed);
  Inputs in{Tensor::empty({rows, channels * area}, DType::kU8),
            Tensor::empty({channels, 256}, DType::kF32)};
  for (int64_t i = 0; i < in.bytes.numel(); ++i) in.bytes.data<uint8_t>()[i] = uint8_t(rng());
  std::normal_distribution<float> normal(0.0f, 2.0f);
  for (int64_t i = 0; i < in.levels.numel(); ++i) in.levels.data<float>()[i] = normal(rng);
  return in;
}

TEST(PixelsFromBytes, EveryCopyOfEverySampleIsItsLevelRounded) {
  const int64_t rows = 5, channels = 3, area = 4 * 4;
  const Inputs in = random_inputs(rows, channels, area, 7);
  for (const int64_t copies : {1, 2, 3}) {
    for (const DType dtype : {DType::kF32, DType::kBF16, DType::kF16}) {
      SCOPED_TRACE(testing::Message() << copies << " copies, " << dtype_name(dtype));
      const Tensor out = Tensor::empty({rows, channels * copies * area}, dtype);
      cpu::pixels_from_bytes(in.bytes, in.levels, out);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < channels; ++c)
          for (int64_t t = 0; t < copies; ++t)
            for (int64_t i = 0; i < area; ++i) {
              const float level =
                  in.levels.data<float>()[c * 256 +
                                          in.bytes.data<uint8_t>()[(r * channels + c) * area + i]];
              const int64_t at = ((r * channels + c) * copies + t) * area + i;
              if (dtype == DType::kF32)
                ASSERT_EQ(out.data<float>()[at], level);
              else
                ASSERT_EQ(out.data<uint16_t>()[at],
                          dtype == DType::kBF16 ? f32_to_bf16(level) : f32_to_f16(level));
            }
    }
  }
}

TEST(PixelsFromBytes, RejectsMismatchedShapesAndTypes) {
  const Inputs in = random_inputs(2, 3, 4, 1);
  const Tensor out = Tensor::empty({2, 24}, DType::kF32);
  EXPECT_NO_THROW(pixels_from_bytes(in.bytes, in.levels, out));
  EXPECT_THROW(pixels_from_bytes(in.bytes, in.levels, Tensor::empty({2, 25}, DType::kF32)), Error);
  EXPECT_THROW(pixels_from_bytes(in.bytes, in.levels, Tensor::empty({3, 24}, DType::kF32)), Error);
  EXPECT_THROW(pixels_from_bytes(in.bytes, in.levels, Tensor::empty({2, 24}, DType::kI32)), Error);
  EXPECT_THROW(pixels_from_bytes(in.bytes, Tensor::empty({3, 255}, DType::kF32), out), Error);
  EXPECT_THROW(pixels_from_bytes(in.bytes, Tensor::empty({5, 256}, DType::kF32), out), Error);
  EXPECT_THROW(pixels_from_bytes(Tensor::empty({2, 12}, DType::kI8), in.levels, out), Error);
  EXPECT_THROW(pixels_from_bytes(in.bytes, in.levels, Tensor()), Error);
}

}  // namespace
}  // namespace glimpse::ops
