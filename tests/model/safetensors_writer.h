// Test helper: writes a safetensors file the way the Python writer does: tensors back to back in
// order of decreasing dtype size (then name), after a header padded with spaces to a multiple of
// 8 bytes, so that every tensor is aligned to its dtype.
#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"

namespace glimpse::testing {

struct TensorSpec {
  std::string name;
  DType dtype = DType::kF32;
  Shape shape;
  std::vector<uint8_t> bytes;  // exactly numel × dtype size
};

// A tensor whose bytes are a deterministic function of `seed` and the byte index.
inline TensorSpec patterned_tensor(std::string name, DType dtype, Shape shape, uint32_t seed = 1) {
  TensorSpec spec{std::move(name), dtype, std::move(shape), {}};
  spec.bytes.resize(size_t(shape_numel(spec.shape)) * dtype_size(dtype));
  for (size_t i = 0; i < spec.bytes.size(); ++i)
    spec.bytes[i] = uint8_t((i * 31 + seed * 7) & 0x7f);
  return spec;
}

inline void write_safetensors(const std::string& path, std::vector<TensorSpec> tensors,
                              const std::map<std::string, std::string>& metadata = {}) {
  std::stable_sort(tensors.begin(), tensors.end(), [](const TensorSpec& a, const TensorSpec& b) {
    const size_t sa = dtype_size(a.dtype), sb = dtype_size(b.dtype);
    return sa != sb ? sa > sb : a.name < b.name;
  });
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  size_t offset = 0;
  for (const TensorSpec& t : tensors) {
    header[t.name] = {{"dtype", std::string(dtype_name(t.dtype))},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) fail(ErrorKind::kIo, "{}: cannot write", path);
  uint8_t length[8];
  for (int i = 0; i < 8; ++i) length[i] = uint8_t(uint64_t(text.size()) >> (8 * i));
  out.write(reinterpret_cast<const char*>(length), 8);
  out.write(text.data(), std::streamsize(text.size()));
  for (const TensorSpec& t : tensors)
    out.write(reinterpret_cast<const char*>(t.bytes.data()), std::streamsize(t.bytes.size()));
}

}  // namespace glimpse::testing
