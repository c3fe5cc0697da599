// A dense, contiguous, row-major tensor over shared storage. Views (reshape, row ranges) share the
// storage and never copy; weights loaded from safetensors are views into the memory-mapped file.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"

namespace glimpse {

enum class Device : uint8_t { kCPU, kCUDA };
const char* device_name(Device device);

using Shape = std::vector<int64_t>;
std::string shape_string(const Shape& shape);  // "[2, 3]"
int64_t shape_numel(const Shape& shape);

// A block of bytes on one device. Owned storage frees itself; borrowed storage keeps its owner
// (e.g. a memory map) alive through `owner`.
class Storage {
 public:
  static std::shared_ptr<Storage> allocate(size_t bytes, Device device = Device::kCPU);
  static std::shared_ptr<Storage> borrow(void* data, size_t bytes, Device device,
                                         std::shared_ptr<const void> owner);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  Storage(void* data, size_t bytes, Device device, bool owned, std::shared_ptr<const void> owner)
      : data_(data), bytes_(bytes), device_(device), owned_(owned), owner_(std::move(owner)) {}
  void* data_;
  size_t bytes_;
  Device device_;
  bool owned_;
  std::shared_ptr<const void> owner_;
};

class Tensor {
 public:
  Tensor() = default;
  Tensor(std::shared_ptr<Storage> storage, size_t byte_offset, DType dtype, Shape shape);

  static Tensor empty(Shape shape, DType dtype, Device device = Device::kCPU);
  static Tensor zeros(Shape shape, DType dtype);  // host only
  static Tensor from_vector(const std::vector<float>& values, Shape shape);

  bool defined() const { return storage_ != nullptr; }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->device() : Device::kCPU; }
  const Shape& shape() const { return shape_; }
  int64_t dim() const { return int64_t(shape_.size()); }
  int64_t size(int64_t axis) const;  // negative axis counts from the end
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype_); }

  void* raw_data() const;
  template <typename T>
  T* data() const {
    return static_cast<T*>(raw_data());
  }
  std::span<const std::byte> bytes() const {
    return {static_cast<const std::byte*>(raw_data()), nbytes()};
  }

  // Same bytes, new shape with the same element count; one dimension may be -1.
  Tensor view(Shape shape) const;
  // Rows [begin, end) of the first dimension, without copying.
  Tensor slice_rows(int64_t begin, int64_t end) const;
  // Row i of the first dimension, dropping it.
  Tensor row(int64_t i) const;
  // A deep copy on the host, converted to float32 (from f32/bf16/f16).
  Tensor to_f32() const;

 private:
  std::shared_ptr<Storage> storage_;
  size_t offset_ = 0;
  DType dtype_ = DType::kF32;
  Shape shape_;
};

}  // namespace glimpse
