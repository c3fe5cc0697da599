#include "io/jinja/budget.h"

#include "core/error.h"

namespace glimpse::io::jinja {

void Budget::step(uint64_t units) {
  steps_ += units;
  if (steps_ > limits_.max_steps)
    fail(ErrorKind::kLimitExceeded, "template exceeded its work budget of {} steps",
         limits_.max_steps);
}

void Budget::check_size(size_t bytes) const {
  if (bytes > limits_.max_bytes)
    fail(ErrorKind::kLimitExceeded, "template built a value of {} bytes, over the limit of {}",
         bytes, limits_.max_bytes);
}

void Budget::charge_size(size_t bytes) {
  check_size(bytes);
  step(1 + bytes / 64);
}

void Budget::enter() {
  if (++depth_ > limits_.max_depth) {
    --depth_;
    fail(ErrorKind::kLimitExceeded, "template nesting or recursion deeper than {}",
         limits_.max_depth);
  }
}

}  // namespace glimpse::io::jinja
