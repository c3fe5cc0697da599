#include "server/api_error.h"

namespace glimpse::server {

nlohmann::json ApiError::to_json() const {
  nlohmann::json body = {
      {"message", message}, {"type", type}, {"param", nullptr}, {"code", nullptr}};
  if (!param.empty()) body["param"] = param;
  if (!code.empty()) body["code"] = code;
  return {{"error", body}};
}

void reject(std::string param, std::string message, int status, std::string code) {
  ApiError e;
  e.status = status;
  e.param = std::move(param);
  e.message = std::move(message);
  e.code = std::move(code);
  throw ApiException(std::move(e));
}

ApiError api_error_from(const Error& error) {
  ApiError e;
  e.message = error.what();
  switch (error.kind()) {
    case ErrorKind::kLimitExceeded:  // pixels, bytes or images over a configured bound
      e.status = 413;
      e.code = "payload_too_large";
      break;
    case ErrorKind::kInvalidArgument:
    case ErrorKind::kCorrupt:
    case ErrorKind::kNotFound:
      e.status = 400;
      break;
    case ErrorKind::kUnsupported:
      e.status = 422;
      e.code = "unsupported";
      break;
    case ErrorKind::kIo:
    case ErrorKind::kInternal:
      e.status = 500;
      e.type = "server_error";
      break;
  }
  return e;
}

}  // namespace glimpse::server
