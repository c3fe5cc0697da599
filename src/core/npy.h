// NumPy .npy files (format 1.0/2.0/3.0, little-endian, C order): the exchange format of the
// golden fixtures and of `glimpse prompt --dump-pixels`.
#pragma once

#include <string>

#include "core/tensor.h"

namespace glimpse {

// Reads f4, f8 (converted to F32), f2, i8, i4, u1, b1 and bfloat16 stored as '<u2'/'V2' is not
// supported; throws Error naming the file and the field on anything else or on malformed input.
Tensor read_npy(const std::string& path);
void write_npy(const std::string& path, const Tensor& tensor);

}  // namespace glimpse
