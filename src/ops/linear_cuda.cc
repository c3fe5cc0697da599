// y = x·Wᵀ (+ b) and y += x·Wᵀ on the GPU.
// - f32 x and y, rows ≤ kMatvecMaxRows (decode): our matvec kernel (linear_cuda.cu) streams the
//   weight once in its stored dtype with f32 products, as the CPU op.
// - otherwise cuBLASLt. f32 weights: an f32 GEMM (CUBLAS_COMPUTE_32F, no TF32), so the result
//   matches the CPU to f32 rounding. bf16/f16 weights: an f32 x is rounded to the weight's dtype
//   (one pass, 6 B per element; none when x already is half) and the tensor cores multiply with
//   f32 accumulation: 2·rows·out·in FLOPs, relative error ≈ 2⁻⁹ from that rounding (bf16).
// The bias is cuBLASLt's bias epilogue, in y's dtype as the epilogue requires (an f32 bias for a
// half y goes through an f32 y); add_linear's sum is its β = 1 with C = D = y.
#include <cublasLt.h>

#include <mutex>
#include <unordered_map>

#include "ops/common_cuda.h"
#include "ops/convert.h"
#include "ops/kernels_cuda.h"
#include "ops/linear.h"
#include "ops/shape_checks.h"

namespace glimpse::ops::cuda {
namespace {

constexpr size_t kWorkspaceBytes = size_t(32) << 20;

void check_cublas(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS)
    fail(ErrorKind::kInternal, "linear: {} failed: {}", what, cublasLtGetStatusString(status));
}

struct LtContext {
  cublasLtHandle_t handle = nullptr;
  void* workspace = nullptr;
};

// Created on first use and never destroyed: tearing it down after CUDA's own exit is unsafe.
const LtContext& lt_context() {
  static const LtContext context = [] {
    LtContext c;
    check_cublas(cublasLtCreate(&c.handle), "cublasLtCreate");
    check_launch(cudaMalloc(&c.workspace, kWorkspaceBytes), "linear workspace");
    return c;
  }();
  return context;
}

// The descriptors and chosen algorithm of one GEMM shape. Building them and asking the heuristic
// costs tens of microseconds of host time, more than a decode-sized GEMM runs, so each shape is
// planned once and kept for the life of the process.
struct MatmulPlan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};
};

struct PlanKey {
  cudaDataType_t type, out_type;
  int64_t rows, out_features, in_features;
  bool bias;
  uint32_t align_a, align_b, align_d;
  bool operator==(const PlanKey&) const = default;
};

struct PlanKeyHash {
  size_t operator()(const PlanKey& k) const {
    size_t h = std::hash<int64_t>()(k.rows);
    for (const int64_t v :
         {int64_t(k.type), int64_t(k.out_type), k.out_features, k.in_features, int64_t(k.bias),
          int64_t(k.align_a), int64_t(k.align_b), int64_t(k.align_d)})
      h = h * 1000003u ^ std::hash<int64_t>()(v);
    return h;
  }
};

// The largest power of two up to 256 that divides the address: cuBLASLt assumes 256 unless told.
uint32_t alignment_of(const void* p) {
  uint32_t alignment = 256;
  while (alignment > 1 && reinterpret_cast<uintptr_t>(p) % alignment != 0) alignment /= 2;
  return alignment;
}

cudaDataType_t cuda_type(DType dtype) {
  return dtype == DType::kF32 ? CUDA_R_32F : dtype == DType::kBF16 ? CUDA_R_16BF : CUDA_R_16F;
}

template <typename T>
void set_attribute(cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attribute,
                   const T& value, const char* what) {
  check_cublas(cublasLtMatmulDescSetAttribute(desc, attribute, &value, sizeof(value)), what);
}

template <typename T>
void set_preference(cublasLtMatmulPreference_t preference,
                    cublasLtMatmulPreferenceAttributes_t attribute, const T& value,
                    const char* what) {
  check_cublas(cublasLtMatmulPreferenceSetAttribute(preference, attribute, &value, sizeof(value)),
               what);
}

