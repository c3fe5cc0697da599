// A serving step over the paged KV pool (make_paged_batch, store_kv, paged_attention_batch) against
// contiguous causal_attention per sequence, with shuffled block tables and mixed decode + prefill.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "ops/attention.h"
#include "ops/paged_attention.h"
#include "ops_test_util.h"

namespace glimpse::ops {
namespace {

using testing::random_tensor;

struct SeqSpec {
  int64_t cached, fresh;
};

// The error message of `call`, or "" when it does not throw an invalid-argument Error.
template <typename Call>
std::string error_of(Call&& call) {
  try {
    call();
  } catch (const Error& e) {
    return e.kind() == ErrorKind::kInvalidArgument ? e.what() : std::string("wrong kind: ") + e.what();
  }
  return "";
}

double max_relative(const Tensor& actual, const Tensor& expected) {
  double diff = 0, norm = 0;
  for (int64_t i = 0; i < expected.numel(); ++i) {
    const double a = actual.data<float>()[i], e = expected.data<float>()[i];
    if (!std::isfinite(a)) return INFINITY;
    diff += (a - e) * (a - e);
    norm += e * e;
  }
  return std::sqrt(diff / norm);
}

// One step: sequences with `specs` over a shuffled pool; checks the pool after store_kv row by row
// and each sequence's attention against causal_attention over its keys gathered contiguously.
void run_step(const std::vector<SeqSpec>& specs, int64_t heads, int64_t kv_heads, int64_t d,
              int64_t block_size, uint32_t seed) {
  std::mt19937 rng(seed);
  int64_t blocks_needed = 0, total = 0;
  for (const SeqSpec& s : specs) {
    blocks_needed += (s.cached + s.fresh + block_size - 1) / block_size + 1;  // one spare each
    total += s.fresh;
  }
  const int64_t num_blocks = blocks_needed + 3;
  std::vector<int32_t> ids(static_cast<size_t>(num_blocks));
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), rng);
  std::vector<std::vector<int32_t>> tables;
  size_t next = 0;
  for (const SeqSpec& s : specs) {
    const int64_t n = (s.cached + s.fresh + block_size - 1) / block_size + int64_t(rng() % 2);
    tables.emplace_back(ids.begin() + int64_t(next), ids.begin() + int64_t(next) + n);
    next += size_t(n);
  }
  std::vector<PagedSequence> seqs;
  for (size_t i = 0; i < specs.size(); ++i)
    seqs.push_back({tables[i], specs[i].cached, specs[i].fresh});
  const PagedBatch batch = make_paged_batch(seqs, num_blocks, block_size, Device::kCPU);
  ASSERT_EQ(batch.total_tokens, total);

  Tensor k_pool = random_tensor({num_blocks, block_size, kv_heads, d}, seed + 1);
  Tensor v_pool = random_tensor({num_blocks, block_size, kv_heads, d}, seed + 2);
  const Tensor k_before = random_tensor(k_pool.shape(), seed + 1);  // the same values
  const Tensor k = random_tensor({total, kv_heads, d}, seed + 3);
  const Tensor v = random_tensor({total, kv_heads * d}, seed + 4);  // the 2-D form is accepted
  const Tensor q = random_tensor({total, heads, d}, seed + 5);
  store_kv(k_pool, v_pool, k, v, batch);

  const int64_t row = kv_heads * d;
  const float scale = 1.0f / std::sqrt(float(d));
  const Tensor out = paged_attention_batch(q, k_pool, v_pool, batch, scale);
  ASSERT_EQ(out.shape(), (Shape{total, heads * d}));

