// The tensor-core flash-attention path of cuda::causal_attention, cuda::paged_causal_attention,
// cuda::segment_attention and cuda::rotary_segment_attention against the CPU ops, on fresh random
// inputs (seed printed on failure, GLIMPSE_SEED=<n> replays it) with outputs from NaN-filled
// allocator blocks, like ops_cuda_test. Each case runs under each flash kernel (mma.sync with 4 and
// 8 warps; wgmma, plain and pipelined with 128 and 64 rows a block, where the device and build have
// it, else 8 warps again) and under the automatic choice. Tolerance, ‖gpu − cpu‖₂ / ‖cpu‖₂ over the
// whole output (NaN or Inf never passes): 1e-2, for q, k, v and the softmax weights rounded to bf16
// (8 significant bits) before the tensor-core products, with f32 accumulation and an f32 softmax;
// measured errors are near 3e-3.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <ostream>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "core/device_copy.h"
#include "cuda_test_util.h"
#include "ops/attention.h"
#include "ops/convert.h"
#include "ops/flash_attention_cuda.h"
#include "ops/fused.h"
#include "ops/paged_attention.h"

namespace glimpse::ops {
namespace {

constexpr double kFlashTolerance = 1e-2;

using namespace cuda_testing;

// Each flash kernel shape, then the automatic choice; restores kAuto when it goes.
class ForcedKernels {
 public:
  static constexpr cuda::AttentionKernel kAll[] = {
      cuda::AttentionKernel::kFlash4Warps, cuda::AttentionKernel::kFlash8Warps,
      cuda::AttentionKernel::kFlashHopperPipelined, cuda::AttentionKernel::kFlashHopperPipelined64,
      cuda::AttentionKernel::kAuto};
  ~ForcedKernels() { cuda::force_attention_kernel(cuda::AttentionKernel::kAuto); }
};

const char* kernel_name(cuda::AttentionKernel kernel) {
  switch (kernel) {
    case cuda::AttentionKernel::kFlash4Warps:
      return "flash, 4 warps";
    case cuda::AttentionKernel::kFlash8Warps:
      return "flash, 8 warps";
    case cuda::AttentionKernel::kFlashHopperPipelined:
      return "flash, wgmma pipelined, 128 rows";
    case cuda::AttentionKernel::kFlashHopperPipelined64:
      return "flash, wgmma pipelined, 64 rows";
    case cuda::AttentionKernel::kAuto:
      return "auto";
    default:
      return "split-K";
  }
}

// Runs `op` (returning the GPU output) under each kernel choice against `expected`.
template <typename Op>
void expect_close_under_each_kernel(const Op& op, const Tensor& expected) {
  SCOPED_TRACE(::testing::Message() << "seed " << run_seed() << " (GLIMPSE_SEED replays it)");
  ForcedKernels restore;
  for (const cuda::AttentionKernel kernel : ForcedKernels::kAll) {
    SCOPED_TRACE(kernel_name(kernel));
    cuda::force_attention_kernel(kernel);
    poison_outputs(expected.nbytes());
    const Tensor on_gpu = op();
    ASSERT_EQ(on_gpu.device(), Device::kCUDA);
    const cudaError_t status = cudaDeviceSynchronize();
    ASSERT_EQ(status, cudaSuccess) << cudaGetErrorString(status);
    const Tensor actual = to_device(on_gpu, Device::kCPU);
    ASSERT_EQ(actual.shape(), expected.shape());
    ASSERT_EQ(actual.dtype(), expected.dtype());
    const double error = relative_error(actual, expected);
    ::testing::Test::RecordProperty(std::string("error, ") + kernel_name(kernel),
                                    std::to_string(error));
    EXPECT_LE(error, kFlashTolerance);
  }
}

// The automatic choice takes the flash kernel for these shapes (or not).
void expect_flash(int64_t tokens, int64_t heads, int64_t kv_heads, int64_t d, bool flash) {
  cuda_kernels::AttentionArgs args{};
  alignas(16) static float dummy[4];
  args.q = args.k = args.v = dummy;
  args.out = dummy;
  args.tokens = int(tokens);
  args.heads = int(heads);
  args.kv_heads = int(kv_heads);
  args.head_dim = int(d);
  args.scale = 0.1f;
  EXPECT_EQ(cuda::flash_kernel_for(args) != cuda::FlashKernel::kNone, flash)
      << tokens << " tokens, " << heads << "/" << kv_heads << " heads, d " << d;
}

TEST(FlashAttentionCuda, AutomaticChoice) {
  expect_flash(347, 32, 2, 128, true);    // prefill
  expect_flash(1296, 12, 12, 128, true);  // vision
  expect_flash(2048, 16, 16, 64, true);
  expect_flash(1, 32, 2, 128, false);  // decode: split-K
  expect_flash(500, 8, 2, 80, false);  // no flash build for d 80
  expect_flash(500, 4, 4, 256, false);
}

// Where the build and the GPU have the wgmma kernels, the automatic choice takes the pipelined one
// in 64-row blocks for head dim 128 (on the H100 the fastest or within 0.5 % at every prefill and
// vision size measured), and keeps the mma.sync kernel for 64.
TEST(FlashAttentionCuda, AutomaticChoiceTakesWgmmaOnHopper) {
  if (!cuda_kernels::flash_attention_hopper_supports(128))
    GTEST_SKIP() << "no sm_90a build or no sm_90 GPU";
  auto kernel = [](int64_t tokens, int64_t heads, int64_t kv_heads, int64_t d) {
    return cuda::flash_kernel_for(tokens * (heads / kv_heads), int(kv_heads), int(d), 0.1f, true);
  };
  for (const auto& [tokens, heads, kv_heads] : {std::tuple<int64_t, int64_t, int64_t>{347, 32, 2},
                                                {1296, 12, 12},
                                                {10764, 12, 12},
                                                {2048, 32, 2}})
    EXPECT_EQ(kernel(tokens, heads, kv_heads, 128), cuda::FlashKernel::kHopperPipelined64) << tokens;
  const cuda::FlashKernel d64 = kernel(2048, 16, 16, 64);
  EXPECT_TRUE(d64 == cuda::FlashKernel::k4Warps || d64 == cuda::FlashKernel::k8Warps);
}

// The split-K kernel still serves decode and unsupported head dims; forced onto prefill shapes it
// must keep its f32 accuracy (1e-5, both sides f32).
TEST(FlashAttentionCuda, SplitKKernelStaysF32Exact) {
  SCOPED_TRACE(::testing::Message() << "seed " << run_seed() << " (GLIMPSE_SEED replays it)");
  ForcedKernels restore;
  cuda::force_attention_kernel(cuda::AttentionKernel::kSplitK);
  const int64_t n = 150, past = 30, heads = 8, kv_heads = 2, d = 128;
  const Tensor q = random_host({n, heads, d}), k = random_host({past + n, kv_heads, d}),
               v = random_host({past + n, kv_heads, d});
  const Tensor expected = cpu::causal_attention(q, k, v, past, 0.1f);
  poison_outputs(expected.shape());
  const Tensor actual =
      to_device(cuda::causal_attention(gpu(q), gpu(k), gpu(v), past, 0.1f), Device::kCPU);
  EXPECT_LE(relative_error(actual, expected), 1e-5);
  const std::vector<int64_t> cu_seqlens = {0, 64, 200, 456};
  const Tensor qs = random_host({456, 12, d}), ks = random_host({456, 12, d}),
               vs = random_host({456, 12, d});
  const Tensor expected_segments = cpu::segment_attention(qs, ks, vs, cu_seqlens, 0.1f);
  poison_outputs(expected_segments.shape());
  const Tensor actual_segments =
      to_device(cuda::segment_attention(gpu(qs), gpu(ks), gpu(vs), cu_seqlens, 0.1f), Device::kCPU);
  EXPECT_LE(relative_error(actual_segments, expected_segments), 1e-5);
}

// --- causal
// ---------------------------------------------------------------------------------------

struct CausalCase {
  int64_t n, past, heads, kv_heads, d;
};

void PrintTo(const CausalCase& c, std::ostream* os) {
  *os << c.n << "_queries_after_" << c.past << "_heads_" << c.heads << "_over_" << c.kv_heads
      << "_d" << c.d;
}

class FlashCausalAttentionCuda : public ::testing::TestWithParam<CausalCase> {};

TEST_P(FlashCausalAttentionCuda, MatchesCpu) {
  const CausalCase c = GetParam();
  const Tensor q = random_host({c.n, c.heads, c.d}),
               k = random_host({c.past + c.n, c.kv_heads, c.d}),
               v = random_host({c.past + c.n, c.kv_heads, c.d});
  const float scale = 1.0f / std::sqrt(float(c.d));
  const Tensor expected = cpu::causal_attention(q, k, v, c.past, scale);
  const Tensor q_gpu = gpu(q), k_gpu = gpu(k), v_gpu = gpu(v);
  expect_close_under_each_kernel(
      [&] { return cuda::causal_attention(q_gpu, k_gpu, v_gpu, c.past, scale); }, expected);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, FlashCausalAttentionCuda,
    ::testing::Values(CausalCase{347, 0, 32, 2, 128},    // GLM-4.6V prefill, GQA 32/2
                      CausalCase{2048, 0, 32, 2, 128},   // long prefill
                      CausalCase{200, 313, 32, 2, 128},  // chunked prefill / prefix-cache hit
                      CausalCase{5, 1000, 32, 2, 128},   // few queries, long past
                      CausalCase{129, 0, 12, 12, 128},   // no GQA, one row past a tile
                      CausalCase{300, 77, 16, 4, 64},    // d 64, GQA 4
                      CausalCase{64, 0, 8, 8, 64}));

// K/V with more rows than the queries see: only keys [0, past + n) may count.
TEST(FlashAttentionCuda, CausalIgnoresKeysPastTheLastQuery) {
  const int64_t n = 150, past = 40, extra = 100, heads = 32, kv_heads = 2, d = 128;
  const Tensor q = random_host({n, heads, d}), k = random_host({past + n + extra, kv_heads, d}),
               v = random_host({past + n + extra, kv_heads, d});
  const float scale = 0.09f;
  const Tensor expected = cpu::causal_attention(q, k, v, past, scale);
  const Tensor q_gpu = gpu(q), k_gpu = gpu(k), v_gpu = gpu(v);
  expect_close_under_each_kernel(
      [&] { return cuda::causal_attention(q_gpu, k_gpu, v_gpu, past, scale); }, expected);
}

// Scores with a spread of ~30 (q scaled by 4): the online softmax must rescale without overflow.
TEST(FlashAttentionCuda, CausalWithLargeScores) {
  const int64_t n = 300, heads = 8, kv_heads = 2, d = 128;
  const Tensor q = random_host({n, heads, d}, 4.0f), k = random_host({n, kv_heads, d}),
               v = random_host({n, kv_heads, d});
  const float scale = 1.0f / std::sqrt(float(d));
  const Tensor expected = cpu::causal_attention(q, k, v, 0, scale);
  const Tensor q_gpu = gpu(q), k_gpu = gpu(k), v_gpu = gpu(v);
  expect_close_under_each_kernel(
      [&] { return cuda::causal_attention(q_gpu, k_gpu, v_gpu, 0, scale); }, expected);
}

// --- paged
// ----------------------------------------------------------------------------------------

struct PagedCase {
  int64_t n, q_offset, heads, kv_heads, d, block_size;
};

void PrintTo(const PagedCase& c, std::ostream* os) {
  *os << c.n << "_queries_at_" << c.q_offset << "_heads_" << c.heads << "_over_" << c.kv_heads
      << "_d" << c.d << "_blocks_of_" << c.block_size;
}

class FlashPagedAttentionCuda : public ::testing::TestWithParam<PagedCase> {};

TEST_P(FlashPagedAttentionCuda, MatchesContiguousCpuAttention) {
  const PagedCase c = GetParam();
  const int64_t keys = c.q_offset + c.n, used = (keys + c.block_size - 1) / c.block_size;
  const int64_t pool_blocks = used + 7;  // unused blocks in the pool too
  const Tensor k_pool = random_host({pool_blocks, c.block_size, c.kv_heads, c.d}),
               v_pool = random_host({pool_blocks, c.block_size, c.kv_heads, c.d}),
               q = random_host({c.n, c.heads, c.d});
  std::vector<int32_t> table(static_cast<size_t>(pool_blocks));
  std::iota(table.begin(), table.end(), 0);
  std::shuffle(table.begin(), table.end(), rng());
  table.resize(size_t(used));
  // The reference: the sequence's keys gathered into one contiguous cache.
  Tensor k = Tensor::empty({keys, c.kv_heads, c.d}, DType::kF32),
         v = Tensor::empty(k.shape(), DType::kF32);
  const int64_t row = c.kv_heads * c.d;
  for (int64_t p = 0; p < keys; ++p) {
    const int64_t src =
        (int64_t(table[size_t(p / c.block_size)]) * c.block_size + p % c.block_size) * row;
    std::copy_n(k_pool.data<float>() + src, row, k.data<float>() + p * row);
    std::copy_n(v_pool.data<float>() + src, row, v.data<float>() + p * row);
  }
  const float scale = 1.0f / std::sqrt(float(c.d));
  const Tensor expected = cpu::causal_attention(q, k, v, c.q_offset, scale);
  const Tensor q_gpu = gpu(q), k_gpu = gpu(k_pool), v_gpu = gpu(v_pool);
  expect_close_under_each_kernel(
      [&] { return cuda::paged_causal_attention(q_gpu, k_gpu, v_gpu, table, c.q_offset, scale); },
      expected);
}

INSTANTIATE_TEST_SUITE_P(Shapes, FlashPagedAttentionCuda,
                         ::testing::Values(PagedCase{347, 0, 32, 2, 128, 16},    // prefill
                                           PagedCase{250, 93, 32, 2, 128, 16},   // chunked prefill
                                           PagedCase{100, 700, 32, 2, 128, 16},  // prefix hit
                                           PagedCase{130, 21, 16, 4, 64, 16},    // d 64
                                           PagedCase{77, 50, 8, 2, 128, 32}));   // blocks of 32

// --- segments
// -------------------------------------------------------------------------------------

struct SegmentCase {
  std::vector<int64_t> cu_seqlens;
  int64_t heads, d;
};

void PrintTo(const SegmentCase& c, std::ostream* os) {
  *os << c.cu_seqlens.size() - 1 << "_segments_of_" << c.cu_seqlens.back() << "_tokens_heads_"
      << c.heads << "_d" << c.d;
}

class FlashSegmentAttentionCuda : public ::testing::TestWithParam<SegmentCase> {};

TEST_P(FlashSegmentAttentionCuda, MatchesCpu) {
  const SegmentCase& c = GetParam();
  const int64_t tokens = c.cu_seqlens.back();
  const Tensor q = random_host({tokens, c.heads, c.d}), k = random_host({tokens, c.heads, c.d}),
               v = random_host({tokens, c.heads, c.d});
  const float scale = 1.0f / std::sqrt(float(c.d));
  const Tensor expected = cpu::segment_attention(q, k, v, c.cu_seqlens, scale);
  const Tensor q_gpu = gpu(q), k_gpu = gpu(k), v_gpu = gpu(v);
  expect_close_under_each_kernel(
      [&] { return cuda::segment_attention(q_gpu, k_gpu, v_gpu, c.cu_seqlens, scale); }, expected);
}

// bf16 q/k/v (the vision tower's on the GPU): read in place, out in bf16, against the CPU op on
// the same rounded inputs (computed in f32, rounded once). Under the forced split-K kernel they are
// widened to f32 and the output rounded back.
TEST_P(FlashSegmentAttentionCuda, Bf16MatchesCpu) {
  const SegmentCase& c = GetParam();
  const int64_t tokens = c.cu_seqlens.back();
  const Tensor q = convert(random_host({tokens, c.heads, c.d}), DType::kBF16),
               k = convert(random_host({tokens, c.heads, c.d}), DType::kBF16),
               v = convert(random_host({tokens, c.heads, c.d}), DType::kBF16);
  const float scale = 1.0f / std::sqrt(float(c.d));
  const Tensor expected = cpu::segment_attention(q, k, v, c.cu_seqlens, scale);
  ASSERT_EQ(expected.dtype(), DType::kBF16);
  const Tensor q_gpu = gpu(q), k_gpu = gpu(k), v_gpu = gpu(v);
  expect_close_under_each_kernel(
      [&] { return cuda::segment_attention(q_gpu, k_gpu, v_gpu, c.cu_seqlens, scale); }, expected);
}

// The vision tower's attention from its packed bf16 qkv (rotary_segment_attention: q and k
// rotated into a buffer laid out as qkv, v read in place) equals split_qkv_rotary then
// segment_attention on the GPU bit for bit under every kernel (the same roundings in the same
// order), and the CPU op within the flash tolerance.
TEST_P(FlashSegmentAttentionCuda, RotaryFromPackedQkvEqualsSplitThenAttention) {
  const SegmentCase& c = GetParam();
  const int64_t tokens = c.cu_seqlens.back();
  const Tensor qkv = convert(random_host({tokens, 3 * c.heads * c.d}), DType::kBF16);
  const Tensor cos = uniform_host({tokens, c.d / 2}, -1, 1),
               sin = uniform_host({tokens, c.d / 2}, -1, 1);
  const float scale = 1.0f / std::sqrt(float(c.d));
  const Tensor qkv_gpu = gpu(qkv), cos_gpu = gpu(cos), sin_gpu = gpu(sin);
  const auto halves = RotaryLayout::kHalves;
  auto fused = [&] {
    return cuda::rotary_segment_attention(qkv_gpu, c.heads, cos_gpu, sin_gpu, halves, c.cu_seqlens,
                                          scale);
  };
  expect_close_under_each_kernel(
      fused, cpu::rotary_segment_attention(qkv, c.heads, cos, sin, halves, c.cu_seqlens, scale));
  ForcedKernels restore;
  for (const cuda::AttentionKernel kernel : ForcedKernels::kAll) {
    SCOPED_TRACE(kernel_name(kernel));
    cuda::force_attention_kernel(kernel);
    const auto [q, k, v] =
        cuda::split_qkv_rotary(qkv_gpu, c.heads, c.heads, cos_gpu, sin_gpu, halves, DType::kBF16);
    const Tensor composed =
        to_device(cuda::segment_attention(q, k, v, c.cu_seqlens, scale), Device::kCPU);
    poison_outputs(composed.nbytes());
    const Tensor actual = to_device(fused(), Device::kCPU);
    ASSERT_EQ(actual.shape(), composed.shape());
    ASSERT_EQ(actual.dtype(), DType::kBF16);
    EXPECT_EQ(std::memcmp(actual.raw_data(), composed.raw_data(), composed.nbytes()), 0);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, FlashSegmentAttentionCuda,
    ::testing::Values(
        SegmentCase{
            {0, 1296},
            12,
            128},  // one 512² image (36 × 36 patches)
                   // Several images of different sizes, 1-token segments, an empty one, lengths
                   // that are no multiple of a tile, tiles spanning several segments.
        SegmentCase{{0, 1, 2, 67, 300, 300, 301, 877, 1001}, 12, 128},
        SegmentCase{{0, 576, 1872, 1873, 2500}, 12, 128},
        SegmentCase{{0, 3, 10, 11, 140, 400}, 16, 64},  // d 64
        SegmentCase{
            {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
             21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41,
             42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62,
             63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80},
            4,
            128}));  // 80 one-token segments: every row sees only itself

}  // namespace
}  // namespace glimpse::ops
