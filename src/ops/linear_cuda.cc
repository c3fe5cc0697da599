// y = x·Wᵀ (+ b) and y += x·Wᵀ on the GPU.
// - f32 x and y, rows ≤ kMatvecMaxRows (decode): our matvec kernel (linear_cuda.cu) streams the
//   weight once in its stored dtype with f32 products, as the CPU op.
// - otherwise cuBLASLt. f32 weights: an f32 GEMM (CUBLAS_COMPUTE_32F, no TF32), so the result
//   matches the CPU to f32 rounding. bf16/f16 weights: an f32 x is rounded to the weight's dtype
//   (one pass, 6 B per element; none when x already is half) and the tensor cores multiply with
//   f32 accumulation: 2·rows·out·in FLOPs, relative error ≈ 2⁻⁹ from that rounding (bf16).
// The bias is cuBLASLt's bias epilogue, in y's dtype as the epilogue requires (an f32 bias for a
// half y goes through an f32 y); add_linear's sum is its β = 1 with C = D = y.
//
// cuBLASLt's first heuristic answer is a performance model's guess. On an H100 the vision tower's
// GEMMs at M = 1296 ran at about 65 % of the GEMM rate with it, so a shape of kTuneMinRows rows or
// more is tuned once: up to kTuneCandidates of the heuristic's answers run on the call's own
// operands into scratch output, and the fastest is kept for every shape of that row bucket
// (powers of two, so varying prefill lengths do not tune again and again). GLIMPSE_GEMM_TUNING=0
// keeps the first answer, to compare.
#include <cublasLt.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <span>
#include <string_view>
#include <unordered_map>

#include "ops/common_cuda.h"
#include "ops/convert.h"
#include "ops/kernels_cuda.h"
#include "ops/linear.h"
#include "ops/shape_checks.h"

