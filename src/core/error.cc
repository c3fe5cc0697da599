#include "core/error.h"

namespace glimpse {

const char* to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidArgument:
      return "invalid argument";
    case ErrorKind::kNotFound:
      return "not found";
    case ErrorKind::kCorrupt:
      return "corrupt input";
    case ErrorKind::kUnsupported:
      return "unsupported";
    case ErrorKind::kLimitExceeded:
      return "limit exceeded";
    case ErrorKind::kIo:
      return "I/O error";
    case ErrorKind::kInternal:
      return "internal error";
  }
  return "error";
}

int exit_code_for(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kUnsupported:
      return kExitUnsupported;
    case ErrorKind::kInternal:
      return kExitInternal;
    default:
      return kExitInput;
  }
}

}  // namespace glimpse
