#include "server/http_server.h"

#include <httplib.h>
#include <signal.h>

#include <atomic>
#include <thread>

#include "server/api_error.h"
#include "server/web_ui.h"

namespace glimpse::server {
namespace {

using Json = nlohmann::ordered_json;

void send_json(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void send_error(httplib::Response& res, const ApiError& error) {
  send_json(res, error.status, error.to_json());
}

Json parse_body(const httplib::Request& req) {
  try {
    return Json::parse(req.body);
  } catch (const Json::parse_error& e) {
    reject("", std::string("the request body is not valid JSON: ") + e.what(), 400, "invalid_json");
  }
}

}  // namespace

struct HttpServer::Impl {
  Service& service;
  HttpOptions options;
  httplib::Server http;
  std::atomic<bool> stopping{false};
  std::thread loader, signal_waiter;
  int bound_port = 0;

  Impl(Service& s, HttpOptions o) : service(s), options(std::move(o)) {}

  bool authorized(const httplib::Request& req) const {
    if (options.api_key.empty()) return true;
    return req.get_header_value("Authorization") == "Bearer " + options.api_key;
  }

  // Runs a JSON endpoint: parse, call, answer; every failure becomes OpenAI error JSON.
  template <typename Fn>
  void json_endpoint(const httplib::Request& req, httplib::Response& res, Fn&& fn) {
    try {
      send_json(res, 200, fn(parse_body(req)));
    } catch (const ApiException& e) {
      send_error(res, e.error);
    } catch (const Error& e) {
      send_error(res, api_error_from(e));
    }
  }

  // Chat and text completions: streaming requests answer with SSE, the rest with one JSON body.
  template <typename Blocking, typename Streaming>
  void completion_endpoint(const httplib::Request& req, httplib::Response& res, Blocking&& blocking,
                           Streaming&& streaming) {
    try {
      Json body = parse_body(req);
      if (!service.wants_stream(body)) {
        send_json(res, 200, blocking(body));
        return;
      }
      StreamHandle handle = streaming(body);
      res.set_header("Cache-Control", "no-cache");
      res.set_header("X-Accel-Buffering", "no");
      res.set_chunked_content_provider(
          "text/event-stream; charset=utf-8",
          [handle, this](size_t, httplib::DataSink& sink) {
            for (;;) {
              std::optional<std::string> payload =
                  handle.channel->pop(std::chrono::milliseconds(250));
              if (!payload) {  // nothing new: check the client is still there
                if (!sink.is_writable()) return false;
                continue;
              }
              if (payload->empty()) {
                sink.done();
                return true;
              }
              const std::string event = "data: " + *payload + "\n\n";
              if (!sink.write(event.data(), event.size())) return false;
              return true;
            }
          },
          [handle](bool success) {
            if (!success) handle.cancel();  // the client went away: free its KV blocks now
          });
    } catch (const ApiException& e) {
      send_error(res, e.error);
    } catch (const Error& e) {
      send_error(res, api_error_from(e));
    }
  }

  void routes() {
    http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      const bool open = req.path == "/" || req.path == "/health" || req.path == "/ready" ||
                        req.path == "/metrics" || req.path.rfind("/ui/", 0) == 0;
      if (!open && !authorized(req)) {
        send_error(res,
                   ApiError{401, "missing or wrong API key (send 'Authorization: Bearer <key>')",
                            "authentication_error", "", "invalid_api_key"});
        return httplib::Server::HandlerResponse::Handled;
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });
    http.set_post_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      service.metrics().add("glimpse_requests_total", 1,
                            {{"path", req.path}, {"status", std::to_string(res.status)}});
    });
    http.set_error_handler([](const httplib::Request&, httplib::Response& res) {
      if (!res.body.empty()) return;
      ApiError e;
      e.status = res.status;
      if (res.status == 404) {
        e.message = "no such endpoint";
        e.code = "not_found";
      } else if (res.status == 413) {
        e.message = "the request body is larger than the server's --max-body";
        e.code = "payload_too_large";
      } else {
        e.message = "HTTP error " + std::to_string(res.status);
      }
      send_error(res, e);
    });
    http.set_exception_handler(
        [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
          ApiError e{500, "internal error", "server_error", "", ""};
          try {
            std::rethrow_exception(ep);
          } catch (const std::exception& ex) {
            e.message = std::string("internal error: ") + ex.what();
          } catch (...) {
          }
          send_error(res, e);
        });

