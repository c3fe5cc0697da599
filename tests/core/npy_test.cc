#include "core/npy.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace glimpse {
namespace {

std::string temp_path(const char* name) {
  return (std::filesystem::temp_directory_path() / (std::string("glimpse_npy_") + name)).string();
}

TEST(Npy, RoundTripsFloatAndIntArrays) {
  const std::string path = temp_path("rt.npy");
  Tensor t = Tensor::from_vector({1, -2, 3.5f, 4, 5, 6}, {2, 3});
  write_npy(path, t);
  Tensor back = read_npy(path);
  EXPECT_EQ(back.shape(), (Shape{2, 3}));
  for (int i = 0; i < 6; ++i) EXPECT_EQ(back.data<float>()[i], t.data<float>()[i]);

  Tensor ids = Tensor::empty({4}, DType::kI64);
  for (int i = 0; i < 4; ++i) ids.data<int64_t>()[i] = 1000 + i;
  write_npy(path, ids);
  Tensor ids_back = read_npy(path);
  EXPECT_EQ(ids_back.dtype(), DType::kI64);
  EXPECT_EQ(ids_back.shape(), (Shape{4}));
  EXPECT_EQ(ids_back.data<int64_t>()[3], 1003);
  std::remove(path.c_str());
}

TEST(Npy, RejectsTruncatedPayload) {
  const std::string path = temp_path("trunc.npy");
  write_npy(path, Tensor::from_vector({1, 2, 3, 4}, {4}));
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 3);
  try {
    read_npy(path);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kCorrupt);
    EXPECT_NE(std::string(e.what()).find("payload"), std::string::npos) << e.what();
  }
  std::remove(path.c_str());
}

TEST(Npy, RejectsNonNpy) {
  const std::string path = temp_path("bad.npy");
  std::ofstream(path) << "hello world, not numpy";
  EXPECT_THROW(read_npy(path), Error);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace glimpse
