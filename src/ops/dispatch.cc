#include "ops/dispatch.h"

namespace glimpse::ops {

void fail_no_cuda(const char* op) {
  fail(ErrorKind::kUnsupported, "{}: the tensor is on the GPU but this build has no CUDA backend",
       op);
}

void check_f32(const Tensor& t, const char* op, const char* what) {
  if (!t.defined()) fail(ErrorKind::kInvalidArgument, "{}: {} is undefined", op, what);
  if (t.dtype() != DType::kF32)
    fail(ErrorKind::kInvalidArgument, "{}: {} must be F32, got {}", op, what,
         dtype_name(t.dtype()));
}

void check_float(const Tensor& t, const char* op, const char* what) {
  if (!t.defined()) fail(ErrorKind::kInvalidArgument, "{}: {} is undefined", op, what);
  if (!is_float_weight(t.dtype()))
    fail(ErrorKind::kInvalidArgument, "{}: {} must be F32, BF16 or F16, got {}", op, what,
         dtype_name(t.dtype()));
}

namespace {
thread_local const char* current_stage = "model";
}

OpProfileStage::OpProfileStage(const char* stage) : previous_(current_stage) {
  current_stage = stage;
}
OpProfileStage::~OpProfileStage() {
  current_stage = previous_;
}
const char* op_profile_stage() {
  return current_stage;
}

#if !GLIMPSE_WITH_CUDA
OpTimer::OpTimer(const char*, const Tensor&) {}
OpTimer::~OpTimer() = default;
std::string op_profile_report() {
  return {};
}
#endif

}  // namespace glimpse::ops
