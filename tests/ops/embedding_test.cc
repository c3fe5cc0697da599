#include "ops/embedding.h"

#include <gtest/gtest.h>

#include "ops_test_util.h"

namespace glimpse::ops {
namespace {

TEST(Embedding, GathersRowsFromEveryWeightDtype) {
  const Tensor table = testing::random_tensor({10, 6}, 1);
  Tensor bf16 = Tensor::empty({10, 6}, DType::kBF16), f16 = Tensor::empty({10, 6}, DType::kF16);
  for (int64_t i = 0; i < 60; ++i) {
    bf16.data<uint16_t>()[i] = f32_to_bf16(table.data<float>()[i]);
    f16.data<uint16_t>()[i] = f32_to_f16(table.data<float>()[i]);
  }
  const std::vector<int32_t> ids = {3, 0, 9, 3};
  for (const Tensor* t : std::vector<const Tensor*>{&table, &bf16, &f16}) {
    const Tensor out = embedding(*t, ids);
    ASSERT_EQ(out.shape(), (Shape{4, 6}));
    for (size_t r = 0; r < ids.size(); ++r)
      for (int64_t c = 0; c < 6; ++c) {
        const uint16_t bits = t->data<uint16_t>()[ids[r] * 6 + c];
        const float expected = t->dtype() == DType::kF32    ? t->data<float>()[ids[r] * 6 + c]
                               : t->dtype() == DType::kBF16 ? bf16_to_f32(bits)
                                                            : f16_to_f32(bits);
        EXPECT_EQ(out.data<float>()[int64_t(r) * 6 + c], expected);
      }
  }
}

TEST(Embedding, OutOfVocabularyIdIsNamed) {
  const Tensor table = testing::random_tensor({10, 2}, 2);
  const std::vector<int32_t> ids = {1, 10};
  try {
    embedding(table, ids);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("token id 10 at position 1"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace glimpse::ops
