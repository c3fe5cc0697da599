// A read-only memory map of a whole file. Tensors borrow from it (zero copy) and keep it alive.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace glimpse {

class MappedFile {
 public:
  // Throws Error(kNotFound / kIo) naming the path.
  static std::shared_ptr<const MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::byte* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile(std::string path, const std::byte* data, size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}
  std::string path_;
  const std::byte* data_;
  size_t size_;
};

}  // namespace glimpse
