// Every cuda::X against cpu::X on fresh random inputs (needs a GPU; tools/device/check.sh runs it).
// Each run draws a new seed, printed on failure; GLIMPSE_SEED=<n> replays one. Outputs come from
// allocator blocks filled with NaN beforehand, so an element the kernel skips fails the test.
// Tolerances, ‖gpu − cpu‖₂ / ‖cpu‖₂ over the whole output (NaN or Inf never passes):
//   f32 ops (both sides f32 with different summation orders): 1e-5;
//   linear through cuBLASLt with bf16/f16 weights (x rounded to the weight's dtype): 1e-2;
//   attention on the tensor-core flash kernel (head_dim 64/128, ≥ 64 query rows per KV head:
//   q, k, v and the softmax weights rounded to bf16): 1e-2 (flash_attention_test.cc covers it).
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <ostream>
#include <random>
#include <vector>

#include "core/device_copy.h"
#include "core/error.h"
#include "cuda_test_util.h"
#include "ops/argmax.h"
#include "ops/attention.h"
#include "ops/elementwise.h"
#include "ops/embedding.h"
#include "ops/flash_attention_cuda.h"
#include "ops/fused.h"
#include "ops/grid_sample.h"
#include "ops/linear.h"
#include "ops/norms.h"
#include "ops/paged_attention.h"
#include "ops/pixels.h"
#include "ops/rotary.h"
#include "ops/softmax.h"

