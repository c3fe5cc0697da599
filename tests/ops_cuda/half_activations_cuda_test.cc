// The ops that take or give half-precision activations on the GPU (convert, linear with a half
// input or output, add_linear, rms_norm / gated_activation / split_qkv_rotary with a half output,
// the fused gated matvec) against the CPU ops, which compute the same in f32 and round once at the
// end (tests/ops/convert_test.cc). Fresh random inputs, NaN-poisoned outputs, as ops_cuda_test.
// Tolerances, ‖gpu − cpu‖₂ / ‖cpu‖₂ (NaN or Inf never passes):
//   conversions: 0 (both round to nearest even);
//   f32 results rounded to bf16 (8 significant bits) on both sides, whose f32 sums differ in order:
//   an element rounds differently at most by one ulp, 2⁻⁸ relative: 5e-3;
//   cuBLASLt GEMMs with bf16 operands: 1e-2, as ops_cuda_test.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <ostream>

#include "core/device_copy.h"
#include "cuda_test_util.h"
#include "ops/convert.h"
#include "ops/elementwise.h"
#include "ops/fused.h"
#include "ops/linear.h"
#include "ops/norms.h"

namespace glimpse::ops {
namespace {

using namespace cuda_testing;

constexpr double kRoundedTolerance = 5e-3;

TEST(ConvertCuda, MatchesCpuBitForBit) {
  // 8-aligned sizes take the vector path, the others the scalar one; the slice is 4-byte aligned.
  for (const int64_t n : {int64_t(4096), int64_t(1000), int64_t(37)})
    for (const DType half : {DType::kBF16, DType::kF16}) {
      const Tensor x = random_host({n}, 100.0f);
      poison_outputs(size_t(n) * 2);
      const Tensor narrow = convert(gpu(x), half);
      expect_close(narrow, cpu::convert(x, half), 0.0);
      poison_outputs(size_t(n) * 4);
      expect_close(convert(narrow, DType::kF32), cpu::convert(cpu::convert(x, half), DType::kF32),
                   0.0);
    }
  const Tensor x = gpu(random_host({64}));
  EXPECT_EQ(convert(x, DType::kF32).raw_data(), x.raw_data());  // no copy
}

// The pixel upload (core/device_copy.h): rounded on the host into pinned chunks of 2 MB, bit for
// bit as the CPU's convert (and so the GPU's, above); into a row slice; f32 as a plain copy.
TEST(ConvertCuda, UploadRoundedMatchesConvertOnTheGpu) {
  for (const int64_t n : {int64_t(3'000'001), int64_t(1000)})
    for (const DType dtype : {DType::kBF16, DType::kF16, DType::kF32}) {
      const Tensor x = random_host({n}, 100.0f);
      poison_outputs(size_t(n) * dtype_size(dtype));
      const Tensor up = Tensor::empty({n}, dtype, Device::kCUDA);
      upload_rounded(up, x);
      expect_close(up, cpu::convert(x, dtype), 0.0);
    }
  const Tensor rows = random_host({3, 40});
  const Tensor into = gpu(cpu::convert(random_host({5, 40}), DType::kBF16));
  upload_rounded(into.slice_rows(1, 4), rows);
  expect_close(into.slice_rows(1, 4), cpu::convert(rows, DType::kBF16), 0.0);
  EXPECT_THROW(upload_rounded(into, rows), Error);  // 200 elements into 120
  EXPECT_THROW(upload_rounded(into.slice_rows(1, 4), gpu(rows)), Error);  // not from the host
}

struct HalfLinearCase {
  DType weight, input, output;
  int64_t rows, in, out;
};

void PrintTo(const HalfLinearCase& c, std::ostream* os) {
  *os << c.rows << "x" << c.in << "_to_" << c.out << "_" << dtype_name(c.input) << "_x_"
      << dtype_name(c.weight) << "_to_" << dtype_name(c.output);
}

class HalfLinearCuda : public ::testing::TestWithParam<HalfLinearCase> {};

// linear(x, W, b, out) and add_linear(y, x, W) against the CPU's f32 arithmetic on the same
// (rounded) x and W.
TEST_P(HalfLinearCuda, MatchesCpu) {
  const HalfLinearCase c = GetParam();
  const Tensor x = cpu::convert(random_host({c.rows, c.in}), c.input);
  const Tensor weight = cpu::convert(random_host({c.out, c.in}, 0.05f), c.weight);
  const Tensor bias = random_host({c.out});
  // f32 products of f32 x and W (the matvec, f32 GEMMs) stay f32-exact; else cuBLASLt's bf16.
  const bool f32_products =
      c.weight == DType::kF32 || (c.rows <= 8 && c.input == DType::kF32 && c.output == DType::kF32);
  const double tolerance = (f32_products ? kF32Tolerance : kHalfGemmTolerance) +
                           (c.output == DType::kF32 ? 0.0 : kRoundedTolerance);
  const Tensor bias_gpu = gpu(bias);
  poison_outputs(size_t(c.rows * c.out) * dtype_size(c.output));
  expect_close(linear(gpu(x), gpu(weight), &bias_gpu, c.output),
               cpu::linear(x, weight, &bias, c.output), tolerance);

  Tensor y = random_host({c.rows, c.out});
  Tensor y_gpu = gpu(y);
  add_linear(y_gpu, gpu(x), gpu(weight));
  cpu::add_linear(y, x, weight);
  expect_close(y_gpu, y, f32_products ? kF32Tolerance : kHalfGemmTolerance);
}

INSTANTIATE_TEST_SUITE_P(
    Dtypes, HalfLinearCuda,
    ::testing::Values(
        // The vision tower's: bf16 in, f32 out (qkv), f32 in, bf16 out (gate_up), bf16 in and
        // out; a tiny image's few patches (rows ≤ 8 on the GEMM path); decode rows (the matvec
        // with y += for add_linear); f16; f32 weights.
        HalfLinearCase{DType::kBF16, DType::kBF16, DType::kF32, 300, 256, 320},
        HalfLinearCase{DType::kBF16, DType::kF32, DType::kBF16, 129, 512, 96},
        HalfLinearCase{DType::kBF16, DType::kBF16, DType::kBF16, 64, 128, 72},
        HalfLinearCase{DType::kBF16, DType::kBF16, DType::kBF16, 4, 256, 64},
        HalfLinearCase{DType::kBF16, DType::kF32, DType::kF32, 3, 4096, 1024},
        HalfLinearCase{DType::kF16, DType::kF16, DType::kF16, 40, 512, 130},
        HalfLinearCase{DType::kF32, DType::kF32, DType::kF32, 37, 256, 320},
        HalfLinearCase{DType::kF32, DType::kF32, DType::kF32, 2, 67, 45}));

TEST(HalfActivationsCuda, RmsNormRoundsItsOutput) {
  for (const DType out : {DType::kBF16, DType::kF16})
    for (const Shape& shape : {Shape{1296, 1536}, Shape{5, 37}, Shape{3, 4096}, Shape{2, 20000}}) {
      const Tensor x = random_host(shape, 3.0f), weight = random_host({shape.back()});
      poison_outputs(size_t(shape_numel(shape)) * 2);
      expect_close(rms_norm(gpu(x), gpu(weight), 1e-5f, out), cpu::rms_norm(x, weight, 1e-5f, out),
                   kRoundedTolerance);
    }
}

TEST(HalfActivationsCuda, GatedActivationInAndOutOfHalf) {
  struct Case {
    DType in, out;
    Shape shape;
  };
  for (const Activation act : {Activation::kSilu, Activation::kGelu})
    for (const Case& c : {Case{DType::kBF16, DType::kBF16, {33, 2 * 4096}},
                          Case{DType::kBF16, DType::kF32, {4, 2 * 37}},
                          Case{DType::kF32, DType::kBF16, {9, 2 * 352}},
                          Case{DType::kF16, DType::kF16, {7, 2 * 24}}}) {
      const Tensor x = cpu::convert(random_host(c.shape, 3.0f), c.in);
      poison_outputs(size_t(c.shape[0] * c.shape[1] / 2) * dtype_size(c.out));
      expect_close(gated_activation(gpu(x), act, c.out), cpu::gated_activation(x, act, c.out),
                   c.out == DType::kF32 ? kF32Tolerance : kRoundedTolerance);
    }
}

TEST(HalfActivationsCuda, SplitQkvRotaryRoundsItsOutputs) {
  struct Case {
    int64_t n, heads, kv_heads, d, pairs;
    RotaryLayout layout;
  };
  // The vision tower's (12 heads of 128, every feature in a halves pair), halves with an unrotated
  // tail (eight features a thread from a bf16 qkv), the text decoder's (interleaved, half the
  // features rotated), an odd tail.
  // Each from an f32 qkv and from a bf16 one (the vision tower's GEMM writes bf16), which both
  // sides widen exactly.
  for (const DType in : {DType::kF32, DType::kBF16})
    for (const Case& c : {Case{1296, 12, 12, 128, 64, RotaryLayout::kHalves},
                          Case{40, 4, 2, 128, 24, RotaryLayout::kHalves},
                          Case{7, 32, 2, 128, 32, RotaryLayout::kInterleaved},
                          Case{5, 4, 2, 10, 3, RotaryLayout::kHalves}}) {
      const Tensor qkv = cpu::convert(random_host({c.n, (c.heads + 2 * c.kv_heads) * c.d}), in);
      const Tensor cos = uniform_host({c.n, c.pairs}, -1, 1),
                   sin = uniform_host({c.n, c.pairs}, -1, 1);
      poison_outputs(size_t(c.n * (c.heads + 2 * c.kv_heads) * c.d) * 2);
      const QkvParts on_gpu = split_qkv_rotary(gpu(qkv), c.heads, c.kv_heads, gpu(cos), gpu(sin),
                                               c.layout, DType::kBF16);
      const QkvParts on_cpu =
          cpu::split_qkv_rotary(qkv, c.heads, c.kv_heads, cos, sin, c.layout, DType::kBF16);
      expect_close(on_gpu.q, on_cpu.q, kRoundedTolerance);
      expect_close(on_gpu.k, on_cpu.k, kRoundedTolerance);
      expect_close(on_gpu.v, on_cpu.v, 0.0);  // copies: rounded alike
    }
}

// A bias in the output's half dtype goes into cuBLASLt's epilogue as it is (the vision tower's
// qkv); the CPU widens it. GEMM rows only: the matvec takes no half output.
TEST(HalfActivationsCuda, LinearWithABiasInTheOutputsHalfType) {
  for (const int64_t rows : {300, 9, 1296}) {
    const Tensor x = cpu::convert(random_host({rows, 256}), DType::kBF16);
    const Tensor weight = cpu::convert(random_host({384, 256}, 0.05f), DType::kBF16);
    const Tensor bias = cpu::convert(random_host({384}), DType::kBF16);
    const Tensor bias_gpu = gpu(bias);
    poison_outputs(size_t(rows * 384) * 2);
    expect_close(linear(gpu(x), gpu(weight), &bias_gpu, DType::kBF16),
                 cpu::linear(x, weight, &bias, DType::kBF16),
                 kHalfGemmTolerance + kRoundedTolerance);
  }
}

struct GatedLinearCase {
  DType weight;
  int64_t rows, in, n;
  Activation act;
};

void PrintTo(const GatedLinearCase& c, std::ostream* os) {
  *os << c.rows << "x" << c.in << "_to_2x" << c.n << "_" << dtype_name(c.weight)
      << (c.act == Activation::kSilu ? "_silu" : "_gelu");
}

class GatedLinearCuda : public ::testing::TestWithParam<GatedLinearCase> {};

// Decode rows: the fused matvec (gate row and up row a warp, the activation in its epilogue) is
// f32-exact against the CPU's linear + gated_activation. More rows: the bf16 GEMM, gate_up kept
// in the weight's dtype.
TEST_P(GatedLinearCuda, MatchesCpu) {
  const GatedLinearCase c = GetParam();
  const Tensor x = random_host({c.rows, c.in});
  const Tensor weight = cpu::convert(random_host({2 * c.n, c.in}, 0.05f), c.weight);
  poison_outputs(size_t(c.rows * c.n) * 4);
  const double tolerance =
      c.rows <= 8 || c.weight == DType::kF32 ? kF32Tolerance : kHalfGemmTolerance;
  expect_close(gated_linear(gpu(x), gpu(weight), c.act), cpu::gated_linear(x, weight, c.act),
               tolerance);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, GatedLinearCuda,
    ::testing::Values(GatedLinearCase{DType::kBF16, 1, 4096, 13696, Activation::kSilu},
                      GatedLinearCase{DType::kBF16, 8, 512, 700, Activation::kGelu},
                      GatedLinearCase{DType::kF16, 3, 256, 33, Activation::kSilu},
                      GatedLinearCase{DType::kF32, 2, 67, 45, Activation::kSilu},  // scalar path
                      GatedLinearCase{DType::kBF16, 9, 256, 96, Activation::kSilu},
                      GatedLinearCase{DType::kF32, 40, 128, 64, Activation::kGelu}));

}  // namespace
}  // namespace glimpse::ops
