// The serving step on the GPU (make_paged_batch on the device, cuda::store_kv,
// cuda::paged_attention_batch) against the CPU ops on fresh random inputs: decode-only batches
// (the flash-decoding kernel, with and without split-K), mixed decode + prefill chunks, and the
// head shapes of the golden test models. Part of ops_cuda_test; the same seed rules (GLIMPSE_SEED
// replays a run) and NaN-poisoned outputs; f32 tolerance 1e-5, store_kv exact.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <numeric>
#include <random>
#include <vector>

#include "core/device_copy.h"
#include "cuda_test_util.h"
#include "ops/paged_attention.h"

namespace glimpse::ops {
namespace {

constexpr double kTolerance = 1e-5;
// Sequences with several new tokens run through cuda::paged_causal_attention, whose tensor-core
// flash kernel rounds q, k, v and the weights to bf16 (tests/ops_cuda/flash_attention_test.cc).
constexpr double kPrefillTolerance = 1e-2;

using namespace cuda_testing;

struct Geometry {
  int64_t heads, kv_heads, d, block_size;
};

struct Step {
  std::vector<std::vector<int32_t>> tables;
  std::vector<PagedSequence> seqs;
  int64_t num_blocks = 0, total = 0;
};

// Sequences of (cached, new) tokens over a pool of shuffled blocks, some tables longer than needed.
Step make_step(const std::vector<std::pair<int64_t, int64_t>>& specs, int64_t block_size) {
  Step step;
  for (const auto& [cached, fresh] : specs) {
    step.num_blocks += (cached + fresh + block_size - 1) / block_size + 1;
    step.total += fresh;
  }
  std::vector<int32_t> ids(static_cast<size_t>(step.num_blocks));
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), rng());
  size_t next = 0;
  for (const auto& [cached, fresh] : specs) {
    const size_t n = size_t((cached + fresh + block_size - 1) / block_size + int64_t(rng()() % 2));
    step.tables.emplace_back(ids.begin() + int64_t(next), ids.begin() + int64_t(next + n));
    next += n;
  }
  for (size_t i = 0; i < specs.size(); ++i)
    step.seqs.push_back({step.tables[i], specs[i].first, specs[i].second});
  return step;
}

// store_kv then paged_attention_batch on both devices: the pools must match exactly, the
// attention within kTolerance.
void check_step(const std::vector<std::pair<int64_t, int64_t>>& specs, const Geometry& g) {
  SCOPED_TRACE(::testing::Message() << "seed " << run_seed() << " (GLIMPSE_SEED replays it), heads "
                                    << g.heads << "/" << g.kv_heads << ", d " << g.d);
  const Step step = make_step(specs, g.block_size);
  const PagedBatch cpu_batch = make_paged_batch(step.seqs, step.num_blocks, g.block_size,
                                                Device::kCPU);
  const PagedBatch gpu_batch = make_paged_batch(step.seqs, step.num_blocks, g.block_size,
                                                Device::kCUDA);
  // The device metadata is the host's.
  for (const auto& [device, expected] :
       {std::pair{&gpu_batch.query_start, &cpu_batch.host.query_start},
        std::pair{&gpu_batch.context_lens, &cpu_batch.host.context_lens},
        std::pair{&gpu_batch.block_tables, &cpu_batch.host.block_tables},
        std::pair{&gpu_batch.slots, &cpu_batch.host.slots},
        std::pair{&gpu_batch.decode_seqs, &cpu_batch.host.decode_seqs}}) {
    const Tensor back = host(*device);
    ASSERT_EQ(std::vector<int32_t>(back.data<int32_t>(), back.data<int32_t>() + back.numel()),
              *expected);
  }

  Tensor k_pool = random_host({step.num_blocks, g.block_size, g.kv_heads, g.d});
  Tensor v_pool = random_host(k_pool.shape());
  const Tensor k = random_host({step.total, g.kv_heads, g.d});
  const Tensor v = random_host({step.total, g.kv_heads * g.d});
  const Tensor q = random_host({step.total, g.heads, g.d});
  Tensor k_pool_gpu = gpu(k_pool), v_pool_gpu = gpu(v_pool);
  store_kv(k_pool, v_pool, k, v, cpu_batch);
  store_kv(k_pool_gpu, v_pool_gpu, gpu(k), gpu(v), gpu_batch);
  const Tensor k_back = host(k_pool_gpu), v_back = host(v_pool_gpu);
  ASSERT_TRUE(std::equal(k_back.bytes().begin(), k_back.bytes().end(), k_pool.bytes().begin()));
  ASSERT_TRUE(std::equal(v_back.bytes().begin(), v_back.bytes().end(), v_pool.bytes().begin()));

  const float scale = 1.0f / std::sqrt(float(g.d));
  const Tensor expected = paged_attention_batch(q, k_pool, v_pool, cpu_batch, scale);
  const Tensor q_gpu = gpu(q);
  poison_outputs(expected.shape());
  const Tensor out = paged_attention_batch(q_gpu, k_pool_gpu, v_pool_gpu, gpu_batch, scale);
  ASSERT_EQ(out.device(), Device::kCUDA);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const Tensor actual = host(out);
  ASSERT_EQ(actual.shape(), expected.shape());
  // Sequence by sequence, so one bad sequence cannot hide in the batch's norm. The decode rows come
  // from this op's f32 kernel; the prefill rows from paged_causal_attention, held to its tolerance.
  for (int64_t s = 0; s < cpu_batch.sequences; ++s) {
    const int64_t first = cpu_batch.host.query_start[size_t(s)];
    const int64_t last = cpu_batch.host.query_start[size_t(s + 1)];
    EXPECT_LE(relative_error(actual.slice_rows(first, last), expected.slice_rows(first, last)),
              last - first == 1 ? kTolerance : kPrefillTolerance)
        << "sequence " << s << ": " << specs[size_t(s)].first << " cached, "
        << specs[size_t(s)].second << " new";
  }
}

