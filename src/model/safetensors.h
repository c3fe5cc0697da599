// A reader of the safetensors format (https://github.com/huggingface/safetensors): an 8-byte
// little-endian header length, a JSON header naming each tensor's dtype, shape and byte range, then
// the data buffer. The whole file is memory-mapped and every byte range is validated before any
// tensor is handed out; tensors are zero-copy views into the map.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
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

  const std::string& path() const { return file_->path(); }
  // Sorted by name.
  const std::vector<SafetensorsEntry>& entries() const { return entries_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // A view of the entry's bytes in the map. If the bytes are not aligned to the dtype's size
  // (safetensors only promises 8-byte alignment of the buffer, and a writer may not even pad the
  // header), the tensor is copied into aligned memory instead and *copied is set.
  Tensor tensor(const SafetensorsEntry& entry, bool* copied = nullptr) const;

 private:
  SafetensorsFile(std::shared_ptr<const MappedFile> file, size_t data_start)
      : file_(std::move(file)), data_start_(data_start) {}

  std::shared_ptr<const MappedFile> file_;
  std::shared_ptr<Storage> storage_;  // borrows the whole map; keeps it alive
  size_t data_start_;                 // file offset of the data buffer
  std::vector<SafetensorsEntry> entries_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace glimpse::model
