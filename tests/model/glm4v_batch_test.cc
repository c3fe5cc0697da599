// forward_batch (model/batch.h) against the single-sequence forward with its own KV cache: two
// sequences interleaved in one paged pool, a prompt split across steps (image rows included), and
// a decode step batched with a prefill chunk. Tolerance: rel. L2 1e-5 (same fp32 math, different
// GEMM shapes).
#include <gtest/gtest.h>

#include <cmath>

#include "core/npy.h"
#include "model/batch.h"
#include "model/glm4v.h"
#include "golden_inputs.h"

namespace glimpse::model {
namespace {

constexpr double kTolerance = 1e-5;
const std::string kGolden = std::string(GLIMPSE_SOURCE_DIR) + "/tests/golden/";

double relative_l2(const float* actual, const Tensor& expected) {
  double diff = 0, norm = 0;
  for (int64_t i = 0; i < expected.numel(); ++i) {
    const double e = expected.data<float>()[i];
    diff += (actual[i] - e) * (actual[i] - e);
    norm += e * e;
  }
  return std::sqrt(diff / norm);
}

std::vector<int32_t> read_ids(const std::string& case_id) {
  const Tensor ids = read_npy(kGolden + "cases/" + case_id + "/input_ids.npy");
  std::vector<int32_t> out;
  for (int64_t i = 0; i < ids.numel(); ++i) out.push_back(int32_t(ids.data<int64_t>()[i]));
  return out;
}

int32_t argmax(const float* logits, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (logits[i] > logits[best]) best = i;
  return int32_t(best);
}

TEST(Glm4vBatch, PagedBatchMatchesSingleSequenceForward) {
  const auto model = Glm4vModel::load(kGolden + "models/tiny-a");
  const int64_t vocab = model->config().text.vocab_size;

  // Sequence A: an image prompt; sequence B: a text prompt.
  const std::vector<int32_t> ids_a = read_ids("two_images"), ids_b = read_ids("text_en");
  const Tensor pixels = read_npy(kGolden + "cases/two_images/pixel_values.npy");
  const Tensor grid_thw = read_npy(kGolden + "cases/two_images/image_grid_thw.npy");
  const std::vector<ImageInput> images = testing::images_by_grid(pixels, grid_thw);
  std::vector<ImageGrid> grids;
  for (const ImageInput& image : images) grids.push_back(image.grid);
  const Tensor vision = model->encode_images(images);
  const MropePositions pos_a = model->rope_positions(ids_a, grids);
  const MropePositions pos_b = model->rope_positions(ids_b, {});
  const auto n_a = int64_t(ids_a.size()), n_b = int64_t(ids_b.size());

  // References, one sequence at a time.
  KvCache cache_a = model->new_cache(n_a);
  const Tensor ref_a = model->forward(ids_a, pos_a.positions, &vision, cache_a);
  KvCache cache_b = model->new_cache(n_b + 1);
  const Tensor ref_b = model->forward(ids_b, pos_b.positions, nullptr, cache_b);
  const std::vector<int32_t> next_b = {argmax(ref_b.data<float>(), vocab)};
  Tensor pos_next_b = Tensor::empty({3, 1}, DType::kI64);
  for (int64_t axis = 0; axis < 3; ++axis) pos_next_b.data<int64_t>()[axis] = pos_b.next_position;
  const Tensor ref_b_decode = model->forward(next_b, pos_next_b, nullptr, cache_b);

  // Blocks of 4 tokens; the two sequences' blocks interleave in the pool.
  const int64_t block = 4, blocks_a = (n_a + block - 1) / block,
                blocks_b = (n_b + 1 + block - 1) / block;
  KvBlockPool pool(model->config(), blocks_a + blocks_b, block);
  std::vector<int32_t> table_a, table_b;
  for (int32_t b = 0; b < int32_t(blocks_a + blocks_b); ++b) {
    const bool to_a =
        int64_t(table_a.size()) < blocks_a && (b % 2 == 0 || int64_t(table_b.size()) == blocks_b);
    (to_a ? table_a : table_b).push_back(b);
  }

  // Step 1: the first part of A (ending inside the first image) and all of B.
  const std::span<const int32_t> all_a(ids_a);
  int64_t split = 0;
  while (ids_a[size_t(split)] != model->config().image_token_id) ++split;
  split += 3;
  std::vector<SequenceChunk> step1(2);
  step1[0].ids = all_a.first(size_t(split));
  step1[0].positions = testing::position_columns(pos_a.positions, 0, split);
  step1[0].block_table = table_a;
  step1[0].image_embeds = &vision;
  step1[1].ids = ids_b;
  step1[1].positions = pos_b.positions;
  step1[1].block_table = table_b;
  step1[1].want_logits = true;
  const Tensor logits1 = forward_batch(*model, step1, pool);
  ASSERT_EQ(logits1.shape(), (Shape{1, vocab}));
  EXPECT_LT(relative_l2(logits1.data<float>(), ref_b), kTolerance);

  // Step 2: the rest of A (its image rows continue after the 3 already used) and B's decode token.
  std::vector<SequenceChunk> step2(2);
  step2[0].ids = all_a.subspan(size_t(split));
  step2[0].positions = testing::position_columns(pos_a.positions, split, n_a);
  step2[0].block_table = table_a;
  step2[0].cached_tokens = split;
  step2[0].image_embeds = &vision;
  step2[0].image_rows_before = 3;
  step2[0].want_logits = true;
  step2[1].ids = next_b;
  step2[1].positions = pos_next_b;
  step2[1].block_table = table_b;
  step2[1].cached_tokens = n_b;
  step2[1].want_logits = true;
  const Tensor logits2 = forward_batch(*model, step2, pool);
  ASSERT_EQ(logits2.shape(), (Shape{2, vocab}));
  EXPECT_LT(relative_l2(logits2.data<float>(), ref_a), kTolerance);
  EXPECT_LT(relative_l2(logits2.data<float>() + vocab, ref_b_decode), kTolerance);
}

TEST(Glm4vBatch, RejectsTablesTooShortAndUnknownBlocks) {
  const auto model = Glm4vModel::load(kGolden + "models/tiny-a");
  KvBlockPool pool(model->config(), 2, 4);
  const std::vector<int32_t> ids = {1, 2, 3, 4, 5};
  const MropePositions pos = model->rope_positions(ids, {});
  const std::vector<int32_t> one_block = {0}, bad_block = {0, 7};
  SequenceChunk chunk;
  chunk.ids = ids;
  chunk.positions = pos.positions;
  chunk.block_table = one_block;  // 4 slots for 5 tokens
  EXPECT_THROW(forward_batch(*model, std::vector<SequenceChunk>{chunk}, pool), Error);
  chunk.block_table = bad_block;
  EXPECT_THROW(forward_batch(*model, std::vector<SequenceChunk>{chunk}, pool), Error);
}

}  // namespace
}  // namespace glimpse::model
