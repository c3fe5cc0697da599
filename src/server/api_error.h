// An error answered to an HTTP client as OpenAI error JSON:
// {"error": {"message", "type", "param", "code"}} with a status code.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace glimpse::server {

struct ApiError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // the request field at fault, "" when none
  std::string code;   // machine-readable reason, "" when none

  nlohmann::json to_json() const;
};

// 400 with the field at fault: the request is well-formed JSON but a value is wrong.
[[noreturn]] void reject(std::string param, std::string message, int status = 400,
                         std::string code = "");

// Maps an engine/io error (bad image, prompt over the context, ...) to the status it deserves.
ApiError api_error_from(const Error& error);

// Thrown by reject(); carries the ApiError to the HTTP layer.
struct ApiException : std::exception {
  explicit ApiException(ApiError e) : error(std::move(e)) {}
  const char* what() const noexcept override { return error.message.c_str(); }
  ApiError error;
};

}  // namespace glimpse::server
