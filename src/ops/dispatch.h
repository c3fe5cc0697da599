// One dispatch point per op: X.h declares cpu::X (X_cpu.cc) and cuda::X (X_cuda.cu, built only with
// GLIMPSE_CUDA) and an inline X that picks one by the device of its first tensor. A CUDA kernel
// is therefore a drop-in: define cuda::X in X_cuda.cu, nothing else changes.
#pragma once

#include "core/error.h"
#include "core/tensor.h"

namespace glimpse::ops {

[[noreturn]] void fail_no_cuda(const char* op);

// Throws Error(kInvalidArgument) naming `op` and `what` unless `t` is a defined f32 tensor.
void check_f32(const Tensor& t, const char* op, const char* what);

}  // namespace glimpse::ops

#if GLIMPSE_WITH_CUDA
#define GLIMPSE_OPS_DISPATCH(tensor, op, ...)                                  \
  return (tensor).device() == ::glimpse::Device::kCUDA ? cuda::op(__VA_ARGS__) \
                                                       : cpu::op(__VA_ARGS__)
#else
#define GLIMPSE_OPS_DISPATCH(tensor, op, ...)                                             \
  do {                                                                                    \
    if ((tensor).device() == ::glimpse::Device::kCUDA) ::glimpse::ops::fail_no_cuda(#op); \
    return cpu::op(__VA_ARGS__);                                                          \
  } while (0)
#endif
