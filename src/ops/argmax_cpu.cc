#include <cmath>

#include "ops/argmax.h"

namespace glimpse::ops {

void check_argmax_input(const Tensor& logits) {
  check_f32(logits, "argmax_rows", "logits");
  if (logits.dim() != 2 || logits.size(1) == 0)
    fail(ErrorKind::kInvalidArgument, "argmax_rows: logits {} must be [rows, vocab > 0]",
         shape_string(logits.shape()));
}

namespace cpu {

// Reads each row once (4·vocab bytes).
std::vector<int32_t> argmax_rows(const Tensor& logits) {
  check_argmax_input(logits);
  const int64_t rows = logits.size(0), vocab = logits.size(1);
  std::vector<int32_t> out(size_t(rows), 0);
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = logits.data<float>() + r * vocab;
    int32_t best = 0;
    for (int64_t i = 0; i < vocab; ++i) {
      if (std::isnan(row[i]))
        fail(ErrorKind::kInternal, "argmax_rows: row {} holds NaN (token {})", r, i);
      if (row[i] > row[best]) best = int32_t(i);
    }
    out[size_t(r)] = best;
  }
  return out;
}

}  // namespace cpu
}  // namespace glimpse::ops
