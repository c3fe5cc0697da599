#include "core/tensor.h"

#include <gtest/gtest.h>

namespace glimpse {
namespace {

TEST(Tensor, ViewsShareStorage) {
  Tensor t = Tensor::from_vector({0, 1, 2, 3, 4, 5}, {3, 2});
  Tensor rows = t.slice_rows(1, 3);
  EXPECT_EQ(rows.shape(), (Shape{2, 2}));
  EXPECT_EQ(rows.data<float>()[0], 2.0f);
  rows.data<float>()[0] = 42.0f;
  EXPECT_EQ(t.data<float>()[2], 42.0f);  // no copy was made
  Tensor flat = t.view({-1});
  EXPECT_EQ(flat.shape(), (Shape{6}));
  EXPECT_EQ(t.row(2).data<float>()[1], 5.0f);
}

TEST(Tensor, RejectsBadViews) {
  Tensor t = Tensor::zeros({4, 3}, DType::kF32);
  EXPECT_THROW(t.view({5, 2}), Error);
  EXPECT_THROW(t.slice_rows(2, 5), Error);
  EXPECT_THROW(t.size(2), Error);
}

TEST(Tensor, ConvertsHalfTypesToF32) {
  Tensor t = Tensor::empty({3}, DType::kBF16);
  t.data<uint16_t>()[0] = f32_to_bf16(1.5f);
  t.data<uint16_t>()[1] = f32_to_bf16(-3.0f);
  t.data<uint16_t>()[2] = f32_to_bf16(0.25f);
  Tensor f = t.to_f32();
  EXPECT_EQ(f.dtype(), DType::kF32);
  EXPECT_EQ(f.data<float>()[1], -3.0f);
  EXPECT_EQ(f.data<float>()[2], 0.25f);
}

TEST(Tensor, DeviceAllocationWithoutCudaIsAClearError) {
#if !defined(GLIMPSE_WITH_CUDA)
  try {
    Tensor::empty({4}, DType::kF32, Device::kCUDA);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("without CUDA"), std::string::npos);
  }
#endif
}

}  // namespace
}  // namespace glimpse