std::vector<std::pair<int64_t, int64_t>> decode_batch(std::vector<int64_t> contexts) {
  std::vector<std::pair<int64_t, int64_t>> specs;
  for (int64_t c : contexts) specs.push_back({c - 1, 1});
  return specs;
}

constexpr Geometry kGlm{32, 2, 128, 16};  // GLM-4.6V-Flash: 32 query heads over 2 KV heads

TEST(PagedBatchCuda, DecodeSplitKMatchesCpu) {
  // Contexts from one key to past a chunk and tile boundaries; one sequence much longer.
  check_step(decode_batch({1, 17, 400, 700, 33, 64, 65, 1000}), kGlm);
  check_step(decode_batch({4096}), kGlm);
}

TEST(PagedBatchCuda, DecodeWithoutSplitMatchesCpu) {
  check_step(decode_batch({1, 5, 31, 32, 63}), kGlm);  // under two tiles of keys: one chunk
  std::vector<int64_t> many(300);
  std::uniform_int_distribution<int64_t> length(1, 300);
  for (auto& c : many) c = length(rng());
  check_step(decode_batch(many), kGlm);  // enough CTAs without splitting
}

TEST(PagedBatchCuda, MixedDecodeAndPrefillMatchCpu) {
  check_step({{300, 1}, {0, 12}, {45, 20}, {15, 1}, {0, 1}, {130, 7}}, kGlm);
  check_step({{0, 16}}, kGlm);  // one prefill sequence alone
}

TEST(PagedBatchCuda, OtherHeadShapesMatchCpu) {
  const auto mixed = std::vector<std::pair<int64_t, int64_t>>{
      {200, 1}, {0, 5}, {63, 1}, {9, 3}, {500, 1}, {1, 1}};
  for (const Geometry& g : {Geometry{4, 2, 32, 16},    // demo and tiny-a models
                            Geometry{4, 1, 24, 16},    // tiny-b
                            Geometry{8, 1, 10, 4},     // d not a multiple of 4: scalar path
                            Geometry{4, 2, 30, 16},    // scalar path into swizzled K rows
                            Geometry{6, 2, 256, 8},    // d 256, 3 heads per KV head
                            Geometry{12, 2, 80, 16},   // 6 heads per KV head
                            Geometry{64, 2, 64, 16},   // 32 per KV head: two CTA head groups
                            Geometry{8, 8, 128, 32}})  // MHA
    check_step(mixed, g);
}

TEST(PagedBatchCuda, RejectsHostTensorsForADeviceBatch) {
  const std::vector<int32_t> table{0};
  const std::vector<PagedSequence> seqs{{table, 0, 1}};
  const PagedBatch batch = make_paged_batch(seqs, 1, 4, Device::kCUDA);
  Tensor pool = random_host({1, 4, 1, 8});
  const Tensor k = random_host({1, 1, 8});
  EXPECT_THROW(store_kv(pool, pool, k, k, batch), Error);
  Tensor pool_gpu = gpu(pool);
  EXPECT_THROW(store_kv(pool_gpu, pool_gpu, k, k, batch), Error);
  EXPECT_THROW(paged_attention_batch(gpu(random_host({1, 2, 8})), pool_gpu, pool_gpu,
                                     make_paged_batch(seqs, 1, 4, Device::kCPU), 1.0f),
               Error);
}

}  // namespace
}  // namespace glimpse::ops