namespace glimpse::ops {
namespace {

using namespace cuda_testing;

constexpr double kFlashAttentionTolerance = 1e-2;

// The tolerance of an attention call: the flash kernel's where the automatic choice takes it.
double attention_tolerance(int64_t tokens, int64_t heads, int64_t kv_heads, int64_t d) {
  const bool flash = (d == 64 || d == 128) &&
                     tokens * (heads / kv_heads) >= cuda::kFlashAttentionMinRows;
  return flash ? kFlashAttentionTolerance : kF32Tolerance;
}

// The f32 tensor rounded to bf16 or f16 (stored as such, on the host).
Tensor to_half(const Tensor& t, DType dtype) {
  Tensor half = Tensor::empty(t.shape(), dtype);
  const float* src = t.data<float>();
  uint16_t* dst = half.data<uint16_t>();
  for (int64_t i = 0; i < t.numel(); ++i)
    dst[i] = dtype == DType::kBF16 ? f32_to_bf16(src[i]) : f32_to_f16(src[i]);
  return half;
}

TEST(OpsCudaHarness, PoisonedBlocksComeBackAsNan) {
  poison_outputs(Shape{1000});
  const Tensor fresh = host(Tensor::empty({1000}, DType::kF32, Device::kCUDA));
  const float* data = fresh.data<float>();
  EXPECT_TRUE(std::all_of(data, data + 1000, [](float v) { return std::isnan(v); }));
}

TEST(OpsCudaHarness, DeviceCopyRoundTripsBytes) {
  const Tensor x = random_host({3, 17}), half = to_half(x, DType::kBF16);
  const Tensor x_gpu = gpu(x);
  EXPECT_EQ(x_gpu.device(), Device::kCUDA);
  EXPECT_EQ(to_device(x_gpu, Device::kCUDA).raw_data(), x_gpu.raw_data());  // no copy
  const Tensor x_back = host(x_gpu), half_back = host(gpu(half));
  EXPECT_EQ(x_back.dtype(), DType::kF32);
  EXPECT_EQ(half_back.dtype(), DType::kBF16);
  EXPECT_TRUE(std::equal(x.bytes().begin(), x.bytes().end(), x_back.bytes().begin()));
  EXPECT_TRUE(std::equal(half.bytes().begin(), half.bytes().end(), half_back.bytes().begin()));
}

TEST(OpsCudaHarness, RejectsHostTensorsAndRunsOnTheDevice) {
  const Tensor x = random_host({2, 8}), weight = random_host({8});
  EXPECT_THROW(cuda::rms_norm(gpu(x), weight, 1e-6f), Error);
  EXPECT_EQ(rms_norm(gpu(x), gpu(weight), 1e-6f).device(), Device::kCUDA);  // dispatch
  const std::vector<int32_t> bad_ids = {1, 5};
  EXPECT_THROW(embedding(gpu(random_host({5, 4})), bad_ids), Error);
}

// --- linear -----------------------------------------------------------------------------------

struct LinearCase {
  DType weight_dtype;
  int64_t rows, in, out;
  bool bias;
};

void PrintTo(const LinearCase& c, std::ostream* os) {
  *os << c.rows << "x" << c.in << "_to_" << c.out << "_" << dtype_name(c.weight_dtype)
      << (c.bias ? "_bias" : "");
}

class LinearCuda : public ::testing::TestWithParam<LinearCase> {};

TEST_P(LinearCuda, MatchesCpu) {
  const LinearCase c = GetParam();
  const Tensor x = random_host({c.rows, c.in}), bias = random_host({c.out});
  const Tensor weight_f32 = random_host({c.out, c.in}, 0.05f);
  const Tensor weight =
      c.weight_dtype == DType::kF32 ? weight_f32 : to_half(weight_f32, c.weight_dtype);
  // The reference multiplies the exact f32 upcast of the stored weight.
  const Tensor expected = cpu::linear(x, weight.to_f32(), c.bias ? &bias : nullptr);
  const Tensor bias_gpu = gpu(bias);
  poison_outputs({c.rows, c.out});
  const Tensor y = linear(gpu(x), gpu(weight), c.bias ? &bias_gpu : nullptr);
  // The matvec path (few rows) and f32 GEMMs keep f32 products; cuBLASLt rounds x to 16 bits.
  const bool rounds_input = c.weight_dtype != DType::kF32 && c.rows > 8;
  expect_close(y, expected, rounds_input ? kHalfGemmTolerance : kF32Tolerance);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, LinearCuda,
    ::testing::Values(
        LinearCase{DType::kF32, 1, 256, 320, true},
        LinearCase{DType::kF32, 8, 67, 45, false},  // odd in: scalar path
        LinearCase{DType::kF32, 37, 256, 320, true}, LinearCase{DType::kBF16, 1, 4096, 1024, false},
        LinearCase{DType::kBF16, 5, 256, 320, true}, LinearCase{DType::kBF16, 3, 67, 45, true},
        LinearCase{DType::kBF16, 300, 512, 768, true},
        LinearCase{DType::kBF16, 129, 512, 96, false}, LinearCase{DType::kF16, 2, 512, 130, true},
        LinearCase{DType::kF16, 64, 512, 256, true},
        LinearCase{DType::kBF16, 17, 72, 40, false},   // 144-byte rows
        LinearCase{DType::kBF16, 20, 67, 45, true},    // 134-byte rows
        // q/k/v-sized (several features a warp), a long row of few features, f32 weights.
        LinearCase{DType::kBF16, 1, 4096, 4608, true}, LinearCase{DType::kBF16, 3, 13696, 256, false},
        LinearCase{DType::kF32, 8, 1024, 64, true}));

// --- norms, element-wise, rotary, softmax ------------------------------------------------------

TEST(NormsCuda, RmsNormMatchesCpu) {
  // Few and many rows, long rows, unaligned widths.
  for (const Shape& shape : {Shape{3, 4096}, Shape{5, 37}, Shape{1, 1536}, Shape{2, 3, 64},
                             Shape{300, 64}, Shape{1296, 1536}, Shape{300, 2052}}) {
    const Tensor x = random_host(shape, 3.0f), weight = random_host({shape.back()});
    poison_outputs(shape);
    expect_close(rms_norm(gpu(x), gpu(weight), 1e-5f), cpu::rms_norm(x, weight, 1e-5f),
                 kF32Tolerance);
  }
}

TEST(NormsCuda, LayerNormMatchesCpu) {
  for (const Shape& shape : {Shape{3, 4096}, Shape{5, 37}, Shape{64, 1536}}) {
    const Tensor x = random_host(shape, 2.0f);
    const Tensor weight = random_host({shape.back()}), bias = random_host({shape.back()});
    poison_outputs(shape);
    expect_close(layer_norm(gpu(x), gpu(weight), gpu(bias), 1e-6f),
                 cpu::layer_norm(x, weight, bias, 1e-6f), kF32Tolerance);
  }
}

// Rows whose mean (20) dwarfs their spread (1): f32 sums of d values err by ~√d·2⁻²⁴ relative in
// either implementation (the CPU's sequential sum measured 1.7e-5 from the GPU's here), so the GPU
// is held to a double-precision reference instead.
TEST(NormsCuda, LayerNormOfOffsetRowsMatchesDoubleReference) {
  const int64_t rows = 3, d = 4096;
  Tensor x = random_host({rows, d});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] += 20.0f;
  const Tensor weight = random_host({d}), bias = random_host({d});
  Tensor expected = Tensor::empty({rows, d}, DType::kF32);
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = x.data<float>() + r * d;
    double mean = 0, var = 0;
    for (int64_t i = 0; i < d; ++i) mean += row[i];
    mean /= double(d);
    for (int64_t i = 0; i < d; ++i) var += (row[i] - mean) * (row[i] - mean);
    const double inv_std = 1 / std::sqrt(var / double(d) + 1e-6);
    for (int64_t i = 0; i < d; ++i)
      expected.data<float>()[r * d + i] =
          float((row[i] - mean) * inv_std * weight.data<float>()[i] + bias.data<float>()[i]);
  }
  poison_outputs({rows, d});
  expect_close(layer_norm(gpu(x), gpu(weight), gpu(bias), 1e-6f), expected, kF32Tolerance);
}

