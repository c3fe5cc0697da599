// Weights stay in their stored dtype (f32, or bf16/f16 zero-copy from the checkpoint):
// - f32: OpenBLAS sgemm, or sgemv for one row.
// - bf16/f16, few rows (decode): our own kernel converts each weight row in registers and streams
//   the matrix once, moving half the bytes of an f32 copy (benchmarks/ops_bench.cc measures its
//   GB/s against sgemv and a copy loop).
// - bf16/f16, many rows (prefill): panels of weight rows are upcast to f32 and fed to sgemm, whose
//   FLOPs dwarf the conversion.
// bf16/f16 → f32 is exact, so every path computes the same fp32 products.
#include <cblas.h>

#include <bit>
#include <cstring>
#include <vector>

#include "core/thread_pool.h"
#include "ops/convert.h"
#include "ops/elementwise.h"
#include "ops/linear.h"
#include "ops/shape_checks.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace glimpse::ops::cpu {
namespace {

constexpr int64_t kMatvecMaxRows = 8;  // up to this many input rows use the streaming kernel
constexpr int64_t kPanelRows = 256;    // weight rows upcast per sgemm call on the GEMM path

float half_to_f32(uint16_t bits, DType dtype) {
  return dtype == DType::kBF16 ? bf16_to_f32(bits) : f16_to_f32(bits);
}

// Σ w[i]·x[i] over n half-precision weights: portable fallback.
float dot_half_scalar(const uint16_t* w, const float* x, int64_t n, DType dtype) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += half_to_f32(w[i], dtype) * x[i];
  return sum;
}

using DotFn = float (*)(const uint16_t*, const float*, int64_t);

#if defined(__x86_64__)
// Eight half-precision weights widened to f32.
template <DType kDtype>
__attribute__((target("avx2,fma,f16c"), always_inline)) inline __m256 load8_half(
    const uint16_t* p) {
  const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  if constexpr (kDtype == DType::kBF16)
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(raw), 16));
  else
    return _mm256_cvtph_ps(raw);
}

// The same dot product with AVX2: 32 weights (64 B) per iteration into four independent FMA chains.
template <DType kDtype>
__attribute__((target("avx2,fma,f16c"))) float dot_half_avx2(const uint16_t* w, const float* x,
                                                             int64_t n) {
  constexpr auto load8 = load8_half<kDtype>;
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps(), acc2 = _mm256_setzero_ps(),
         acc3 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm256_fmadd_ps(load8(w + i), _mm256_loadu_ps(x + i), acc0);
    acc1 = _mm256_fmadd_ps(load8(w + i + 8), _mm256_loadu_ps(x + i + 8), acc1);
    acc2 = _mm256_fmadd_ps(load8(w + i + 16), _mm256_loadu_ps(x + i + 16), acc2);
    acc3 = _mm256_fmadd_ps(load8(w + i + 24), _mm256_loadu_ps(x + i + 24), acc3);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(load8(w + i), _mm256_loadu_ps(x + i), acc0);
  const __m256 acc = _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3));
  __m128 half = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
  half = _mm_add_ps(half, _mm_movehl_ps(half, half));
  half = _mm_add_ss(half, _mm_shuffle_ps(half, half, 1));
  return _mm_cvtss_f32(half) + dot_half_scalar(w + i, x + i, n - i, kDtype);
}

// The AVX2 kernel where the CPU has it, else nullptr (the scalar loop).
DotFn pick_dot(DType dtype) {
  // Every CPU with AVX2 also has F16C (which clang cannot query by name).
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (!avx2) return nullptr;
  return dtype == DType::kBF16 ? &dot_half_avx2<DType::kBF16> : &dot_half_avx2<DType::kF16>;
}
#else
DotFn pick_dot(DType) {
  return nullptr;
}
#endif

// rows ≤ kMatvecMaxRows: each weight row (in·2 B) is read from memory once and dotted with every
// input row while it sits in L1; 2·rows·in FLOPs per weight row.
void matvec_half(const float* x, int64_t rows, const Tensor& weight, float* y) {
  const int64_t out_features = weight.size(0), in_features = weight.size(1);
  const uint16_t* w = weight.data<uint16_t>();
  const DType dtype = weight.dtype();
  const DotFn dot = pick_dot(dtype);
  ThreadPool::global().parallel_for(out_features, 64, [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) {
      const uint16_t* w_row = w + o * in_features;
      for (int64_t r = 0; r < rows; ++r) {
        const float* x_row = x + r * in_features;
        y[r * out_features + o] += dot ? dot(w_row, x_row, in_features)
                                       : dot_half_scalar(w_row, x_row, in_features, dtype);
      }
    }
  });
}

