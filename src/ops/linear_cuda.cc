// y = x·Wᵀ (+ b) on the GPU.
// - rows ≤ kMatvecMaxRows (decode): our matvec kernel (linear_cuda.cu) streams the weight once in
//   its stored dtype with f32 products, as the CPU op.
// - more rows (prefill): cuBLASLt. f32 weights: an f32 GEMM (CUBLAS_COMPUTE_32F, no TF32), so the
//   result matches the CPU to f32 rounding. bf16/f16 weights: x is rounded to the weight's dtype
//   (one pass, 6 B per element) and the tensor cores multiply with f32 accumulation: 2·rows·out·in
//   FLOPs, relative error ≈ 2⁻⁹ from that rounding (bf16).
// Either path writes y [rows, out] f32 with the bias added (cuBLASLt's bias epilogue).
#include <cublasLt.h>

#include <mutex>
#include <unordered_map>

#include "ops/common_cuda.h"
#include "ops/kernels_cuda.h"
#include "ops/linear.h"

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
  cudaDataType_t type;
  int64_t rows, out_features, in_features;
  bool bias;
  uint32_t align_a, align_b, align_d;
  bool operator==(const PlanKey&) const = default;
};

struct PlanKeyHash {
  size_t operator()(const PlanKey& k) const {
    size_t h = std::hash<int64_t>()(k.rows);
    for (const int64_t v : {int64_t(k.type), k.out_features, k.in_features, int64_t(k.bias),
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
    set_attribute(plan.op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, CUDA_R_32F, "bias type");
  }
  const auto in = uint64_t(key.in_features), out = uint64_t(key.out_features);
  check_cublas(cublasLtMatrixLayoutCreate(&plan.a, key.type, in, out, int64_t(in)), "layout A");
  check_cublas(cublasLtMatrixLayoutCreate(&plan.b, key.type, in, uint64_t(key.rows), int64_t(in)),
               "layout B");
  check_cublas(
      cublasLtMatrixLayoutCreate(&plan.d, CUDA_R_32F, out, uint64_t(key.rows), int64_t(out)),
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

void gemm(const void* weight, cudaDataType_t type, const void* x, const float* bias, float* y,
          int64_t rows, int64_t out_features, int64_t in_features) {
  static std::mutex mutex;
  static auto* plans = new std::unordered_map<PlanKey, MatmulPlan, PlanKeyHash>();  // never freed
  const PlanKey key{type,          rows,
                    out_features,  in_features,
                    bias != nullptr, alignment_of(weight),
                    alignment_of(x), alignment_of(y)};
  std::lock_guard lock(mutex);  // the bias pointer is set on the shared descriptor
  auto it = plans->find(key);
  if (it == plans->end()) it = plans->emplace(key, make_plan(key)).first;
  const MatmulPlan& plan = it->second;
  if (bias) set_attribute(plan.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, bias, "bias pointer");
  const float alpha = 1.0f, beta = 0.0f;
  const LtContext& context = lt_context();
  check_cublas(cublasLtMatmul(context.handle, plan.op, &alpha, weight, plan.a, x, plan.b, &beta, y,
                              plan.d, y, plan.d, &plan.algo, context.workspace, kWorkspaceBytes,
                              cudaStreamPerThread),
               "cublasLtMatmul");
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor* bias) {
  check_gpu_f32(x, "linear", "input");
  if (!weight.defined() || weight.dim() != 2 || !is_float_weight(weight.dtype()))
    fail(ErrorKind::kInvalidArgument, "linear: weight must be a 2-D F32/BF16/F16 tensor");
  check_on_gpu(weight, "linear", "weight");
  const int64_t out_features = weight.size(0), in_features = weight.size(1);
  if (x.dim() < 1 || x.size(-1) != in_features)
    fail(ErrorKind::kInvalidArgument,
         "linear: input {} does not end in the weight's {} input features", shape_string(x.shape()),
         in_features);
  if (bias) {
    check_gpu_f32(*bias, "linear", "bias");
    if (bias->numel() != out_features)
      fail(ErrorKind::kInvalidArgument, "linear: bias {} does not match {} output features",
           shape_string(bias->shape()), out_features);
  }
  const int64_t rows = in_features ? x.numel() / in_features : 0;
  Tensor y = Tensor::empty({rows, out_features}, DType::kF32, Device::kCUDA);
  if (rows == 0 || out_features == 0) return y;
  const float* bias_data = bias ? bias->data<float>() : nullptr;
  if (rows <= cuda_kernels::kMatvecMaxRows) {
    check_launch(
        cuda_kernels::matvec(x.data<float>(), rows, weight.raw_data(), weight_type(weight.dtype()),
                             out_features, in_features, bias_data, y.data<float>()),
        "linear");
  } else if (weight.dtype() == DType::kF32) {
    gemm(weight.raw_data(), cuda_type(weight.dtype()), x.data<float>(), bias_data, y.data<float>(),
         rows, out_features, in_features);
  } else {
    Tensor x_half = Tensor::empty({rows, in_features}, weight.dtype(), Device::kCUDA);
    check_launch(cuda_kernels::f32_to_half(x.data<float>(), x_half.raw_data(),
                                           weight_type(weight.dtype()), x.numel()),
                 "linear");
    gemm(weight.raw_data(), cuda_type(weight.dtype()), x_half.raw_data(), bias_data,
         y.data<float>(), rows, out_features, in_features);
  }
  return y;
}

}  // namespace glimpse::ops::cuda