TEST(ElementwiseCuda, AddMatchesCpu) {
  for (const Shape& shape : {Shape{7, 1000}, Shape{3, 5, 7}}) {
    Tensor x = random_host(shape);
    const Tensor y = random_host(shape);
    Tensor x_gpu = gpu(x);
    add_inplace(x_gpu, gpu(y));
    cpu::add_inplace(x, y);
    expect_close(x_gpu, x, kF32Tolerance);
  }
}

TEST(ElementwiseCuda, ActivationsMatchCpu) {
  for (const Activation act : {Activation::kSilu, Activation::kGelu})
    for (const Shape& shape : {Shape{9, 1024}, Shape{5, 7}}) {
      const Tensor x = random_host(shape, 4.0f);
      poison_outputs(shape);
      expect_close(activation(gpu(x), act), cpu::activation(x, act), kF32Tolerance);
    }
}

TEST(ElementwiseCuda, GatedActivationMatchesCpu) {
  for (const Activation act : {Activation::kSilu, Activation::kGelu})
    for (const Shape& shape : {Shape{9, 2 * 352}, Shape{4, 2 * 37}}) {
      const Tensor x = random_host(shape, 3.0f);
      poison_outputs(Shape{shape[0], shape[1] / 2});
      expect_close(gated_activation(gpu(x), act), cpu::gated_activation(x, act), kF32Tolerance);
    }
}

TEST(RotaryCuda, BothLayoutsMatchCpu) {
  struct Case {
    Shape x;
    int64_t pairs;
  };
  for (const RotaryLayout layout : {RotaryLayout::kInterleaved, RotaryLayout::kHalves})
    for (const Case& c : {Case{{11, 6, 128}, 32}, Case{{5, 3, 64}, 32}, Case{{4, 2, 10}, 3}}) {
      Tensor x = random_host(c.x);
      const Tensor cos = uniform_host({c.x[0], c.pairs}, -1, 1),
                   sin = uniform_host({c.x[0], c.pairs}, -1, 1);
      Tensor x_gpu = gpu(x);
      rotary_inplace(x_gpu, gpu(cos), gpu(sin), layout);
      cpu::rotary_inplace(x, cos, sin, layout);
      expect_close(x_gpu, x, kF32Tolerance);
    }
}

TEST(FusedCuda, ResidualRmsNormMatchesCpu) {
  for (const Shape& shape : {Shape{1, 4096}, Shape{7, 4096}, Shape{3, 37}})
    for (const bool with_next : {true, false}) {
      Tensor hidden = random_host(shape, 2.0f);
      const Tensor x = random_host(shape, 5.0f), w = random_host({shape[1]}),
                   w_next = random_host({shape[1]});
      Tensor hidden_gpu = gpu(hidden);
      const Tensor w_next_gpu = gpu(w_next);
      poison_outputs(shape);
      const Tensor next_gpu = residual_rms_norm(hidden_gpu, gpu(x), gpu(w),
                                                with_next ? &w_next_gpu : nullptr, 1e-5f);
      const Tensor next =
          cpu::residual_rms_norm(hidden, x, w, with_next ? &w_next : nullptr, 1e-5f);
      expect_close(hidden_gpu, hidden, kF32Tolerance);
      EXPECT_EQ(next_gpu.defined(), with_next);
      if (with_next) expect_close(next_gpu, next, kF32Tolerance);
    }
}