namespace glimpse::ops::cuda {
namespace {

constexpr size_t kWorkspaceBytes = size_t(32) << 20;
constexpr int kTuneCandidates = 8;
constexpr int64_t kTuneMinRows = 128;
constexpr int kTuneRuns = 5;  // timed runs per candidate (median), after one warm-up
// A candidate replaces the fastest so far only when this much faster, so timing noise
// rarely makes two processes pick different kernels (and round differently).
constexpr float kTuneMargin = 0.97f;

void check_cublas(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS)
    fail(ErrorKind::kInternal, "linear: {} failed: {}", what, cublasLtGetStatusString(status));
}

struct LtContext {
  cublasLtHandle_t handle = nullptr;
  void* workspace = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;  // for tuning
};

// Created on first use and never destroyed: tearing it down after CUDA's own exit is unsafe.
const LtContext& lt_context() {
  static const LtContext context = [] {
    LtContext c;
    check_cublas(cublasLtCreate(&c.handle), "cublasLtCreate");
    check_launch(cudaMalloc(&c.workspace, kWorkspaceBytes), "linear workspace");
    check_launch(cudaEventCreate(&c.start), "linear tuning event");
    check_launch(cudaEventCreate(&c.stop), "linear tuning event");
    return c;
  }();
  return context;
}

bool tuning_enabled() {
  static const bool enabled = [] {
    const char* value = std::getenv("GLIMPSE_GEMM_TUNING");
    return value == nullptr || std::string_view(value) != "0";
  }();
  return enabled;
}

// Timing needs a synchronising event, which a CUDA graph capture forbids.
bool stream_capturing() {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  return cudaStreamIsCapturing(cudaStreamPerThread, &status) != cudaSuccess ||
         status != cudaStreamCaptureStatusNone;
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

// What a call multiplies: tuning runs the candidates on these, with its output in scratch.
struct Operands {
  const void* weight;
  const void* x;
  const void* bias;
  DType out;
};

// The median of kTuneRuns runs of `algo` after a warm-up, in ms; infinity when it cannot run.
float time_algo(const MatmulPlan& plan, const cublasLtMatmulAlgo_t& algo, const Operands& o,
                void* scratch) {
  const LtContext& context = lt_context();
  const float alpha = 1.0f, beta = 0.0f;
  auto run = [&] {
    return cublasLtMatmul(context.handle, plan.op, &alpha, o.weight, plan.a, o.x, plan.b, &beta,
                          scratch, plan.d, scratch, plan.d, &algo, context.workspace,
                          kWorkspaceBytes, cudaStreamPerThread);
  };
  if (run() != CUBLAS_STATUS_SUCCESS) return std::numeric_limits<float>::infinity();
  std::array<float, kTuneRuns> ms{};
  for (float& t : ms) {
    check_launch(cudaEventRecord(context.start, cudaStreamPerThread), "linear tuning");
    check_cublas(run(), "cublasLtMatmul (tuning)");
    check_launch(cudaEventRecord(context.stop, cudaStreamPerThread), "linear tuning");
    check_launch(cudaEventSynchronize(context.stop), "linear tuning");
    check_launch(cudaEventElapsedTime(&t, context.start, context.stop), "linear tuning");
  }
  std::nth_element(ms.begin(), ms.begin() + kTuneRuns / 2, ms.end());
  return ms[kTuneRuns / 2];
}

// The heuristic's first answer, or the fastest of its first kTuneCandidates on these operands.
cublasLtMatmulAlgo_t pick_algo(const MatmulPlan& plan, const PlanKey& key, const Operands& o,
                               std::span<const cublasLtMatmulHeuristicResult_t> answers) {
  if (answers.size() == 1) return answers[0].algo;
  if (o.bias) set_attribute(plan.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, o.bias, "bias pointer");
  Tensor scratch;
  try {
    scratch = Tensor::empty({key.rows, key.out_features}, o.out, Device::kCUDA);
  } catch (const Error&) {
    return answers[0].algo;  // no memory to spare for timing: the heuristic's choice will do
  }
  size_t best = 0;
  float best_ms = time_algo(plan, answers[0].algo, o, scratch.raw_data());
  for (size_t i = 1; i < answers.size(); ++i)
    if (const float ms = time_algo(plan, answers[i].algo, o, scratch.raw_data());
        ms < best_ms * kTuneMargin) {
      best = i;
      best_ms = ms;
    }
  return answers[best].algo;
}

// The row bucket a tuned kernel serves: the next power of two.
int64_t row_bucket(int64_t rows) {
  int64_t bucket = 1;
  while (bucket < rows) bucket *= 2;
  return bucket;
}

// Column-major view of the row-major product: yᵀ [out, rows] = W [in, out]ᵀ · xᵀ [in, rows].
MatmulPlan make_plan(const PlanKey& key, const Operands& operands) {
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

  // A kernel tuned for another shape of this row bucket, if it runs this one.
  static auto* tuned = new std::unordered_map<PlanKey, cublasLtMatmulAlgo_t, PlanKeyHash>();
  const bool tune = tuning_enabled() && key.rows >= kTuneMinRows && !stream_capturing();
  PlanKey bucket_key = key;
  bucket_key.rows = row_bucket(key.rows);
  if (tune) {
    if (auto it = tuned->find(bucket_key); it != tuned->end()) {
      cublasLtMatmulHeuristicResult_t check{};
      if (cublasLtMatmulAlgoCheck(context.handle, plan.op, plan.a, plan.b, plan.d, plan.d,
                                  &it->second, &check) == CUBLAS_STATUS_SUCCESS &&
          check.workspaceSize <= kWorkspaceBytes) {
        plan.algo = it->second;
        return plan;
      }
    }
  }

  cublasLtMatmulPreference_t preference = nullptr;
  check_cublas(cublasLtMatmulPreferenceCreate(&preference), "preference");
  set_preference(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, uint64_t(kWorkspaceBytes),
                 "workspace");
  set_preference(preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, key.align_a, "align A");
  set_preference(preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, key.align_b, "align B");
  set_preference(preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, key.align_d, "align C");
  set_preference(preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, key.align_d, "align D");
  std::array<cublasLtMatmulHeuristicResult_t, kTuneCandidates> answers{};
  int found = 0;
  const cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(
      context.handle, plan.op, plan.a, plan.b, plan.d, plan.d, preference,
      tune ? kTuneCandidates : 1, answers.data(), &found);
  cublasLtMatmulPreferenceDestroy(preference);
  check_cublas(status, "heuristic");
  if (found == 0)
    fail(ErrorKind::kUnsupported, "linear: cuBLASLt has no kernel for [{}, {}] x [{}, {}]ᵀ",
         key.rows, key.in_features, key.out_features, key.in_features);
  plan.algo = pick_algo(plan, key, operands, std::span(answers.data(), size_t(found)));
  if (tune) (*tuned)[bucket_key] = plan.algo;
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
  if (it == plans->end())
    it = plans->emplace(key, make_plan(key, {weight.raw_data(), x, bias, y.dtype()})).first;
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
