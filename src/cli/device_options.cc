#include "cli/device_options.h"

#include "core/error.h"

namespace glimpse::cli {

void add_device_options(CLI::App* cmd, DeviceChoice* choice) {
  cmd->add_option("--device", choice->device, "Where the model runs")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  cmd->add_option("--dtype", choice->dtype,
                  "Weight matrices: as stored (auto), or converted at load to bf16, f16 or f32")
      ->check(CLI::IsMember({"auto", "bf16", "f16", "f32"}))
      ->capture_default_str();
}

model::LoadOptions load_options(const DeviceChoice& choice) {
  model::LoadOptions options;
  if (choice.device == "cuda") {
#if !GLIMPSE_WITH_CUDA
    fail(ErrorKind::kUnsupported,
         "--device cuda: this glimpse was built without CUDA (configure with the 'cuda' preset)");
#endif
    options.device = Device::kCUDA;
  }
  if (choice.dtype == "bf16") options.matrix_dtype = DType::kBF16;
  if (choice.dtype == "f16") options.matrix_dtype = DType::kF16;
  if (choice.dtype == "f32") options.matrix_dtype = DType::kF32;
  return options;
}

}  // namespace glimpse::cli
