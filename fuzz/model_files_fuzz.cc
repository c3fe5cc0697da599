// libFuzzer target for the model-directory parsers: the input is read both as a safetensors file
// (every accepted tensor is then read in full) and as a config.json (an accepted config is then
// turned into the list of tensors it needs). Any glimpse::Error is a correct rejection; crashes,
// sanitizer reports, other exceptions and hangs are findings.
//
//   cmake --preset fuzz -B build/<you>-fuzz && cmake --build build/<you>-fuzz --target
//   model_files_fuzz build/<you>-fuzz/fuzz/model_files_fuzz fuzz/corpus/model_files_fuzz
//   -runs=1000000
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "model/config.h"
#include "model/safetensors.h"
#include "model/weights.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // An exact-size copy, so that ASan sees any read past the end.
  auto bytes = std::make_shared<std::vector<std::byte>>(size);
  if (size) std::memcpy(bytes->data(), data, size);
  try {
    const auto file = glimpse::model::SafetensorsFile::parse(bytes, {bytes->data(), size}, "fuzz",
                                                             "fuzz.safetensors");
    uint64_t sum = 0;
    for (const auto& entry : file.entries()) {
      const glimpse::Tensor tensor = file.tensor(entry);
      for (std::byte b : tensor.bytes()) sum += uint8_t(b);
    }
    if (sum == 1) std::abort();  // keeps the reads; never true for a real finding
  } catch (const glimpse::Error&) {
  }
  try {
    const auto config =
        glimpse::model::parse_model_config(std::string(reinterpret_cast<const char*>(data), size));
    (void)glimpse::model::expected_tensors(config);
  } catch (const glimpse::Error&) {
  }
  return 0;
}
