// Bounds on the work one render may do, counted without clocks so that a hostile template fails
// the same way every time: a step budget (expression evaluations, loop iterations, bytes built),
// a nesting depth (macro recursion, deeply nested expressions) and a size cap on the output and on
// any single string or list a template builds.
#pragma once

#include <cstddef>
#include <cstdint>

namespace glimpse::io::jinja {

struct Limits {
  uint64_t max_steps = 200'000'000;
  size_t max_bytes = size_t{64} << 20;  // output, and any one value built while rendering
  int max_depth = 400;                  // nested evaluations (expressions, blocks, macro calls)
  int max_parse_depth = 120;            // nested expressions/statements in the source
};

class Budget {
 public:
  explicit Budget(const Limits& limits) : limits_(limits) {}
  const Limits& limits() const { return limits_; }
  // Charges `units` steps; throws Error (kLimitExceeded) once the budget is spent.
  void step(uint64_t units = 1);
  // Throws Error (kLimitExceeded) if a value of `bytes` (or elements) would exceed max_bytes;
  // also charges the work of building it.
  void charge_size(size_t bytes);
  // The size check alone, for values that grow piece by piece (charge the total at the end).
  void check_size(size_t bytes) const;
  void enter();  // throws Error (kLimitExceeded) beyond max_depth
  void leave() { --depth_; }

 private:
  Limits limits_;
  uint64_t steps_ = 0;
  int depth_ = 0;
};

}  // namespace glimpse::io::jinja
