#include "server/service.h"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>

#include "engine/completion_json.h"
#include "engine/generator.h"
#include "io/tokenizer.h"
#include "server/api_error.h"

namespace glimpse::server {
namespace {

using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

}  // namespace

void EventChannel::push(std::string payload) {
  {
    std::lock_guard lock(mutex_);
    payloads_.push_back(std::move(payload));
  }
  ready_.notify_one();
}

void EventChannel::close() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  ready_.notify_all();
}

std::optional<std::string> EventChannel::pop(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  if (!ready_.wait_for(lock, timeout, [&] { return closed_ || !payloads_.empty(); }))
    return std::nullopt;
  if (payloads_.empty()) return std::string();
  std::string next = std::move(payloads_.front());
  payloads_.pop_front();
  return next;
}

// One request in flight. Streaming requests write SSE payloads to `channel`; the others wait for
// `result` or `error`.
struct Service::Submitted {
  bool chat = true, stream = false, include_usage = false;
  std::string id, model;
  int64_t created = 0;
  const io::Tokenizer* tokenizer = nullptr;
  std::shared_ptr<EventChannel> channel;
  uint64_t request_id = 0;
  bool sent_role = false;

  std::mutex mutex;
  std::condition_variable done;
  std::optional<engine::GenerationResult> result;
  std::optional<Error> error;

  Json chunk(Json delta_or_text, Json logprobs, Json finish_reason) const {
    Json choice{{"index", 0}};
    if (chat)
      choice["delta"] = std::move(delta_or_text);
    else
      choice["text"] = std::move(delta_or_text);
    choice["logprobs"] = std::move(logprobs);
    choice["finish_reason"] = std::move(finish_reason);
    return Json{{"id", id},
                {"object", chat ? "chat.completion.chunk" : "text_completion"},
                {"created", created},
                {"model", model},
                {"choices", Json::array({std::move(choice)})}};
  }
};

Service::Service(ServiceOptions options) : options_(std::move(options)) {
  if (options_.served_model_name.empty())
    options_.served_model_name =
        std::filesystem::path(options_.model_dir).lexically_normal().filename().string();
  metrics_.declare_counter("glimpse_requests_total", "HTTP requests by endpoint and status code.");
  metrics_.declare_counter("glimpse_prompt_tokens_total",
                           "Prompt tokens prefilled (prefix-cache hits excluded).");
  metrics_.declare_counter("glimpse_generated_tokens_total", "Tokens generated.");
  metrics_.declare_counter("glimpse_image_cache_hits_total",
                           "Images whose embeddings came from the cache.");
  metrics_.declare_counter("glimpse_image_cache_misses_total",
                           "Images run through the vision tower.");
  metrics_.declare_counter("glimpse_prefix_cache_hit_tokens_total",
                           "Prompt tokens reused from the prefix cache.");
  metrics_.declare_counter("glimpse_preemptions_total", "Requests preempted for KV-cache space.");
  metrics_.declare_gauge("glimpse_requests_running", "Requests being generated.");
  metrics_.declare_gauge("glimpse_requests_waiting", "Requests queued for admission.");
  metrics_.declare_gauge("glimpse_kv_cache_blocks_total", "KV-cache blocks in the pool.");
  metrics_.declare_gauge("glimpse_kv_cache_blocks_used", "KV-cache blocks held by requests.");
  metrics_.declare_gauge("glimpse_kv_cache_usage_ratio",
                         "Fraction of KV-cache blocks held by requests.");
  const auto buckets = latency_buckets();
  metrics_.declare_histogram("glimpse_time_to_first_token_seconds",
                             "Request arrival to first token.", buckets);
  metrics_.declare_histogram("glimpse_time_per_output_token_seconds",
                             "Mean time per token after the first.",
                             {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1});
  metrics_.declare_histogram("glimpse_e2e_request_latency_seconds",
                             "Request arrival to last token.", buckets);
  metrics_.declare_histogram("glimpse_request_queue_time_seconds", "Time waiting for admission.",
                             buckets);
}

