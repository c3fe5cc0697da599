// One dispatch point per op: X.h declares cpu::X (X_cpu.cc) and cuda::X (X_cuda.cu, built only with
// GLIMPSE_CUDA) and an inline X that picks one by the device of its first tensor. A CUDA kernel
// is therefore a drop-in: define cuda::X in X_cuda.cu, nothing else changes.
#pragma once

#include <string>

#include "core/error.h"
#include "core/tensor.h"

namespace glimpse::ops {

[[noreturn]] void fail_no_cuda(const char* op);

// Throws Error(kInvalidArgument) naming `op` and `what` unless `t` is a defined f32 tensor.
void check_f32(const Tensor& t, const char* op, const char* what);
// The same for a defined f32, bf16 or f16 tensor.
void check_float(const Tensor& t, const char* op, const char* what);

// GPU time per op, for finding where a forward pass spends it: with GLIMPSE_PROFILE_OPS=1 every
// CUDA op dispatched here is bracketed by two events (not while a CUDA graph is being captured),
// grouped by stage, op name and the rows of its first tensor. op_profile_report() waits for the GPU
// and returns the table with each group's median call (a first call's one-time costs stay out of
// it), empty when profiling is off. Nested ops count in both.
class OpTimer {
 public:
  OpTimer(const char* op, const Tensor& first);
  ~OpTimer();
  OpTimer(const OpTimer&) = delete;
  OpTimer& operator=(const OpTimer&) = delete;

 private:
  int64_t record_ = -1;
};
std::string op_profile_report();

// While one lives, the ops this thread dispatches are profiled under `stage` (a string literal,
// e.g. "vision"), so a stage's ops stand apart from the same ops elsewhere; "model" otherwise.
class OpProfileStage {
 public:
  explicit OpProfileStage(const char* stage);
  ~OpProfileStage();
  OpProfileStage(const OpProfileStage&) = delete;
  OpProfileStage& operator=(const OpProfileStage&) = delete;

 private:
  const char* previous_;
};
const char* op_profile_stage();

}  // namespace glimpse::ops

#if GLIMPSE_WITH_CUDA
#define GLIMPSE_OPS_DISPATCH(tensor, op, ...)                            \
  do {                                                                   \
    if ((tensor).device() == ::glimpse::Device::kCUDA) {                 \
      const ::glimpse::ops::OpTimer glimpse_op_timer(#op, (tensor));     \
      return cuda::op(__VA_ARGS__);                                      \
    }                                                                    \
    return cpu::op(__VA_ARGS__);                                         \
  } while (0)
#else
#define GLIMPSE_OPS_DISPATCH(tensor, op, ...)                                             \
  do {                                                                                    \
    if ((tensor).device() == ::glimpse::Device::kCUDA) ::glimpse::ops::fail_no_cuda(#op); \
    return cpu::op(__VA_ARGS__);                                                          \
  } while (0)
#endif
