// A reader of the safetensors format (https://github.com/huggingface/safetensors): an 8-byte
// little-endian header length, a JSON header naming each tensor's dtype, shape and byte range, then
// the data buffer. The whole file is memory-mapped and every byte range is validated before any
// tensor is handed out; tensors are zero-copy views into the map.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "core/tensor.h"

namespace glimpse::model {

// The safetensors reference implementation refuses headers above 100 MB; so do we.
inline constexpr size_t kMaxSafetensorsHeaderBytes = 100'000'000;

struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::kF32;
  Shape shape;
  size_t begin = 0, end = 0;  // byte range within the data buffer (after the header)
};

class SafetensorsFile {
 public:
  // Maps and validates `path`. Errors (kCorrupt, kLimitExceeded, kNotFound, kIo) start with the
  // file name: truncated file, header length beyond the file or above the limit, invalid JSON,
  // unknown dtype, shape × dtype size ≠ byte length, offsets out of bounds, overlapping or leaving
  // bytes of the buffer uncovered, duplicate names.
  static SafetensorsFile open(const std::string& path);
  // The same checks over bytes already in memory (tests, fuzzing). `owner` keeps `bytes` alive for
  // as long as any tensor views them; `label` starts every error message.
  static SafetensorsFile parse(std::shared_ptr<const void> owner, std::span<const std::byte> bytes,
                               const std::string& path, const std::string& label);

  const std::string& path() const { return path_; }
  // Sorted by name.
  const std::vector<SafetensorsEntry>& entries() const { return entries_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // A view of the entry's bytes in the map. If the bytes are not aligned to the dtype's size
  // (safetensors only promises 8-byte alignment of the buffer, and a writer may not even pad the
  // header), the tensor is copied into aligned memory instead and *copied is set.
  Tensor tensor(const SafetensorsEntry& entry, bool* copied = nullptr) const;

 private:
  SafetensorsFile(std::span<const std::byte> bytes, std::string path, size_t data_start)
      : bytes_(bytes), path_(std::move(path)), data_start_(data_start) {}

  std::span<const std::byte> bytes_;  // the whole file
  std::string path_;
  std::shared_ptr<Storage> storage_;  // borrows bytes_; keeps their owner (the map) alive
  size_t data_start_;                 // offset of the data buffer in bytes_
  std::vector<SafetensorsEntry> entries_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace glimpse::model