Service::~Service() = default;

void Service::load() {
  model_ = model::Glm4vModel::load(options_.model_dir, options_.load);
  prompts_ = std::make_unique<io::PromptBuilder>(options_.model_dir);
  prompts_->set_pixel_form(engine::pixel_form_for(*model_));
  scheduler_ =
      std::make_unique<engine::Scheduler>(*model_, prompts_->tokenizer(), options_.scheduler);
  ready_ = true;
}

void Service::drain(std::chrono::milliseconds timeout) {
  draining_ = true;
  if (scheduler_) scheduler_->drain(timeout);
}

void Service::check_ready() const {
  if (draining_) reject("", "the server is shutting down", 503, "shutting_down");
  if (!ready_) reject("", "the model is still loading", 503, "not_ready");
}

void Service::check_model(const std::string& requested) const {
  if (!requested.empty() && requested != options_.served_model_name)
    reject("model",
           fmt::format("the model '{}' does not exist; this server serves '{}'", requested,
                       options_.served_model_name),
           404, "model_not_found");
}

bool Service::wants_stream(const Json& body) const {
  auto it = body.is_object() ? body.find("stream") : body.end();
  return it != body.end() && it->is_boolean() && it->get<bool>();
}

engine::GenerationParams Service::generation_params(const GenerationOptions& options) const {
  engine::GenerationParams params;
  params.sampling = options.sampling;
  params.max_tokens = options.max_tokens;
  params.stop = options.stop;
  params.ignore_eos = options.ignore_eos;
  return params;
}

io::Prompt Service::build_chat_prompt(const ChatCompletionRequest& request,
                                      double* preprocess_ms) const {
  const auto start = Clock::now();
  io::Prompt prompt = prompts_->build(request.prompt, options_.media);
  *preprocess_ms = ms_since(start);
  return prompt;
}

io::Prompt Service::build_text_prompt(const CompletionRequest& request,
                                      double* preprocess_ms) const {
  const auto start = Clock::now();
  io::Prompt prompt;
  prompt.text = request.prompt;
  prompt.ids = prompts_->tokenizer().encode(request.prompt);
  if (prompt.ids.empty()) reject("prompt", "'prompt' must not be empty");
  *preprocess_ms = ms_since(start);
  return prompt;
}

void Service::record_finish(const engine::GenerationResult& result) {
  const auto& t = result.timings;
  metrics_.observe("glimpse_time_to_first_token_seconds", t.ttft_ms / 1e3);
  metrics_.observe("glimpse_e2e_request_latency_seconds", t.total_ms / 1e3);
  metrics_.observe("glimpse_request_queue_time_seconds", t.queue_ms / 1e3);
  if (auto per_token = t.decode_ms_per_token())
    metrics_.observe("glimpse_time_per_output_token_seconds", *per_token / 1e3);
}