    http.Get("/health", [](const httplib::Request&, httplib::Response& res) {
      send_json(res, 200, Json{{"status", "ok"}});
    });
    http.Get("/ready", [this](const httplib::Request&, httplib::Response& res) {
      if (service.ready() && !stopping)
        send_json(res, 200, Json{{"status", "ready"}, {"model", service.model_name()}});
      else
        send_error(res, ApiError{503, stopping ? "shutting down" : "the model is still loading",
                                 "service_unavailable", "", "not_ready"});
    });
    http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(service.metrics_text(), "text/plain; version=0.0.4");
    });
    http.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
      send_json(res, 200, service.models());
    });
    http.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
      completion_endpoint(
          req, res, [this](const Json& b) { return service.chat_completion(b); },
          [this](const Json& b) { return service.chat_completion_stream(b); });
    });
    http.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
      completion_endpoint(
          req, res, [this](const Json& b) { return service.completion(b); },
          [this](const Json& b) { return service.completion_stream(b); });
    });
    http.Post("/tokenize", [this](const httplib::Request& req, httplib::Response& res) {
      json_endpoint(req, res, [this](const Json& b) { return service.tokenize(b); });
    });
    http.Post("/detokenize", [this](const httplib::Request& req, httplib::Response& res) {
      json_endpoint(req, res, [this](const Json& b) { return service.detokenize(b); });
    });
    http.Get("/", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(std::string(web_ui_html()), "text/html; charset=utf-8");
    });
  }
};

HttpServer::HttpServer(Service& service, HttpOptions options)
    : impl_(std::make_unique<Impl>(service, std::move(options))) {
  auto& http = impl_->http;
  const int threads = impl_->options.http_threads;
  http.new_task_queue = [threads] { return new httplib::ThreadPool(size_t(threads)); };
  http.set_payload_max_length(impl_->options.max_body_bytes);
  http.set_read_timeout(impl_->options.read_timeout.count(), 0);
  http.set_write_timeout(impl_->options.write_timeout.count(), 0);
  impl_->routes();
}

HttpServer::~HttpServer() {
  stop();
  if (impl_->loader.joinable()) impl_->loader.join();
  if (impl_->signal_waiter.joinable()) impl_->signal_waiter.join();
}

int HttpServer::port() const {
  return impl_->bound_port;
}

void HttpServer::stop() {
  if (impl_->stopping.exchange(true)) return;
  // Drain first (new requests get 503, in-flight ones finish or fail), then close the listener.
  impl_->service.drain(impl_->options.shutdown_timeout);
  impl_->http.stop();
}

namespace {

// SIGTERM/SIGINT: the handler only records the signal; a watcher thread acts on it. (Blocking the
// signals instead cannot work: libraries such as OpenBLAS start threads before main.)
std::atomic<int> g_signal{0};
extern "C" void record_signal(int signal) {
  g_signal.store(signal);
}

}  // namespace

int HttpServer::run() {
  struct sigaction action {};
  action.sa_handler = record_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);

  auto& opts = impl_->options;
  if (opts.port == 0) {
    impl_->bound_port = impl_->http.bind_to_any_port(opts.host);
  } else if (impl_->http.bind_to_port(opts.host, opts.port)) {
    impl_->bound_port = opts.port;
  }
  if (impl_->bound_port <= 0)
    fail(ErrorKind::kIo, "cannot listen on {}:{} (in use?)", opts.host, opts.port);
  std::fprintf(stderr, "glimpse: serving on http://%s:%d (web UI at /, OpenAI API at /v1)\n",
               opts.host.c_str(), impl_->bound_port);

  std::atomic<int> load_exit{kExitOk};  // the exit code of a failed load (by its error kind)
  impl_->loader = std::thread([this, &load_exit] {
    try {
      impl_->service.load();
      std::fprintf(stderr, "glimpse: model '%s' loaded; ready\n",
                   impl_->service.model_name().c_str());
    } catch (const Error& e) {
      std::fprintf(stderr, "glimpse: %s: %s\n", to_string(e.kind()), e.what());
      load_exit = exit_code_for(e.kind());
      stop();
    }
  });
  impl_->signal_waiter = std::thread([this] {
    while (!impl_->stopping) {
      const int signal = g_signal.exchange(0);
      if (signal == SIGTERM || signal == SIGINT) {
        std::fprintf(stderr, "glimpse: %s received, draining\n",
                     signal == SIGTERM ? "SIGTERM" : "SIGINT");
        stop();
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  impl_->http.listen_after_bind();
  impl_->stopping = true;
  if (impl_->loader.joinable()) impl_->loader.join();
  if (impl_->signal_waiter.joinable()) impl_->signal_waiter.join();
  return load_exit;
}

}  // namespace glimpse::server
