#include "engine/block_manager.h"

#include <gtest/gtest.h>

#include "engine/image_cache.h"

namespace glimpse::engine {
namespace {

TEST(BlockManager, AllocatesAndRefusesBeyondCapacity) {
  BlockManager m(4, 16, false);
  auto a = m.allocate(3);
  ASSERT_TRUE(a);
  EXPECT_EQ(m.held_blocks(), 3);
  EXPECT_FALSE(m.allocate(2));
  m.release(*a);
  EXPECT_EQ(m.available_blocks(), 4);
  EXPECT_TRUE(m.allocate(4));
}

TEST(BlockManager, SharesPublishedPrefixBlocksAndEvictsOldestFirst) {
  BlockManager m(4, 2, true);
  const std::vector<int32_t> ids{1, 2, 3, 4, 5};
  const auto hashes = prefix_block_hashes(ids, {}, 2);
  ASSERT_EQ(hashes.size(), 2u);  // two full blocks; the fifth token is not a full block
  auto first = *m.allocate(3);
  m.publish(first[0], hashes[0]);
  m.publish(first[1], hashes[1]);
  // A second sequence with the same prefix reuses both blocks while the first still holds them.
  auto shared = m.match_prefix(hashes);
  EXPECT_EQ(shared, (std::vector<int32_t>{first[0], first[1]}));
  EXPECT_EQ(m.held_blocks(), 3);
  m.release(first);
  m.release(shared);
  EXPECT_EQ(m.held_blocks(), 0);
  // Released published blocks stay findable until their space is needed.
  EXPECT_EQ(m.match_prefix(hashes).size(), 2u);
  m.release(m.match_prefix({}));  // no-op
  EXPECT_EQ(m.prefix_hit_blocks(), 4u);
}

TEST(BlockManager, EvictionForgetsTheHash) {
  BlockManager m(2, 1, true);
  const std::vector<int32_t> ids{7, 8};
  const auto hashes = prefix_block_hashes(ids, {}, 1);
  auto blocks = *m.allocate(2);
  m.publish(blocks[0], hashes[0]);
  m.publish(blocks[1], hashes[1]);
  m.release(blocks);
  auto fresh = m.allocate(2);  // needs both cached blocks back
  ASSERT_TRUE(fresh);
  m.release(*fresh);
  EXPECT_TRUE(m.match_prefix(hashes).empty());
}

TEST(PrefixHashes, DifferentImagesNeverShareBlocks) {
  const int32_t img = 99;
  const std::vector<int32_t> ids{1, img, img, img, img, 2};
  std::vector<ImageSpan> a{{1, 4, "hash-a"}}, b{{1, 4, "hash-b"}};
  const auto ha = prefix_block_hashes(ids, a, 2), hb = prefix_block_hashes(ids, b, 2);
  ASSERT_EQ(ha.size(), 3u);
  EXPECT_NE(ha[0], hb[0]);  // the first block already holds an image token
  EXPECT_EQ(ha, prefix_block_hashes(ids, a, 2));
  const std::vector<int32_t> other{1, 3, 3, 3, 3, 2};
  EXPECT_NE(prefix_block_hashes(other, {}, 2)[0], ha[0]);
}

TEST(ImageEmbeddingCache, HitsMissesAndByteBound) {
  ImageEmbeddingCache cache(2 * 4 * sizeof(float));  // room for two [1, 4] embeddings
  auto embed = [](float v) { return Tensor::from_vector({v, v, v, v}, {1, 4}); };
  EXPECT_FALSE(cache.find("a"));
  cache.insert("a", embed(1));
  cache.insert("b", embed(2));
  ASSERT_TRUE(cache.find("a"));  // a is now the most recent
  cache.insert("c", embed(3));   // evicts b
  EXPECT_FALSE(cache.find("b"));
  EXPECT_EQ(cache.find("a")->data<float>()[0], 1.0f);
  EXPECT_EQ(cache.hits(), 2u);
  EXPECT_EQ(cache.misses(), 2u);
  EXPECT_EQ(cache.bytes(), 2 * 4 * sizeof(float));
}

}  // namespace
}  // namespace glimpse::engine
