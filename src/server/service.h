// The OpenAI-compatible service behind the HTTP server: builds prompts on the caller's thread,
// submits them to the scheduler and turns engine events into response JSON. It knows requests
// and responses, not sockets; http_server.cc is the transport.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/scheduler.h"
#include "io/prompt.h"
#include "model/glm4v.h"
#include "server/metrics.h"
#include "server/openai_request.h"

namespace glimpse::server {

struct ServiceOptions {
  std::string model_dir;
  model::LoadOptions load;  // device and weight dtype
  std::string served_model_name;  // the id in /v1/models; default: the directory's name
  engine::SchedulerOptions scheduler;
  io::MediaPolicy media;
};

// What the transport reads from a streaming request: SSE `data:` payloads, in order.
class EventChannel {
 public:
  void push(std::string payload);
  void close();
  // Waits up to `timeout` for the next payload; nullopt on timeout, "" once closed and drained.
  std::optional<std::string> pop(std::chrono::milliseconds timeout);

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::string> payloads_;
  bool closed_ = false;
};

// A submitted streaming request: the transport drains `channel` and calls cancel() if the client
// goes away.
struct StreamHandle {
  std::shared_ptr<EventChannel> channel;
  std::function<void()> cancel;
};

class Service {
 public:
  explicit Service(ServiceOptions options);
  ~Service();

  // Loads the model (slow); until it returns, ready() is false and requests get 503.
  void load();
  bool ready() const { return ready_.load(); }
  void drain(std::chrono::milliseconds timeout);  // stop admitting, finish or fail in-flight work

  // Throw ApiException for bad requests (status and field named).
  nlohmann::ordered_json chat_completion(const nlohmann::ordered_json& body);
  StreamHandle chat_completion_stream(const nlohmann::ordered_json& body);
  nlohmann::ordered_json completion(const nlohmann::ordered_json& body);
  StreamHandle completion_stream(const nlohmann::ordered_json& body);
  nlohmann::ordered_json models() const;
  nlohmann::ordered_json tokenize(const nlohmann::ordered_json& body) const;
  nlohmann::ordered_json detokenize(const nlohmann::ordered_json& body) const;
  std::string metrics_text();
  bool wants_stream(const nlohmann::ordered_json& body) const;

  Metrics& metrics() { return metrics_; }
  const std::string& model_name() const { return options_.served_model_name; }

  struct Submitted;  // one request in flight (service.cc)

 private:
  // Parses, validates, builds the prompt and submits a (chat) completion request.
  std::shared_ptr<Submitted> start(const nlohmann::ordered_json& body, bool chat);
  StreamHandle stream_handle(std::shared_ptr<Submitted> state);
  engine::GenerationParams generation_params(const GenerationOptions& options) const;
  void check_model(const std::string& requested) const;
  void check_ready() const;
  // Submits a built prompt; `on_event` gets every token and the final result (on the engine
  // thread).
  void submit(io::Prompt prompt, const GenerationOptions& options, double preprocess_ms,
              std::shared_ptr<Submitted> state);
  void record_finish(const engine::GenerationResult& result);
  io::Prompt build_chat_prompt(const ChatCompletionRequest& request, double* preprocess_ms) const;
  io::Prompt build_text_prompt(const CompletionRequest& request, double* preprocess_ms) const;

  ServiceOptions options_;
  std::unique_ptr<model::Glm4vModel> model_;
  std::unique_ptr<io::PromptBuilder> prompts_;
  std::unique_ptr<engine::Scheduler> scheduler_;
  std::atomic<bool> ready_{false}, draining_{false};
  Metrics metrics_;
};

}  // namespace glimpse::server