void Service::submit(io::Prompt prompt, const GenerationOptions& options, double preprocess_ms,
                     std::shared_ptr<Submitted> state) {
  const int64_t limit = scheduler_->context_limit();
  if (int64_t(prompt.ids.size()) >= limit)
    reject(state->chat ? "messages" : "prompt",
           fmt::format(
               "the prompt has {} tokens; the model's context is {} tokens and needs room for at "
               "least one generated token",
               prompt.ids.size(), limit),
           400, "context_length_exceeded");
  state->tokenizer = &prompts_->tokenizer();
  engine::RequestCallbacks callbacks;
  if (state->stream) {
    callbacks.on_token = [state](const engine::TokenEvent& event) {
      if (state->chat && !state->sent_role) {
        state->channel->push(
            state->chunk(Json{{"role", "assistant"}, {"content", ""}}, nullptr, nullptr).dump());
        state->sent_role = true;
      }
      Json logprobs = nullptr;
      if (event.logprobs)
        logprobs =
            Json{{"content",
                  Json::array({engine::token_logprobs_json(*event.logprobs, *state->tokenizer)})}};
      if (!event.text.empty() || event.logprobs)
        state->channel->push(
            state
                ->chunk(state->chat ? Json{{"content", event.text}} : Json(event.text),
                        std::move(logprobs), nullptr)
                .dump());
    };
    callbacks.on_finish = [this, state](engine::GenerationResult&& result) {
      record_finish(result);
      state->channel->push(state
                               ->chunk(state->chat ? Json::object() : Json(""), nullptr,
                                       engine::to_string(result.finish_reason))
                               .dump());
      if (state->include_usage) {
        Json usage = state->chunk(Json::object(), nullptr, nullptr);
        usage["choices"] = Json::array();
        usage["usage"] = engine::usage_json(result);
        usage["timings"] = engine::timings_json(result.timings);
        state->channel->push(usage.dump());
      }
      state->channel->push("[DONE]");
      state->channel->close();
    };
    callbacks.on_error = [state](const Error& error) {
      state->channel->push(api_error_from(error).to_json().dump());
      state->channel->push("[DONE]");
      state->channel->close();
    };
  } else {
    callbacks.on_finish = [this, state](engine::GenerationResult&& result) {
      record_finish(result);
      std::lock_guard lock(state->mutex);
      state->result = std::move(result);
      state->done.notify_all();
    };
    callbacks.on_error = [state](const Error& error) {
      std::lock_guard lock(state->mutex);
      state->error = error;
      state->done.notify_all();
    };
  }
  std::optional<uint64_t> id;
  try {
    id = scheduler_->submit(std::move(prompt), generation_params(options), std::move(callbacks),
                            preprocess_ms);
  } catch (const Error& e) {
    throw ApiException(api_error_from(e));
  }
  if (!id) {
    if (draining_) reject("", "the server is shutting down", 503, "shutting_down");
    reject("", "the request queue is full; retry later", 429, "queue_full");
  }
  state->request_id = *id;
}

namespace {

engine::GenerationResult wait_for(Service::Submitted& state) {
  std::unique_lock lock(state.mutex);
  state.done.wait(lock, [&] { return state.result || state.error; });
  if (state.error) throw ApiException(api_error_from(*state.error));
  return std::move(*state.result);
}

}  // namespace

std::shared_ptr<Service::Submitted> Service::start(const Json& body, bool chat) {
  std::optional<ChatCompletionRequest> chat_request;
  std::optional<CompletionRequest> text_request;
  if (chat)
    chat_request = parse_chat_completion(body);
  else
    text_request = parse_completion(body);
  const GenerationOptions& options = chat ? chat_request->options : text_request->options;
  check_model(chat ? chat_request->model : text_request->model);
  check_ready();

  auto state = std::make_shared<Submitted>();
  state->chat = chat;
  state->stream = options.stream;
  state->include_usage = options.include_usage;
  state->id = chat ? engine::new_completion_id() : "cmpl-" + engine::new_completion_id().substr(9);
  state->model = options_.served_model_name;
  state->created = unix_now();
  if (state->stream) state->channel = std::make_shared<EventChannel>();
  double preprocess_ms = 0;
  try {
    io::Prompt prompt = chat ? build_chat_prompt(*chat_request, &preprocess_ms)
                             : build_text_prompt(*text_request, &preprocess_ms);
    submit(std::move(prompt), options, preprocess_ms, state);
  } catch (const Error& e) {
    throw ApiException(api_error_from(e));
  }
  return state;
}

StreamHandle Service::stream_handle(std::shared_ptr<Submitted> state) {
  engine::Scheduler* scheduler = scheduler_.get();
  return {state->channel, [scheduler, state] { scheduler->cancel(state->request_id); }};
}

Json Service::chat_completion(const Json& body) {
  auto state = start(body, true);
  return engine::chat_completion_json(wait_for(*state), prompts_->tokenizer(),
                                      {state->id, state->model, state->created});
}