// Column-major view of the row-major product: yᵀ [out, rows] = W [in, out]ᵀ · xᵀ [in, rows].
MatmulPlan make_plan(const PlanKey& key) {
  const LtContext& context = lt_context();
  MatmulPlan plan;
  check_cublas(cublasLtMatmulDescCreate(&plan.op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "desc");
  set_attribute(plan.op, CUBLASLT_MATMUL_DESC_TRANSA, CUBLAS_OP_T, "transa");
  set_attribute(plan.op, CUBLASLT_MATMUL_DESC_TRANSB, CUBLAS_OP_N, "transb");
  if (key.bias) {
    set_attribute(plan.op, CUBLASLT_MATMUL_DESC_EPILOGUE, CUBLASLT_EPILOGUE_BIAS, "epilogue");
    set_attribute(plan.op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, key.out_type, "bias type");
  }
  const auto in = uint64_t(key.in_features), out = uint64_t(key.out_features);
  check_cublas(cublasLtMatrixLayoutCreate(&plan.a, key.type, in, out, int64_t(in)), "layout A");
  check_cublas(cublasLtMatrixLayoutCreate(&plan.b, key.type, in, uint64_t(key.rows), int64_t(in)),
               "layout B");
  check_cublas(
      cublasLtMatrixLayoutCreate(&plan.d, key.out_type, out, uint64_t(key.rows), int64_t(out)),
      "layout D");
  cublasLtMatmulPreference_t preference = nullptr;
  check_cublas(cublasLtMatmulPreferenceCreate(&preference), "preference");
  set_preference(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, uint64_t(kWorkspaceBytes),
                 "workspace");
  set_preference(preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, key.align_a, "align A");
  set_preference(preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, key.align_b, "align B");
  set_preference(preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, key.align_d, "align C");
  set_preference(preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, key.align_d, "align D");
  cublasLtMatmulHeuristicResult_t heuristic{};
  int found = 0;
  const cublasStatus_t status =
      cublasLtMatmulAlgoGetHeuristic(context.handle, plan.op, plan.a, plan.b, plan.d, plan.d,
                                     preference, 1, &heuristic, &found);
  cublasLtMatmulPreferenceDestroy(preference);
  check_cublas(status, "heuristic");
  if (found == 0)
    fail(ErrorKind::kUnsupported, "linear: cuBLASLt has no kernel for [{}, {}] x [{}, {}]ᵀ",
         key.rows, key.in_features, key.out_features, key.in_features);
  plan.algo = heuristic.algo;
  return plan;
}

// y = x·Wᵀ (+ bias) + beta·y; x in the weight's dtype, y and the bias f32 or that dtype.
void gemm(const Tensor& weight, const void* x, const void* bias, Tensor& y, int64_t rows,
          float beta) {
  static std::mutex mutex;
  static auto* plans = new std::unordered_map<PlanKey, MatmulPlan, PlanKeyHash>();  // never freed
  const int64_t out_features = weight.size(0), in_features = weight.size(1);
  const PlanKey key{cuda_type(weight.dtype()),
                    cuda_type(y.dtype()),
                    rows,
                    out_features,
                    in_features,
                    bias != nullptr,
                    alignment_of(weight.raw_data()),
                    alignment_of(x),
                    alignment_of(y.raw_data())};
  std::lock_guard lock(mutex);  // the bias pointer is set on the shared descriptor
  auto it = plans->find(key);
  if (it == plans->end()) it = plans->emplace(key, make_plan(key)).first;
  const MatmulPlan& plan = it->second;
  if (bias) set_attribute(plan.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, bias, "bias pointer");
  const float alpha = 1.0f;
  const LtContext& context = lt_context();
  check_cublas(cublasLtMatmul(context.handle, plan.op, &alpha, weight.raw_data(), plan.a, x, plan.b,
                              &beta, y.raw_data(), plan.d, y.raw_data(), plan.d, &plan.algo,
                              context.workspace, kWorkspaceBytes, cudaStreamPerThread),
               "cublasLtMatmul");
}

// y (= or +=) x·Wᵀ (+ bias) for checked arguments.
void project(const Tensor& x, const Tensor& weight, const Tensor* bias, Tensor& y, int64_t rows,
             bool accumulate, const char* op) {
  const int64_t out_features = weight.size(0), in_features = weight.size(1);
  if (rows == 0 || out_features == 0) return;
  const void* bias_data = bias ? bias->raw_data() : nullptr;
  if (rows <= cuda_kernels::kMatvecMaxRows && x.dtype() == DType::kF32 &&
      y.dtype() == DType::kF32) {
    check_launch(cuda_kernels::matvec(x.data<float>(), rows, weight.raw_data(),
                                      float_type(weight.dtype()), out_features, in_features,
                                      bias ? bias->data<float>() : nullptr, y.data<float>(),
                                      accumulate),
                 op);
    return;
  }
  // The tensor cores take both operands in the weight's dtype: round an f32 x once.
  const Tensor operand = convert(x, weight.dtype());
  gemm(weight, operand.raw_data(), bias_data, y, rows, accumulate ? 1.0f : 0.0f);
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor* bias, DType out) {
  const LinearShape shape = check_linear(x, weight, bias, out, "linear");
  check_on_gpu(x, "linear", "input");
  check_on_gpu(weight, "linear", "weight");
  if (bias) check_on_gpu(*bias, "linear", "bias");
  // The bias epilogue takes a bias in D's dtype: a half output with an f32 bias is made in f32 and
  // rounded. The vision tower keeps its qkv bias in bf16 instead.
  if (bias && bias->dtype() != out) return convert(linear(x, weight, bias, DType::kF32), out);
  Tensor y = Tensor::empty({shape.rows, shape.out_features}, out, Device::kCUDA);
  project(x, weight, bias, y, shape.rows, false, "linear");
  return y;
}

void add_linear(Tensor& y, const Tensor& x, const Tensor& weight) {
  check_gpu_f32(y, "add_linear", "y");
  const LinearShape shape = check_linear(x, weight, nullptr, DType::kF32, "add_linear");
  check_on_gpu(x, "add_linear", "input");
  check_on_gpu(weight, "add_linear", "weight");
  if (y.dim() != 2 || y.size(0) != shape.rows || y.size(1) != shape.out_features)
    fail(ErrorKind::kInvalidArgument, "add_linear: y {} must be [{}, {}]", shape_string(y.shape()),
         shape.rows, shape.out_features);
  project(x, weight, nullptr, y, shape.rows, true, "add_linear");
}

}  // namespace glimpse::ops::cuda
