// What every CUDA op test shares: one seeded random stream per run (a new seed each run, printed on
// failure; GLIMPSE_SEED=<n> replays it), host/device copies, NaN-poisoned output blocks, and the
// relative error ‖gpu − ref‖₂ / ‖ref‖₂ in which NaN or Inf never passes.
#pragma once

#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <vector>

#include "core/device_copy.h"
#include "core/tensor.h"

namespace glimpse::ops::cuda_testing {

// Tolerances of ‖gpu − cpu‖₂ / ‖cpu‖₂ shared by the op tests: both sides in f32 with different
// summation orders; a cuBLASLt GEMM whose operands are rounded to bf16/f16.
constexpr double kF32Tolerance = 1e-5;
constexpr double kHalfGemmTolerance = 1e-2;

inline uint32_t run_seed() {
  static const uint32_t seed = [] {
    const char* env = std::getenv("GLIMPSE_SEED");
    return env ? uint32_t(std::strtoul(env, nullptr, 10)) : std::random_device{}();
  }();
  return seed;
}

// A new stream of random numbers per call, all derived from the run's seed.
inline std::mt19937& rng() {
  static std::mt19937 generator(run_seed());
  return generator;
}

inline Tensor random_host(Shape shape, float scale = 1.0f) {
  std::normal_distribution<float> normal(0.0f, scale);
  Tensor t = Tensor::empty(std::move(shape), DType::kF32);
  float* data = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) data[i] = normal(rng());
  return t;
}

inline Tensor uniform_host(Shape shape, float low, float high) {
  std::uniform_real_distribution<float> uniform(low, high);
  Tensor t = Tensor::empty(std::move(shape), DType::kF32);
  float* data = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) data[i] = uniform(rng());
  return t;
}

inline Tensor gpu(const Tensor& t) {
  return to_device(t, Device::kCUDA);
}
inline Tensor host(const Tensor& t) {
  return to_device(t, Device::kCPU);
}

inline void check_cuda(cudaError_t status) {
  ASSERT_EQ(status, cudaSuccess) << cudaGetErrorString(status);
}

// Leaves the caching allocator holding NaN-filled blocks of `bytes` (all bits set is a NaN), so the
// next outputs of that size start as NaN.
inline void poison_outputs(size_t bytes) {
  std::vector<Tensor> blocks;
  for (int i = 0; i < 4; ++i) {
    blocks.push_back(Tensor::empty({int64_t(bytes)}, DType::kU8, Device::kCUDA));
    check_cuda(cudaMemset(blocks.back().raw_data(), 0xff, bytes));
  }
  check_cuda(cudaDeviceSynchronize());
}

inline void poison_outputs(const Shape& shape) {
  poison_outputs(size_t(shape_numel(shape)) * sizeof(float));
}

// ‖actual − expected‖₂ / ‖expected‖₂ in double over host tensors of any float dtype (half ones are
// widened exactly); infinity when `actual` holds a NaN or Inf.
inline double relative_error(const Tensor& actual_any, const Tensor& expected_any) {
  const Tensor actual = actual_any.to_f32(), expected = expected_any.to_f32();
  double diff = 0, norm = 0;
  const float *a = actual.data<float>(), *e = expected.data<float>();
  for (int64_t i = 0; i < expected.numel(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    diff += (double(a[i]) - e[i]) * (double(a[i]) - e[i]);
    norm += double(e[i]) * e[i];
  }
  return std::sqrt(diff / norm);
}

// The GPU result (copied back after the device finished) against the CPU op's.
inline void expect_close(const Tensor& on_gpu, const Tensor& expected, double tolerance) {
  SCOPED_TRACE(::testing::Message() << "seed " << run_seed() << " (GLIMPSE_SEED replays it)");
  ASSERT_EQ(on_gpu.device(), Device::kCUDA);
  const cudaError_t status = cudaDeviceSynchronize();
  ASSERT_EQ(status, cudaSuccess) << cudaGetErrorString(status);
  const Tensor actual = host(on_gpu);
  ASSERT_EQ(actual.shape(), expected.shape());
  ASSERT_EQ(actual.dtype(), expected.dtype());
  EXPECT_LE(relative_error(actual, expected), tolerance);
}

}  // namespace glimpse::ops::cuda_testing