StreamHandle Service::chat_completion_stream(const Json& body) {
  return stream_handle(start(body, true));
}

Json Service::completion(const Json& body) {
  auto state = start(body, false);
  const engine::GenerationResult result = wait_for(*state);
  Json chat = engine::chat_completion_json(result, prompts_->tokenizer(),
                                           {state->id, state->model, state->created});
  Json choice{{"index", 0},
              {"text", result.text},
              {"logprobs", chat["choices"][0]["logprobs"]},
              {"finish_reason", engine::to_string(result.finish_reason)}};
  return Json{
      {"id", state->id},           {"object", "text_completion"},      {"created", state->created},
      {"model", state->model},     {"choices", Json::array({choice})}, {"usage", chat["usage"]},
      {"timings", chat["timings"]}};
}

StreamHandle Service::completion_stream(const Json& body) {
  return stream_handle(start(body, false));
}

Json Service::models() const {
  Json model{{"id", options_.served_model_name},
             {"object", "model"},
             {"created", unix_now()},
             {"owned_by", "glimpse"}};
  if (ready_) model["max_model_len"] = scheduler_->context_limit();
  return Json{{"object", "list"}, {"data", Json::array({model})}};
}

Json Service::tokenize(const Json& body) const {
  check_ready();
  if (!body.is_object()) reject("", "the request body must be a JSON object");
  std::vector<int32_t> ids;
  try {
    if (body.contains("messages")) {
      ChatCompletionRequest request = parse_chat_completion(body);
      ids = prompts_->build(request.prompt, options_.media).ids;
    } else {
      auto prompt = body.find("prompt");
      if (prompt == body.end() || !prompt->is_string())
        reject("prompt", "'prompt' (a string) or 'messages' is required");
      ids = prompts_->tokenizer().encode(prompt->get<std::string>());
    }
  } catch (const Error& e) {
    throw ApiException(api_error_from(e));
  }
  return Json{
      {"count", ids.size()}, {"max_model_len", scheduler_->context_limit()}, {"tokens", ids}};
}

Json Service::detokenize(const Json& body) const {
  check_ready();
  auto tokens = body.is_object() ? body.find("tokens") : body.end();
  if (tokens == body.end() || !tokens->is_array())
    reject("tokens", "'tokens' (an array of token ids) is required");
  std::vector<int32_t> ids;
  const int64_t vocab = prompts_->tokenizer().vocab_size();
  for (const auto& t : *tokens) {
    if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= vocab)
      reject("tokens", fmt::format("'tokens' must hold token ids in [0, {})", vocab), 400);
    ids.push_back(t.get<int32_t>());
  }
  return Json{{"prompt", prompts_->tokenizer().decode(ids)}};
}

std::string Service::metrics_text() {
  if (scheduler_) {
    const engine::SchedulerStats s = scheduler_->stats();
    metrics_.set("glimpse_requests_running", double(s.running));
    metrics_.set("glimpse_requests_waiting", double(s.waiting));
    metrics_.set("glimpse_kv_cache_blocks_total", double(s.kv_blocks_total));
    metrics_.set("glimpse_kv_cache_blocks_used", double(s.kv_blocks_held));
    metrics_.set("glimpse_kv_cache_usage_ratio",
                 s.kv_blocks_total ? double(s.kv_blocks_held) / double(s.kv_blocks_total) : 0.0);
    metrics_.set("glimpse_prompt_tokens_total", double(s.prompt_tokens));
    metrics_.set("glimpse_generated_tokens_total", double(s.generated_tokens));
    metrics_.set("glimpse_image_cache_hits_total", double(s.image_cache_hits));
    metrics_.set("glimpse_image_cache_misses_total", double(s.image_cache_misses));
    metrics_.set("glimpse_prefix_cache_hit_tokens_total", double(s.prefix_cache_hit_tokens));
    metrics_.set("glimpse_preemptions_total", double(s.preemptions));
  }
  return metrics_.render();
}

}  // namespace glimpse::server
