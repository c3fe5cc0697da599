#include "core/tensor.h"

#include <cstdlib>
#include <cstring>

#include "core/device_memory.h"

namespace glimpse {

const char* device_name(Device device) {
  return device == Device::kCUDA ? "cuda" : "cpu";
}

std::string shape_string(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::shared_ptr<Storage> Storage::allocate(size_t bytes, Device device) {
  void* data = nullptr;
  if (device == Device::kCPU) {
    // 64-byte alignment keeps SIMD loads and cache lines aligned.
    data = std::aligned_alloc(64, (bytes + 63) / 64 * 64 + 64);
    if (!data) fail(ErrorKind::kLimitExceeded, "out of host memory allocating {} bytes", bytes);
  } else {
    data = device_allocate(bytes);
  }
  return std::shared_ptr<Storage>(new Storage(data, bytes, device, true, nullptr));
}

std::shared_ptr<Storage> Storage::borrow(void* data, size_t bytes, Device device,
                                         std::shared_ptr<const void> owner) {
  return std::shared_ptr<Storage>(new Storage(data, bytes, device, false, std::move(owner)));
}

Storage::~Storage() {
  if (!owned_) return;
  if (device_ == Device::kCPU)
    std::free(data_);
  else
    device_free(data_);
}

Tensor::Tensor(std::shared_ptr<Storage> storage, size_t byte_offset, DType dtype, Shape shape)
    : storage_(std::move(storage)), offset_(byte_offset), dtype_(dtype), shape_(std::move(shape)) {
  for (int64_t d : shape_)
    if (d < 0)
      fail(ErrorKind::kInvalidArgument, "negative dimension in shape {}", shape_string(shape_));
  if (storage_ && offset_ + nbytes() > storage_->bytes())
    fail(ErrorKind::kInternal, "tensor {} of {} bytes at offset {} exceeds its storage of {} bytes",
         shape_string(shape_), nbytes(), offset_, storage_->bytes());
}

Tensor Tensor::empty(Shape shape, DType dtype, Device device) {
  const size_t bytes = size_t(shape_numel(shape)) * dtype_size(dtype);
  return Tensor(Storage::allocate(bytes, device), 0, dtype, std::move(shape));
}

Tensor Tensor::zeros(Shape shape, DType dtype) {
  Tensor t = empty(std::move(shape), dtype);
  if (t.nbytes()) std::memset(t.raw_data(), 0, t.nbytes());  // no storage for zero elements
  return t;
}

Tensor Tensor::from_vector(const std::vector<float>& values, Shape shape) {
  if (shape_numel(shape) != int64_t(values.size()))
    fail(ErrorKind::kInvalidArgument, "{} values do not fill shape {}", values.size(),
         shape_string(shape));
  Tensor t = empty(std::move(shape), DType::kF32);
  if (!values.empty()) std::memcpy(t.raw_data(), values.data(), values.size() * sizeof(float));
  return t;
}

int64_t Tensor::size(int64_t axis) const {
  if (axis < 0) axis += dim();
  if (axis < 0 || axis >= dim())
    fail(ErrorKind::kInternal, "axis {} out of range for shape {}", axis, shape_string(shape_));
  return shape_[size_t(axis)];
}

void* Tensor::raw_data() const {
  return storage_ ? static_cast<char*>(storage_->data()) + offset_ : nullptr;
}

Tensor Tensor::view(Shape shape) const {
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (infer >= 0) fail(ErrorKind::kInternal, "view {}: more than one -1", shape_string(shape));
      infer = int64_t(i);
    } else {
      known *= shape[i];
    }
  }
  if (infer >= 0 && known > 0) shape[size_t(infer)] = numel() / known;
  if (shape_numel(shape) != numel())
    fail(ErrorKind::kInternal, "cannot view {} as {}", shape_string(shape_), shape_string(shape));
  return Tensor(storage_, offset_, dtype_, std::move(shape));
}

Tensor Tensor::slice_rows(int64_t begin, int64_t end) const {
  const int64_t rows = size(0);
  if (begin < 0 || end < begin || end > rows)
    fail(ErrorKind::kInternal, "rows [{}, {}) out of range for shape {}", begin, end,
         shape_string(shape_));
  Shape shape = shape_;
  shape[0] = end - begin;
  const size_t row_bytes = rows ? nbytes() / size_t(rows) : 0;
  return Tensor(storage_, offset_ + size_t(begin) * row_bytes, dtype_, std::move(shape));
}

Tensor Tensor::row(int64_t i) const {
  Tensor r = slice_rows(i, i + 1);
  return r.view(Shape(shape_.begin() + 1, shape_.end()));
}

Tensor Tensor::to_f32() const {
  if (device() != Device::kCPU) fail(ErrorKind::kInternal, "to_f32 needs a host tensor");
  Tensor out = empty(shape_, DType::kF32);
  float* dst = out.data<float>();
  const int64_t n = numel();
  switch (dtype_) {
    case DType::kF32:
      if (n) std::memcpy(dst, raw_data(), nbytes());
      break;
    case DType::kBF16: {
      const uint16_t* src = data<uint16_t>();
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(src[i]);
      break;
    }
    case DType::kF16: {
      const uint16_t* src = data<uint16_t>();
      for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(src[i]);
      break;
    }
    default:
      fail(ErrorKind::kUnsupported, "cannot convert {} to F32", dtype_name(dtype_));
  }
  return out;
}

}  // namespace glimpse