TEST(FusedCuda, SplitQkvRotaryMatchesCpu) {
  struct Case {
    int64_t n, heads, kv_heads, d, pairs;
  };
  for (const RotaryLayout layout : {RotaryLayout::kInterleaved, RotaryLayout::kHalves})
    // Four features a thread where the layout allows (the first two; the fourth interleaved),
    // else two: d not a multiple of 4, halves pairs not a multiple of 4, interleaved pairs odd.
    for (const Case& c : {Case{1, 32, 2, 128, 32}, Case{13, 12, 12, 128, 64}, Case{5, 4, 2, 10, 3},
                          Case{3, 2, 1, 12, 2}, Case{2, 2, 2, 16, 3}}) {
      const Tensor qkv = random_host({c.n, (c.heads + 2 * c.kv_heads) * c.d});
      const Tensor cos = uniform_host({c.n, c.pairs}, -1, 1),
                   sin = uniform_host({c.n, c.pairs}, -1, 1);
      poison_outputs(Shape{c.n, c.heads, c.d});
      const QkvParts on_gpu =
          split_qkv_rotary(gpu(qkv), c.heads, c.kv_heads, gpu(cos), gpu(sin), layout);
      const QkvParts on_cpu = cpu::split_qkv_rotary(qkv, c.heads, c.kv_heads, cos, sin, layout);
      expect_close(on_gpu.q, on_cpu.q, kF32Tolerance);
      expect_close(on_gpu.k, on_cpu.k, kF32Tolerance);
      expect_close(on_gpu.v, on_cpu.v, 0.0);
    }
}

TEST(RotaryCuda, TablesMatchCpu) {
  // Text-like (3 M-RoPE axes, positions up to 8k) and vision-like (h, w) tables.
  std::uniform_int_distribution<int64_t> position(0, 8191);
  for (const int64_t axes : {3, 2}) {
    const int64_t n = 37, pairs = 32;
    Tensor positions = Tensor::empty({axes, n}, DType::kI64);
    for (int64_t i = 0; i < positions.numel(); ++i) positions.data<int64_t>()[i] = position(rng());
    std::vector<int32_t> pair_axis;
    std::vector<float> inv_freq;
    for (int64_t i = 0; i < pairs; ++i) {
      pair_axis.push_back(int32_t(i % axes));
      inv_freq.push_back(float(std::pow(10000.0, -double(i) / double(pairs))));
    }
    const RotaryTables on_gpu = rotary_tables(positions, pair_axis, inv_freq, Device::kCUDA);
    const RotaryTables on_cpu = cpu::rotary_tables(positions, pair_axis, inv_freq);
    expect_close(on_gpu.cos, on_cpu.cos, kF32Tolerance);
    expect_close(on_gpu.sin, on_cpu.sin, kF32Tolerance);
  }
}

TEST(ArgmaxCuda, MatchesCpuAndFlagsNan) {
  Tensor logits = random_host({33, 151552}, 3.0f);
  logits.data<float>()[5 * 151552 + 77] = 1e6f;  // a clear winner in one row
  logits.data<float>()[9 * 151552 + 3] = logits.data<float>()[9 * 151552 + 100] = 2e6f;  // a tie
  EXPECT_EQ(argmax_rows(gpu(logits)), cpu::argmax_rows(logits));
  logits.data<float>()[20 * 151552 + 9] = NAN;
  EXPECT_THROW(argmax_rows(gpu(logits)), Error);
  // A vocabulary that is no multiple of the kernel's slices, a row of -inf (index 0, as the CPU),
  // and the maximum in the last element.
  Tensor small = random_host({4, 5003}, 3.0f);
  for (int64_t i = 0; i < 5003; ++i) small.data<float>()[2 * 5003 + i] = -INFINITY;
  small.data<float>()[3 * 5003 + 5002] = 1e6f;
  EXPECT_EQ(argmax_rows(gpu(small)), cpu::argmax_rows(small));
}

