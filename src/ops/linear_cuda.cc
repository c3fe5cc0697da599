// y = x·Wᵀ (+ b) on the GPU.
// - rows ≤ kMatvecMaxRows (decode): our matvec kernel (linear_cuda.cu) streams the weight once in
//   its stored dtype with f32 products, as the CPU op.
// - more rows (prefill): cuBLASLt. f32 weights: an f32 GEMM (CUBLAS_COMPUTE_32F, no TF32), so the
//   result matches the CPU to f32 rounding. bf16/f16 weights: x is rounded to the weight's dtype
//   (one pass, 6 B per element) and the tensor cores multiply with f32 accumulation: 2·rows·out·in
//   FLOPs, relative error ≈ 2⁻⁹ from that rounding (bf16).
// Either path writes y [rows, out] f32 with the bias added (cuBLASLt's bias epilogue).
#include <cublasLt.h>

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

// The descriptors of one cuBLASLt call, released on every exit path.
struct MatmulDescriptors {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulPreference_t preference = nullptr;
  MatmulDescriptors() = default;
  MatmulDescriptors(const MatmulDescriptors&) = delete;
  MatmulDescriptors& operator=(const MatmulDescriptors&) = delete;
  ~MatmulDescriptors() {
    if (preference) cublasLtMatmulPreferenceDestroy(preference);
    if (d) cublasLtMatrixLayoutDestroy(d);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (op) cublasLtMatmulDescDestroy(op);
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

// Column-major view of the row-major product: yᵀ [out, rows] = W [in, out]ᵀ · xᵀ [in, rows].
void gemm(const void* weight, cudaDataType_t type, const void* x, const float* bias, float* y,
          int64_t rows, int64_t out_features, int64_t in_features) {
  const LtContext& context = lt_context();
  MatmulDescriptors desc;
  check_cublas(cublasLtMatmulDescCreate(&desc.op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "desc");
  const cublasOperation_t transpose = CUBLAS_OP_T, keep = CUBLAS_OP_N;
  check_cublas(cublasLtMatmulDescSetAttribute(desc.op, CUBLASLT_MATMUL_DESC_TRANSA, &transpose,
                                              sizeof(transpose)),
               "transa");
  check_cublas(
      cublasLtMatmulDescSetAttribute(desc.op, CUBLASLT_MATMUL_DESC_TRANSB, &keep, sizeof(keep)),
      "transb");
  if (bias) {
    const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
    const cudaDataType_t bias_type = CUDA_R_32F;
    check_cublas(cublasLtMatmulDescSetAttribute(desc.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue,
                                                sizeof(epilogue)),
                 "epilogue");
    check_cublas(cublasLtMatmulDescSetAttribute(desc.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias,
                                                sizeof(bias)),
                 "bias pointer");
    check_cublas(cublasLtMatmulDescSetAttribute(desc.op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE,
                                                &bias_type, sizeof(bias_type)),
                 "bias type");
  }
  check_cublas(cublasLtMatrixLayoutCreate(&desc.a, type, uint64_t(in_features),
                                          uint64_t(out_features), in_features),
               "layout A");
  check_cublas(
      cublasLtMatrixLayoutCreate(&desc.b, type, uint64_t(in_features), uint64_t(rows), in_features),
      "layout B");
  check_cublas(cublasLtMatrixLayoutCreate(&desc.d, CUDA_R_32F, uint64_t(out_features),
                                          uint64_t(rows), out_features),
               "layout D");
  check_cublas(cublasLtMatmulPreferenceCreate(&desc.preference), "preference");
  const uint64_t workspace = kWorkspaceBytes;
  check_cublas(
      cublasLtMatmulPreferenceSetAttribute(
          desc.preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace, sizeof(workspace)),
      "workspace");
  const uint32_t align_a = alignment_of(weight), align_b = alignment_of(x),
                 align_d = alignment_of(y);
  check_cublas(
      cublasLtMatmulPreferenceSetAttribute(
          desc.preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_a, sizeof(align_a)),
      "alignment A");
  check_cublas(
      cublasLtMatmulPreferenceSetAttribute(
          desc.preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_b, sizeof(align_b)),
      "alignment B");
  check_cublas(
      cublasLtMatmulPreferenceSetAttribute(
          desc.preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_d, sizeof(align_d)),
      "alignment C");
  check_cublas(
      cublasLtMatmulPreferenceSetAttribute(
          desc.preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_d, sizeof(align_d)),
      "alignment D");
  cublasLtMatmulHeuristicResult_t heuristic{};
  int found = 0;
  check_cublas(cublasLtMatmulAlgoGetHeuristic(context.handle, desc.op, desc.a, desc.b, desc.d,
                                              desc.d, desc.preference, 1, &heuristic, &found),
               "heuristic");
  if (found == 0)
    fail(ErrorKind::kUnsupported, "linear: cuBLASLt has no kernel for [{}, {}] x [{}, {}]ᵀ", rows,
         in_features, out_features, in_features);
  const float alpha = 1.0f, beta = 0.0f;
  check_cublas(
      cublasLtMatmul(context.handle, desc.op, &alpha, weight, desc.a, x, desc.b, &beta, y, desc.d,
                     y, desc.d, &heuristic.algo, context.workspace, kWorkspaceBytes, nullptr),
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
