#include "core/npy.h"

#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>

namespace glimpse {
namespace {

struct Descr {
  const char* code;
  DType dtype;
};
constexpr Descr kDescrs[] = {{"<f4", DType::kF32}, {"<f2", DType::kF16}, {"<i8", DType::kI64},
                             {"<i4", DType::kI32}, {"|u1", DType::kU8},  {"|b1", DType::kBool},
                             {"<f8", DType::kF64}, {"|i1", DType::kI8},  {"<i2", DType::kI16}};

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::kNotFound, "{}: cannot open", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

Tensor read_npy(const std::string& path) {
  const std::string data = read_all(path);
  if (data.size() < 10 || std::memcmp(data.data(), "\x93NUMPY", 6) != 0)
    fail(ErrorKind::kCorrupt, "{}: not a .npy file (bad magic)", path);
  const int major = static_cast<unsigned char>(data[6]);
  size_t header_len, header_start;
  if (major == 1) {
    header_len = uint8_t(data[8]) | (size_t(uint8_t(data[9])) << 8);
    header_start = 10;
  } else {
    if (data.size() < 12) fail(ErrorKind::kCorrupt, "{}: truncated header", path);
    header_len = 0;
    for (int i = 0; i < 4; ++i) header_len |= size_t(uint8_t(data[8 + i])) << (8 * i);
    header_start = 12;
  }
  if (header_start + header_len > data.size())
    fail(ErrorKind::kCorrupt, "{}: truncated header", path);
  const std::string header = data.substr(header_start, header_len);

  // The header is a Python dict literal: {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3),
  // }
  auto value_after = [&](const char* key) -> std::string_view {
    const size_t at = header.find(key);
    if (at == std::string::npos) fail(ErrorKind::kCorrupt, "{}: header has no {}", path, key);
    const size_t colon = header.find(':', at);
    if (colon == std::string::npos)
      fail(ErrorKind::kCorrupt, "{}: header field {} has no value", path, key);
    const size_t start = header.find_first_not_of(' ', colon + 1);
    if (start == std::string::npos)
      fail(ErrorKind::kCorrupt, "{}: header field {} has no value", path, key);
    return std::string_view(header).substr(start);
  };
  std::string_view descr_field = value_after("'descr'");
  if (descr_field.empty() || descr_field[0] != '\'' ||
      descr_field.find('\'', 1) == std::string_view::npos)
    fail(ErrorKind::kCorrupt, "{}: 'descr' is not a quoted string", path);
  const std::string descr(descr_field.substr(1, descr_field.find('\'', 1) - 1));
  if (value_after("'fortran_order'").substr(0, 4) == "True")
    fail(ErrorKind::kUnsupported, "{}: Fortran-ordered arrays are not supported", path);
  std::string_view shape_field = value_after("'shape'");
  const size_t close = shape_field.find(')');
  if (shape_field.empty() || shape_field[0] != '(' || close == std::string_view::npos)
    fail(ErrorKind::kCorrupt, "{}: 'shape' is not a tuple", path);
  Shape shape;
  std::stringstream dims{std::string(shape_field.substr(1, close - 1))};
  for (std::string item; std::getline(dims, item, ',');) {
    if (item.find_first_not_of(' ') == std::string::npos) continue;
    try {
      shape.push_back(std::stoll(item));
    } catch (const std::exception&) {
      fail(ErrorKind::kCorrupt, "{}: 'shape' has a non-integer entry '{}'", path, item);
    }
    if (shape.back() < 0) fail(ErrorKind::kCorrupt, "{}: 'shape' has a negative entry", path);
  }

  const Descr* found = nullptr;
  for (const auto& d : kDescrs)
    if (descr == d.code) found = &d;
  if (!found) fail(ErrorKind::kUnsupported, "{}: dtype '{}' is not supported", path, descr);

  const size_t payload = header_start + header_len;
  const size_t elem = dtype_size(found->dtype);
  const size_t need = size_t(shape_numel(shape)) * elem;
  if (data.size() - payload != need)
    fail(ErrorKind::kCorrupt, "{}: payload is {} bytes, shape {} of {} needs {}", path,
         data.size() - payload, shape_string(shape), descr, need);

  if (found->dtype == DType::kF64) {
    Tensor t = Tensor::empty(shape, DType::kF32);
    std::vector<double> tmp(
        size_t(shape_numel(shape)));  // copy first: the payload may be unaligned
    std::memcpy(tmp.data(), data.data() + payload, need);
    for (size_t i = 0; i < tmp.size(); ++i) t.data<float>()[i] = float(tmp[i]);
    return t;
  }
  Tensor t = Tensor::empty(shape, found->dtype);
  std::memcpy(t.raw_data(), data.data() + payload, need);
  return t;
}

void write_npy(const std::string& path, const Tensor& tensor) {
  const char* code = nullptr;
  for (const auto& d : kDescrs)
    if (d.dtype == tensor.dtype()) code = d.code;
  if (!code)
    fail(ErrorKind::kUnsupported, "{}: cannot write {} tensors", path, dtype_name(tensor.dtype()));
  std::string shape = "(";
  for (size_t i = 0; i < tensor.shape().size(); ++i)
    shape += (i ? ", " : "") + std::to_string(tensor.shape()[i]);
  shape += tensor.dim() == 1 ? ",)" : ")";
  std::string header =
      std::string("{'descr': '") + code + "', 'fortran_order': False, 'shape': " + shape + ", }";
  while ((10 + header.size() + 1) % 64) header += ' ';
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  if (!out) fail(ErrorKind::kIo, "{}: cannot open for writing", path);
  const char preamble[8] = {'\x93', 'N', 'U', 'M', 'P', 'Y', 1, 0};
  out.write(preamble, 8);
  const uint16_t len = uint16_t(header.size());
  out.put(char(len & 0xff)).put(char(len >> 8));
  out << header;
  out.write(static_cast<const char*>(tensor.raw_data()), std::streamsize(tensor.nbytes()));
  if (!out) fail(ErrorKind::kIo, "{}: write failed", path);
}

}  // namespace glimpse