  // Every pool row: a new token's row where a slot names it, else untouched.
  std::vector<int64_t> token_at(size_t(num_blocks * block_size), -1);
  int64_t first = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    for (int64_t j = 0; j < specs[i].fresh; ++j) {
      const int64_t p = specs[i].cached + j;
      token_at[size_t(tables[i][size_t(p / block_size)] * block_size + p % block_size)] = first + j;
      EXPECT_EQ(batch.host.slots[size_t(first + j)],
                tables[i][size_t(p / block_size)] * block_size + p % block_size);
    }
    first += specs[i].fresh;
  }
  for (int64_t r = 0; r < num_blocks * block_size; ++r) {
    const int64_t t = token_at[size_t(r)];
    const float* expected = t >= 0 ? k.data<float>() + t * row : k_before.data<float>() + r * row;
    ASSERT_EQ(std::memcmp(k_pool.data<float>() + r * row, expected, size_t(row) * 4), 0)
        << "k_pool row " << r;
    if (t >= 0) {
      ASSERT_EQ(std::memcmp(v_pool.data<float>() + r * row, v.data<float>() + t * row,
                            size_t(row) * 4),
                0)
          << "v_pool row " << r;
    }
  }

  // Each sequence against causal_attention over its keys gathered into one contiguous cache.
  first = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    const int64_t keys = specs[i].cached + specs[i].fresh;
    Tensor kc = Tensor::empty({keys, kv_heads, d}, DType::kF32), vc = Tensor::empty(kc.shape(), DType::kF32);
    for (int64_t p = 0; p < keys; ++p) {
      const int64_t src = (tables[i][size_t(p / block_size)] * block_size + p % block_size) * row;
      std::memcpy(kc.data<float>() + p * row, k_pool.data<float>() + src, size_t(row) * 4);
      std::memcpy(vc.data<float>() + p * row, v_pool.data<float>() + src, size_t(row) * 4);
    }
    const Tensor expected = causal_attention(q.slice_rows(first, first + specs[i].fresh), kc, vc,
                                             specs[i].cached, scale);
    EXPECT_LT(max_relative(out.slice_rows(first, first + specs[i].fresh), expected), 1e-6)
        << "sequence " << i;
    first += specs[i].fresh;
  }
}

TEST(PagedBatch, MixedDecodeAndPrefillMatchContiguousAttention) {
  // Decode tokens (one new), prefill chunks with and without a cache, block-boundary cases.
  run_step({{7, 1}, {0, 5}, {12, 4}, {15, 1}, {16, 1}, {0, 1}, {3, 9}}, 4, 2, 16, 4, 11);
  run_step({{30, 1}, {1, 1}, {47, 1}}, 8, 1, 24, 16, 12);  // decode only, GQA 8/1, d 24
  run_step({{0, 20}}, 4, 4, 8, 3, 13);                      // one prefill, MHA, odd block size
}

TEST(PagedBatch, MetadataLayout) {
  const std::vector<int32_t> a{5, 2, 9}, b{1}, c{3, 4, 0, 7};
  const std::vector<PagedSequence> seqs{{a, 6, 1}, {b, 0, 3}, {c, 8, 2}};
  const PagedBatch batch = make_paged_batch(seqs, 10, 4, Device::kCPU);
  EXPECT_EQ(batch.sequences, 3);
  EXPECT_EQ(batch.total_tokens, 6);
  EXPECT_EQ(batch.max_blocks, 3);  // c's table has a fourth block it does not use yet
  EXPECT_EQ(batch.max_new_tokens, 3);
  EXPECT_EQ(batch.max_context, 10);
  EXPECT_EQ(batch.decode_sequences, 1);
  EXPECT_EQ(batch.host.query_start, (std::vector<int32_t>{0, 1, 4, 6}));
  EXPECT_EQ(batch.host.context_lens, (std::vector<int32_t>{7, 3, 10}));
  EXPECT_EQ(batch.host.block_tables, (std::vector<int32_t>{5, 2, 0, 1, 0, 0, 3, 4, 0}));
  EXPECT_EQ(batch.host.slots, (std::vector<int32_t>{2 * 4 + 2, 4, 5, 6, 0 * 4 + 0, 0 * 4 + 1}));
  EXPECT_EQ(batch.host.decode_seqs, (std::vector<int32_t>{0}));
  EXPECT_EQ(batch.block_tables.shape(), (Shape{3, 3}));
  EXPECT_EQ(batch.slots.shape(), (Shape{6}));
  EXPECT_EQ(std::vector<int32_t>(batch.slots.data<int32_t>(), batch.slots.data<int32_t>() + 6),
            batch.host.slots);
  EXPECT_EQ(std::vector<int32_t>(batch.block_tables.data<int32_t>(),
                                 batch.block_tables.data<int32_t>() + 9),
            batch.host.block_tables);
  EXPECT_EQ(std::vector<int32_t>(batch.query_start.data<int32_t>(),
                                 batch.query_start.data<int32_t>() + 4),
            batch.host.query_start);
  EXPECT_EQ(batch.context_lens.data<int32_t>()[2], 10);
  EXPECT_EQ(batch.decode_seqs.data<int32_t>()[0], 0);
  EXPECT_EQ(std::vector<int32_t>(batch.host_table(2).begin(), batch.host_table(2).end()),
            (std::vector<int32_t>{3, 4, 0}));
  EXPECT_EQ(batch.cached_tokens(2), 8);
  EXPECT_EQ(batch.new_tokens(1), 3);
}