TEST(SoftmaxCuda, MatchesCpuOnLargeLogits) {
  struct Case {
    Shape shape;
    float scale;
  };
  for (const Case& c : {Case{{7, 33}, 1.0f}, Case{{1, 151552}, 10.0f}, Case{{3, 4096}, 30.0f}}) {
    const Tensor x = random_host(c.shape, c.scale);
    poison_outputs(c.shape);
    expect_close(softmax(gpu(x)), cpu::softmax(x), kF32Tolerance);
  }
}

// --- attention ---------------------------------------------------------------------------------

struct CausalCase {
  int64_t n, past, heads, kv_heads, d;
};

void PrintTo(const CausalCase& c, std::ostream* os) {
  *os << c.n << "_queries_after_" << c.past << "_heads_" << c.heads << "_over_" << c.kv_heads
      << "_d" << c.d;
}

class CausalAttentionCuda : public ::testing::TestWithParam<CausalCase> {};

TEST_P(CausalAttentionCuda, MatchesCpu) {
  const CausalCase c = GetParam();
  const Tensor q = random_host({c.n, c.heads, c.d}),
               k = random_host({c.past + c.n, c.kv_heads, c.d}),
               v = random_host({c.past + c.n, c.kv_heads, c.d});
  const float scale = 1.0f / std::sqrt(float(c.d));
  poison_outputs({c.n, c.heads * c.d});
  expect_close(causal_attention(gpu(q), gpu(k), gpu(v), c.past, scale),
               cpu::causal_attention(q, k, v, c.past, scale),
               attention_tolerance(c.n, c.heads, c.kv_heads, c.d));
}

INSTANTIATE_TEST_SUITE_P(Shapes, CausalAttentionCuda,
                         ::testing::Values(CausalCase{37, 0, 8, 2, 128},    // prefill, GQA
                                           CausalCase{1, 700, 32, 2, 128},  // decode, split-K
                                           CausalCase{1, 4095, 8, 1, 128},  // 32 key chunks
                                           CausalCase{5, 11, 6, 2, 16},
                                           CausalCase{3, 4, 4, 4, 80},  // d not a multiple of 32
                                           CausalCase{300, 20, 4, 1, 256}));

TEST(SegmentAttentionCuda, MatchesCpu) {
  struct Case {
    std::vector<int64_t> cu_seqlens;
    int64_t heads, d;
  };
  // {0, 1, 257}: few units, so keys split into chunks, and token 0's first chunk is empty.
  for (const Case& c :
       {Case{{0, 4, 4, 9}, 2, 8}, Case{{0, 64, 200, 456}, 12, 128}, Case{{0, 1, 257}, 1, 64}}) {
    const int64_t tokens = c.cu_seqlens.back();
    const Tensor q = random_host({tokens, c.heads, c.d}), k = random_host({tokens, c.heads, c.d}),
                 v = random_host({tokens, c.heads, c.d});
    poison_outputs({tokens, c.heads * c.d});
    expect_close(segment_attention(gpu(q), gpu(k), gpu(v), c.cu_seqlens, 0.3f),
                 cpu::segment_attention(q, k, v, c.cu_seqlens, 0.3f),
                 attention_tolerance(tokens, c.heads, c.heads, c.d));
  }
}

