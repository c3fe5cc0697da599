// The HTTP/1.1 transport (cpp-httplib): routes, bearer-token auth, body limits, timeouts against
// slow clients, SSE streaming with cancellation on disconnect, the embedded web UI, and graceful
// shutdown on SIGTERM/SIGINT.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "server/service.h"

namespace glimpse::server {

struct HttpOptions {
  std::string host = "127.0.0.1";
  int port = 7860;
  std::string api_key;  // empty: no auth
  size_t max_body_bytes = 20u << 20;
  int http_threads = 256;  // concurrent connections served
  std::chrono::seconds read_timeout{30}, write_timeout{30};
  std::chrono::milliseconds shutdown_timeout{10000};
};

class HttpServer {
 public:
  HttpServer(Service& service, HttpOptions options);
  ~HttpServer();

  // Binds, loads the model in the background (/health answers at once, /ready once loaded), and
  // serves until SIGTERM/SIGINT or stop(); then stops accepting, drains in-flight requests within
  // the shutdown timeout and returns 0. Throws Error(kIo) when the port cannot be bound.
  int run();
  void stop();       // from any thread
  int port() const;  // the bound port (useful with port 0)

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace glimpse::server
