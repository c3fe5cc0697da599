// Weights are f32, upcast once at model load: OpenBLAS sgemv streams them at memory bandwidth
// (benchmarks/ops_bench.cc measures it against a copy loop), and sgemm gives prefill its FLOPs.
#include <cblas.h>

#include <cstring>

#include "ops/linear.h"

namespace glimpse::ops::cpu {

// rows × out × in multiply-adds; reads in·out weights (4 B each) once per call.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor* bias) {
  check_f32(x, "linear", "input");
  check_f32(weight, "linear", "weight");
  if (weight.dim() != 2)
    fail(ErrorKind::kInvalidArgument, "linear: weight must be 2-D, got {}",
         shape_string(weight.shape()));
  const int64_t out_features = weight.size(0), in_features = weight.size(1);
  if (x.dim() < 1 || x.size(-1) != in_features)
    fail(ErrorKind::kInvalidArgument,
         "linear: input {} does not end in the weight's {} input features", shape_string(x.shape()),
         in_features);
  if (bias) {
    check_f32(*bias, "linear", "bias");
    if (bias->numel() != out_features)
      fail(ErrorKind::kInvalidArgument, "linear: bias {} does not match {} output features",
           shape_string(bias->shape()), out_features);
  }
  const int64_t rows = x.numel() / in_features;
  Tensor y = Tensor::empty({rows, out_features}, DType::kF32);
  float* out = y.data<float>();
  if (rows == 0) return y;
  float beta = 0.0f;
  if (bias) {
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(out + r * out_features, bias->data<float>(),
                  size_t(out_features) * sizeof(float));
    beta = 1.0f;
  }
  if (rows == 1) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, blasint(out_features), blasint(in_features), 1.0f,
                weight.data<float>(), blasint(in_features), x.data<float>(), 1, beta, out, 1);
  } else {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blasint(rows), blasint(out_features),
                blasint(in_features), 1.0f, x.data<float>(), blasint(in_features),
                weight.data<float>(), blasint(in_features), beta, out, blasint(out_features));
  }
  return y;
}

}  // namespace glimpse::ops::cpu