TEST(PagedAttentionCuda, MatchesContiguousCpuAttention) {
  struct Case {
    int64_t n, q_offset;
  };
  const int64_t pool_blocks = 40, block_size = 16, heads = 8, kv_heads = 2, d = 128;
  for (const Case& c : {Case{1, 300}, Case{20, 45}, Case{16, 0}}) {
    const int64_t keys = c.q_offset + c.n, used = (keys + block_size - 1) / block_size;
    const Tensor k_pool = random_host({pool_blocks, block_size, kv_heads, d}),
                 v_pool = random_host({pool_blocks, block_size, kv_heads, d}),
                 q = random_host({c.n, heads, d});
    std::vector<int32_t> table(static_cast<size_t>(pool_blocks));
    std::iota(table.begin(), table.end(), 0);
    std::shuffle(table.begin(), table.end(), rng());
    table.resize(size_t(used));
    // The reference: the sequence's keys gathered into one contiguous cache.
    Tensor k = Tensor::empty({keys, kv_heads, d}, DType::kF32),
           v = Tensor::empty(k.shape(), DType::kF32);
    const int64_t row = kv_heads * d;
    for (int64_t p = 0; p < keys; ++p) {
      const int64_t src =
          (int64_t(table[size_t(p / block_size)]) * block_size + p % block_size) * row;
      std::copy_n(k_pool.data<float>() + src, row, k.data<float>() + p * row);
      std::copy_n(v_pool.data<float>() + src, row, v.data<float>() + p * row);
    }
    const float scale = 1.0f / std::sqrt(float(d));
    poison_outputs({c.n, heads * d});
    // Against the contiguous CPU op: an independent check of the block-table indexing.
    expect_close(
        cuda::paged_causal_attention(gpu(q), gpu(k_pool), gpu(v_pool), table, c.q_offset, scale),
        cpu::causal_attention(q, k, v, c.q_offset, scale),
        attention_tolerance(c.n, heads, kv_heads, d));
  }
}

// --- embedding, grid_sample --------------------------------------------------------------------

TEST(EmbeddingCuda, GathersEveryDtypeExactly) {
  const Tensor table_f32 = random_host({1000, 96});
  std::uniform_int_distribution<int32_t> id(0, 999);
  std::vector<int32_t> ids = {0, 999};
  for (int i = 0; i < 11; ++i) ids.push_back(id(rng()));
  for (const DType dtype : {DType::kF32, DType::kBF16, DType::kF16}) {
    const Tensor table = dtype == DType::kF32 ? table_f32 : to_half(table_f32, dtype);
    poison_outputs({int64_t(ids.size()), 96});
    expect_close(embedding(gpu(table), ids), cpu::embedding(table, ids), 0.0);  // exact upcasts
  }
}

TEST(PixelsFromBytesCuda, EqualsTheCpuOpBitForBit) {
  // A 512² image's patches (1,296 × 3 channels × 14²) and a small odd shape; two temporal copies
  // (GLM-4.6V) and three.
  struct Case {
    int64_t rows, channels, area, copies;
  };
  for (const Case& c : {Case{1296, 3, 196, 2}, Case{7, 3, 5, 3}}) {
    Tensor bytes = Tensor::empty({c.rows, c.channels * c.area}, DType::kU8);
    std::uniform_int_distribution<int> level(0, 255);
    for (int64_t i = 0; i < bytes.numel(); ++i) bytes.data<uint8_t>()[i] = uint8_t(level(rng()));
    const Tensor levels = random_host({c.channels, 256});
    for (const DType dtype : {DType::kF32, DType::kBF16, DType::kF16}) {
      SCOPED_TRACE(testing::Message() << c.rows << " rows, " << dtype_name(dtype));
      const Shape shape{c.rows, c.channels * c.copies * c.area};
      const Tensor want = Tensor::empty(shape, dtype);
      cpu::pixels_from_bytes(bytes, levels, want);
      poison_outputs(shape);
      const Tensor got = Tensor::empty(shape, dtype, Device::kCUDA);
      pixels_from_bytes(gpu(bytes), gpu(levels), got);
      const Tensor back = host(got);
      EXPECT_EQ(std::memcmp(back.raw_data(), want.raw_data(), want.nbytes()), 0);
    }
  }
  const Tensor bytes = gpu(Tensor::empty({2, 12}, DType::kU8));
  EXPECT_THROW(pixels_from_bytes(bytes, random_host({3, 256}),
                                 Tensor::empty({2, 24}, DType::kF32, Device::kCUDA)),
               Error);  // levels on the host
}

TEST(GridSampleCuda, BicubicMatchesCpu) {
  struct Case {
    Shape map;
    int64_t points;
  };
  for (const Case& c : {Case{{24, 24, 64}, 200}, Case{{5, 7, 3}, 50}}) {
    const Tensor map = random_host(c.map);
    const Tensor points = uniform_host({c.points, 2}, -1.1f, 1.1f);  // past the border, too
    poison_outputs({c.points, c.map[2]});
    expect_close(bicubic_grid_sample(gpu(map), gpu(points)), cpu::bicubic_grid_sample(map, points),
                 kF32Tolerance);
  }
}

}  // namespace
}  // namespace glimpse::ops