// Many rows: kPanelRows weight rows at a time are upcast (threaded) and multiplied by sgemm.
void gemm_half(const float* x, int64_t rows, const Tensor& weight, float* y) {
  const int64_t out_features = weight.size(0), in_features = weight.size(1);
  const uint16_t* w = weight.data<uint16_t>();
  const DType dtype = weight.dtype();
  // Reused across calls: a fresh multi-MB buffer per projection would page-fault every time.
  // Pool workers see their own thread_local, so the lambda below must use this thread's pointer.
  thread_local std::vector<float> panel_storage;
  panel_storage.resize(size_t(std::min(kPanelRows, out_features) * in_features));
  float* const panel = panel_storage.data();
  for (int64_t first = 0; first < out_features; first += kPanelRows) {
    const int64_t panel_rows = std::min(kPanelRows, out_features - first);
    const uint16_t* src = w + first * in_features;
    ThreadPool::global().parallel_for(panel_rows * in_features, 1 << 16,
                                      [&](int64_t begin, int64_t end) {
                                        if (dtype == DType::kBF16) {
                                          // Spelled out (not half_to_f32) so the loop vectorises:
                                          // bf16 is the top half of an f32.
                                          for (int64_t i = begin; i < end; ++i)
                                            panel[i] = std::bit_cast<float>(uint32_t(src[i]) << 16);
                                        } else {
                                          for (int64_t i = begin; i < end; ++i)
                                            panel[i] = f16_to_f32(src[i]);
                                        }
                                      });
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blasint(rows), blasint(panel_rows),
                blasint(in_features), 1.0f, x, blasint(in_features), panel, blasint(in_features),
                1.0f, y + first, blasint(out_features));
  }
}

}  // namespace

// rows × out × in multiply-adds; the weights (in·out elements) are read once per call. A half x is
// widened first and a half output rounded last: the arithmetic is always f32.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor* bias, DType out_dtype) {
  const auto [rows, out_features, in_features] = check_linear(x, weight, bias, out_dtype, "linear");
  Tensor y = Tensor::empty({rows, out_features}, DType::kF32);
  float* out = y.data<float>();
  if (rows == 0) return convert(y, out_dtype);
  // Every path accumulates onto y: start from the bias (widened if half) or from zero.
  const Tensor bias32 = bias ? convert(*bias, DType::kF32) : Tensor();
  for (int64_t r = 0; r < rows; ++r) {
    if (bias)
      std::memcpy(out + r * out_features, bias32.data<float>(),
                  size_t(out_features) * sizeof(float));
    else
      std::memset(out + r * out_features, 0, size_t(out_features) * sizeof(float));
  }
  const Tensor x32 = convert(x, DType::kF32);
  const float* in = x32.data<float>();
  if (weight.dtype() != DType::kF32) {
    if (rows <= kMatvecMaxRows)
      matvec_half(in, rows, weight, out);
    else
      gemm_half(in, rows, weight, out);
  } else if (rows == 1) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, blasint(out_features), blasint(in_features), 1.0f,
                weight.data<float>(), blasint(in_features), in, 1, 1.0f, out, 1);
  } else {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blasint(rows), blasint(out_features),
                blasint(in_features), 1.0f, in, blasint(in_features), weight.data<float>(),
                blasint(in_features), 1.0f, out, blasint(out_features));
  }
  return convert(y, out_dtype);
}

void add_linear(Tensor& y, const Tensor& x, const Tensor& weight) {
  check_f32(y, "add_linear", "y");
  const LinearShape shape = check_linear(x, weight, nullptr, DType::kF32, "add_linear");
  if (y.dim() != 2 || y.size(0) != shape.rows || y.size(1) != shape.out_features)
    fail(ErrorKind::kInvalidArgument, "add_linear: y {} must be [{}, {}]", shape_string(y.shape()),
         shape.rows, shape.out_features);
  add_inplace(y, linear(x, weight, nullptr, DType::kF32));
}

}  // namespace glimpse::ops::cpu
