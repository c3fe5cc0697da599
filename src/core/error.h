// The one error type of glimpse: a message that names what was wrong and where, and a kind that
// decides the process exit code (docs/ARCHITECTURE.md lists them).
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace glimpse {

enum class ErrorKind {
  kInvalidArgument,  // a request or command line asked for something impossible
  kNotFound,         // a file, tensor or field that must exist does not
  kCorrupt,          // a file exists but its bytes do not match its format
  kUnsupported,      // well-formed, but a feature glimpse does not implement
  kLimitExceeded,    // larger than a configured bound (pixels, context, body size)
  kIo,               // the operating system refused (open, read, mmap)
  kInternal,         // a bug in glimpse
};

const char* to_string(ErrorKind kind);

// Process exit codes; stable, documented in README.md.
enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,  // the command ran but its verdict failed (e.g. an SLA)
  kExitUsage = 2,    // bad command line
  kExitInput = 3,    // bad input: model directory, image, messages file
  kExitUnsupported = 4,
  kExitInternal = 5,
};

int exit_code_for(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string message)
      : std::runtime_error(std::move(message)), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

template <typename... Args>
[[noreturn]] void fail(ErrorKind kind, fmt::format_string<Args...> format, Args&&... args) {
  throw Error(kind, fmt::format(format, std::forward<Args>(args)...));
}

// Prefixes the message of any glimpse::Error thrown by fn with context ("model.safetensors: ...").
template <typename Fn>
decltype(auto) with_context(const std::string& context, Fn&& fn) {
  try {
    return fn();
  } catch (const Error& e) {
    throw Error(e.kind(), context + ": " + e.what());
  }
}

}  // namespace glimpse

// Internal invariant; a failure is a glimpse bug, reported as an Error, never UB.
#define GLIMPSE_ASSERT(cond)                                                                       \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      ::glimpse::fail(::glimpse::ErrorKind::kInternal, "internal check failed: {} ({}:{})", #cond, \
                      __FILE__, __LINE__);                                                         \
  } while (0)