TEST(PagedBatch, RejectsBadSequencesNamingThem) {
  const std::vector<int32_t> ok{0, 1}, outside{0, 8}, negative{-1};
  auto make = [](std::vector<PagedSequence> seqs, int64_t blocks = 8, int64_t block_size = 4) {
    return [=] { make_paged_batch(seqs, blocks, block_size, Device::kCPU); };
  };
  EXPECT_EQ(error_of(make({{ok, 3, 1}, {ok, 7, 2}})),
            "make_paged_batch: sequence 1 needs 9 tokens of KV blocks, its table covers 8");
  EXPECT_EQ(error_of(make({{ok, 0, 1}, {outside, 4, 1}})),
            "make_paged_batch: sequence 1 names block 8, the pool has 8");
  EXPECT_EQ(error_of(make({{negative, 0, 2}})),
            "make_paged_batch: sequence 0 names block -1, the pool has 8");
  EXPECT_EQ(error_of(make({{ok, 0, 1}, {ok, 2, 0}})),
            "make_paged_batch: sequence 1 has no new tokens");
  EXPECT_EQ(error_of(make({{ok, -1, 2}})),
            "make_paged_batch: sequence 0 has -1 cached and 2 new tokens");
  EXPECT_EQ(error_of(make({})), "make_paged_batch: no sequences given");
  EXPECT_EQ(error_of(make({{ok, 0, 1}}, 0, 4)),
            "make_paged_batch: the pool must have blocks, got 0 of 4 tokens");
  EXPECT_EQ(error_of(make({{ok, 0, 1}}, int64_t(1) << 30, 4)),
            "make_paged_batch: a pool of 1073741824 blocks of 4 tokens is over 2^31 slots");
  // Blocks past the tokens are not read, so they are not checked.
  EXPECT_EQ(error_of(make({{outside, 3, 1}})), "");
}

TEST(PagedBatch, OpsRejectShapesThatDoNotMatchTheBatch) {
  const std::vector<int32_t> table{1, 0};
  const std::vector<PagedSequence> seqs{{table, 2, 3}};
  const PagedBatch batch = make_paged_batch(seqs, 2, 4, Device::kCPU);
  Tensor k_pool = random_tensor({2, 4, 2, 8}, 1), v_pool = random_tensor({2, 4, 2, 8}, 2);
  Tensor wrong_pool = random_tensor({3, 4, 2, 8}, 3);
  const Tensor k = random_tensor({3, 2, 8}, 4), short_k = random_tensor({2, 2, 8}, 5);
  EXPECT_EQ(error_of([&] { store_kv(wrong_pool, wrong_pool, k, k, batch); }),
            "store_kv: the pools [3, 4, 2, 8] and [3, 4, 2, 8] must both be [2, 4, kv_heads, d], "
            "the batch's pool");
  EXPECT_EQ(error_of([&] { store_kv(k_pool, v_pool, short_k, short_k, batch); }),
            "store_kv: k [2, 2, 8] and v [2, 2, 8] must both be [3, 2, 8] (the step's tokens, the "
            "pool's kv_heads and d)");
  const Tensor q_bad_heads = random_tensor({3, 3, 8}, 6);
  EXPECT_EQ(error_of([&] { paged_attention_batch(q_bad_heads, k_pool, v_pool, batch, 1.0f); }),
            "paged_attention_batch: q [3, 3, 8] must be [3, heads, 8] with 2 kv_heads dividing "
            "heads");
  const Tensor q = random_tensor({3, 4, 8}, 7);
  EXPECT_EQ(paged_attention_batch(q, k_pool, v_pool, batch, 1.0f).shape(), (Shape{3, 32}));
}

}  // namespace
}  // namespace glimpse::ops
