#include "model/safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>

#include "core/error.h"

namespace glimpse::model {
namespace {

using Json = nlohmann::json;

// Reads a non-negative integer that fits in size_t, or returns false.
bool read_size(const Json& value, size_t* out) {
  if (!value.is_number_unsigned() && !(value.is_number_integer() && value.get<int64_t>() >= 0))
    return false;
  const uint64_t v = value.get<uint64_t>();
  if (v > std::numeric_limits<size_t>::max()) return false;
  *out = size_t(v);
  return true;
}

// Byte size of `shape` × `element` bytes, or false on overflow.
bool checked_byte_size(const Shape& shape, size_t element, size_t* out) {
  size_t bytes = element;
  for (int64_t dim : shape) {
    if (__builtin_mul_overflow(bytes, size_t(dim), &bytes)) return false;
  }
  *out = bytes;
  return true;
}

SafetensorsEntry parse_entry(const std::string& name, const Json& info) {
  if (!info.is_object())
    fail(ErrorKind::kCorrupt, "tensor '{}': expected an object with dtype, shape and data_offsets",
         name);
  SafetensorsEntry entry;
  entry.name = name;

  auto dtype = info.find("dtype");
  if (dtype == info.end() || !dtype->is_string())
    fail(ErrorKind::kCorrupt, "tensor '{}': missing or non-string 'dtype'", name);
  if (!parse_dtype(dtype->get<std::string>(), &entry.dtype))
    fail(ErrorKind::kCorrupt, "tensor '{}': unknown dtype '{}'", name, dtype->get<std::string>());

  auto shape = info.find("shape");
  if (shape == info.end() || !shape->is_array())
    fail(ErrorKind::kCorrupt, "tensor '{}': missing or non-array 'shape'", name);
  for (const Json& dim : *shape) {
    size_t d = 0;
    if (!read_size(dim, &d) || d > size_t(std::numeric_limits<int64_t>::max()))
      fail(ErrorKind::kCorrupt,
           "tensor '{}': shape {} has a dimension that is not a non-negative integer", name,
           shape->dump());
    entry.shape.push_back(int64_t(d));
  }

  auto offsets = info.find("data_offsets");
  if (offsets == info.end() || !offsets->is_array() || offsets->size() != 2 ||
      !read_size((*offsets)[0], &entry.begin) || !read_size((*offsets)[1], &entry.end))
    fail(ErrorKind::kCorrupt,
         "tensor '{}': 'data_offsets' must be two non-negative integers [begin, end]", name);
  if (entry.end < entry.begin)
    fail(ErrorKind::kCorrupt, "tensor '{}': data_offsets [{}, {}) end before they begin", name,
         entry.begin, entry.end);

  size_t bytes = 0;
  if (!checked_byte_size(entry.shape, dtype_size(entry.dtype), &bytes))
    fail(ErrorKind::kCorrupt, "tensor '{}': shape {} is too large", name,
         shape_string(entry.shape));
  if (bytes != entry.end - entry.begin)
    fail(ErrorKind::kCorrupt,
         "tensor '{}': shape {} of {} needs {} bytes, but data_offsets [{}, {}) hold {}", name,
         shape_string(entry.shape), dtype_name(entry.dtype), bytes, entry.begin, entry.end,
         entry.end - entry.begin);
  return entry;
}

// Every byte of the buffer belongs to exactly one tensor (empty tensors take none).
void check_coverage(std::vector<SafetensorsEntry> entries, size_t buffer_bytes) {
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  size_t covered = 0;  // bytes [0, covered) belong to a tensor
  const SafetensorsEntry* last = nullptr;
  for (const auto& e : entries) {
    if (e.end > buffer_bytes)
      fail(ErrorKind::kCorrupt,
           "tensor '{}': data_offsets [{}, {}) run past the {}-byte data buffer", e.name, e.begin,
           e.end, buffer_bytes);
    if (e.begin == e.end) continue;
    if (e.begin < covered)
      fail(ErrorKind::kCorrupt, "tensor '{}': data_offsets [{}, {}) overlap tensor '{}' [{}, {})",
           e.name, e.begin, e.end, last->name, last->begin, last->end);
    if (e.begin > covered)
      fail(ErrorKind::kCorrupt, "bytes [{}, {}) of the data buffer belong to no tensor", covered,
           e.begin);
    covered = e.end;
    last = &e;
  }
  if (covered != buffer_bytes)
    fail(ErrorKind::kCorrupt, "bytes [{}, {}) of the data buffer belong to no tensor", covered,
         buffer_bytes);
}

}  // namespace

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  std::shared_ptr<const MappedFile> file = MappedFile::open(path);
  const std::span<const std::byte> bytes(file->data(), file->size());
  return parse(std::move(file), bytes, path, std::filesystem::path(path).filename().string());
}

