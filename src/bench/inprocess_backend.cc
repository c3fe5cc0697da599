#include "bench/inprocess_backend.h"

#include <chrono>
#include <future>

#include "bench/synthetic_image.h"
#include "core/error.h"

namespace glimpse::bench {
namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

}  // namespace

InProcessBackend::InProcessBackend(const std::string& model_dir, RequestShape shape,
                                   EngineSetup setup)
    : shape_(std::move(shape)), setup_(setup), prompts_(model_dir) {
  const auto start = Clock::now();
  model_ = model::Glm4vModel::load(model_dir, setup_.load);
  load_ms_ = ms_between(start, Clock::now());
  prompts_.set_pixel_form(engine::pixel_form_for(*model_));
  params_.sampling = engine::default_sampling(model_->config().generation);
  if (shape_.temperature) params_.sampling.temperature = *shape_.temperature;
  if (shape_.top_p) params_.sampling.top_p = *shape_.top_p;
  engine::validate(params_.sampling);
  params_.max_tokens = shape_.max_tokens;
  params_.ignore_eos = shape_.ignore_eos;
}

InProcessBackend::~InProcessBackend() = default;

io::PromptRequest InProcessBackend::request_for(const PointSpec& point) const {
  io::PromptRequest request;
  request.messages = nlohmann::ordered_json::array(
      {{{"role", "user"},
        {"content",
         {{{"type", "image_url"}, {"image_url", {{"url", data_url(point.image, point.mime)}}}},
          {{"type", "text"}, {"text", shape_.prompt}}}}}});
  return request;
}

void InProcessBackend::begin_point(const PointSpec& point) {
  scheduler_.reset();  // a fresh scheduler: its KV blocks, prefix and image caches start empty
  engine::SchedulerOptions options;
  options.kv_cache_bytes = setup_.kv_cache_bytes;
  options.max_step_tokens = setup_.max_step_tokens;
  options.max_running = std::max<int64_t>(options.max_running, point.concurrency);
  if (shape_.cold_cache) {
    options.prefix_caching = false;
    options.image_cache_bytes = 0;
  }
  scheduler_ = std::make_unique<engine::Scheduler>(*model_, prompts_.tokenizer(), options);
  point_ = point;
  if (!shape_.include_preprocess)
    prepared_ = prompts_.build(request_for(point_), io::MediaPolicy{});
}

RequestSample InProcessBackend::submit_and_wait(io::Prompt prompt, double preprocess_ms) const {
  struct Seen {
    Clock::time_point start, last;
    std::optional<Clock::time_point> first;
    RequestSample sample;
    std::promise<void> done;  // shared, so it outlives the engine thread's last use of it
  };
  auto seen = std::make_shared<Seen>();
  auto finished = seen->done.get_future();
  engine::RequestCallbacks callbacks;
  callbacks.on_token = [seen](const engine::TokenEvent&) {
    const auto now = Clock::now();
    if (seen->first)
      seen->sample.itl_ms.push_back(ms_between(seen->last, now));
    else
      seen->first = now;
    seen->last = now;
  };
  callbacks.on_finish = [seen](engine::GenerationResult&& result) {
    const auto& t = result.timings;
    seen->sample.queue_ms = t.queue_ms;
    seen->sample.vision_ms = t.vision_ms;
    seen->sample.prefill_ms = t.prefill_ms;
    seen->sample.output_tokens = int64_t(result.tokens.size());
    seen->done.set_value();
  };
  callbacks.on_error = [seen](const Error& error) {
    seen->done.set_exception(std::make_exception_ptr(error));
  };
  seen->start = Clock::now();
  if (!scheduler_->submit(std::move(prompt), params_, std::move(callbacks)))
    fail(ErrorKind::kLimitExceeded, "the engine's waiting queue is full; lower --concurrency");
  finished.get();
  RequestSample sample = std::move(seen->sample);
  if (!seen->first) fail(ErrorKind::kInternal, "the engine finished a request without a token");
  // One clock: preprocessing (timed by the caller just before) then submit -> tokens.
  sample.preprocess_ms = preprocess_ms;
  sample.sent_at_s = std::chrono::duration<double>(seen->start.time_since_epoch()).count();
  sample.ttft_ms = preprocess_ms + ms_between(seen->start, *seen->first);
  sample.e2e_ms = preprocess_ms + ms_between(seen->start, seen->last);
  sample.usage_matches = int64_t(sample.itl_ms.size()) + 1 == sample.output_tokens;
  return sample;
}

std::function<RequestSample()> InProcessBackend::prepare(int64_t) {
  if (!shape_.include_preprocess)
    return [this, prompt = prepared_] { return submit_and_wait(prompt, 0); };
  return [this, request = request_for(point_)] {
    const auto start = Clock::now();
    io::Prompt prompt = prompts_.build(request, io::MediaPolicy{});
    return submit_and_wait(std::move(prompt), ms_between(start, Clock::now()));
  };
}

}  // namespace glimpse::bench