SafetensorsFile SafetensorsFile::parse(std::shared_ptr<const void> owner,
                                       std::span<const std::byte> bytes, const std::string& path,
                                       const std::string& label) {
  return with_context(label, [&] {
    const size_t size = bytes.size();
    if (size < 8)
      fail(ErrorKind::kCorrupt, "truncated: {} bytes, too short for the 8-byte header length",
           size);
    uint64_t header_bytes = 0;
    for (int i = 7; i >= 0; --i) header_bytes = (header_bytes << 8) | uint8_t(bytes[size_t(i)]);
    if (header_bytes > kMaxSafetensorsHeaderBytes)
      fail(ErrorKind::kLimitExceeded, "header of {} bytes exceeds the {}-byte limit", header_bytes,
           kMaxSafetensorsHeaderBytes);
    if (header_bytes > size - 8)
      fail(ErrorKind::kCorrupt, "header length {} exceeds the {} bytes that follow it (truncated?)",
           header_bytes, size - 8);

    // nlohmann keeps the last of duplicate keys silently; the callback catches them.
    std::set<std::string> seen;
    std::string duplicate;
    auto on_event = [&](int depth, Json::parse_event_t event, Json& parsed) {
      if (depth == 1 && event == Json::parse_event_t::key && duplicate.empty() &&
          !seen.insert(parsed.get<std::string>()).second)
        duplicate = parsed.get<std::string>();
      return true;
    };
    const char* header = reinterpret_cast<const char*>(bytes.data() + 8);
    Json root;
    try {
      root = Json::parse(header, header + header_bytes, on_event);
    } catch (const Json::exception& e) {
      std::string what = e.what();
      if (const size_t pos = what.find("] "); pos != std::string::npos) what = what.substr(pos + 2);
      fail(ErrorKind::kCorrupt, "header is not valid JSON: {}", what);
    }
    if (!root.is_object()) fail(ErrorKind::kCorrupt, "header is not a JSON object");
    if (!duplicate.empty())
      fail(ErrorKind::kCorrupt, "tensor '{}' appears twice in the header", duplicate);

    SafetensorsFile result(bytes, path, 8 + size_t(header_bytes));
    for (const auto& [name, info] : root.items()) {
      if (name == "__metadata__") {
        if (!info.is_object()) fail(ErrorKind::kCorrupt, "__metadata__ is not a JSON object");
        for (const auto& [key, value] : info.items()) {
          if (!value.is_string())
            fail(ErrorKind::kCorrupt, "__metadata__.{}: expected a string, got {}", key,
                 value.type_name());
          result.metadata_[key] = value.get<std::string>();
        }
        continue;
      }
      result.entries_.push_back(parse_entry(name, info));
    }
    check_coverage(result.entries_, size - result.data_start_);
    std::sort(result.entries_.begin(), result.entries_.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
    result.storage_ =
        Storage::borrow(const_cast<std::byte*>(bytes.data()), size, Device::kCPU, std::move(owner));
    return result;
  });
}

Tensor SafetensorsFile::tensor(const SafetensorsEntry& entry, bool* copied) const {
  const size_t offset = data_start_ + entry.begin;
  const std::byte* data = bytes_.data() + offset;
  const bool aligned = reinterpret_cast<uintptr_t>(data) % dtype_size(entry.dtype) == 0;
  if (copied) *copied = !aligned;
  if (aligned) return Tensor(storage_, offset, entry.dtype, entry.shape);
  Tensor copy = Tensor::empty(entry.shape, entry.dtype);
  std::memcpy(copy.raw_data(), data, copy.nbytes());
  return copy;
}

}  // namespace glimpse::model
