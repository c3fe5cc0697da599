#include "bench/http_backend.h"

#include <httplib.h>

#include <fmt/format.h>

#include <chrono>
#include <exception>
#include <nlohmann/json.hpp>
#include <random>

#include "bench/synthetic_image.h"
#include "core/error.h"

namespace glimpse::bench {
namespace {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// Reads server-sent events as they arrive and notes when each content chunk came.
class StreamReader {
 public:
  explicit StreamReader(const std::string& url) : url_(url) {}

  // Returns false (stopping the transfer) on a malformed or failed stream; rethrow_stream_error()
  // rethrows.
  bool feed(const char* data, size_t size) {
    try {
      parse(data, size);
      return true;
    } catch (...) {
      error_ = std::current_exception();
      return false;
    }
  }

  void rethrow_stream_error() const {
    if (error_) std::rethrow_exception(error_);
  }

  void finish(RequestSample& sample, Clock::time_point sent) const {
    if (!first_)
      fail(ErrorKind::kCorrupt, "{}: the stream ended without any content (was [DONE] sent: {})",
           url_, done_);
    sample.ttft_ms = ms_between(sent, *first_);
    sample.e2e_ms = ms_between(sent, last_);
    sample.itl_ms = gaps_;
    const int64_t chunks = int64_t(gaps_.size()) + 1;
    sample.output_tokens = usage_tokens_.value_or(chunks);
    // A token whose text is held back (a possible stop string, half a UTF-8 character) arrives
    // with the next one, so chunks can only be fewer than tokens, never more.
    sample.usage_matches = usage_tokens_ && *usage_tokens_ >= chunks;
    if (timings_.is_object()) {
      sample.queue_ms = timings_.value("queue", 0.0);
      sample.preprocess_ms = timings_.value("preprocess", 0.0);
      sample.vision_ms = timings_.value("vision", 0.0);
      sample.prefill_ms = timings_.value("prefill", 0.0);
    }
  }

 private:
  void parse(const char* data, size_t size) {
    const auto now = Clock::now();
    buffer_.append(data, size);
    size_t end;
    while ((end = buffer_.find("\n\n")) != std::string::npos) {
      const std::string event = buffer_.substr(0, end);
      buffer_.erase(0, end + 2);
      if (event.rfind("data: ", 0) == 0) on_data(event.substr(6), now);
    }
  }

  void on_data(const std::string& payload, Clock::time_point now) {
    if (payload == "[DONE]") {
      done_ = true;
      return;
    }
    Json chunk;
    try {
      chunk = Json::parse(payload);
    } catch (const Json::parse_error& e) {
      fail(ErrorKind::kCorrupt, "{}: a stream chunk is not JSON ({}): {}", url_, e.what(),
           payload.substr(0, 200));
    }
    if (chunk.contains("error"))
      fail(ErrorKind::kIo, "{}: the server reported an error: {}", url_, chunk["error"].dump());
    if (chunk.contains("usage") && chunk["usage"].is_object()) {
      usage_tokens_ = chunk["usage"].value("completion_tokens", int64_t(0));
      if (chunk.contains("timings")) timings_ = chunk["timings"];
    }
    const Json& choices = chunk.value("choices", Json::array());
    if (choices.empty()) return;
    const Json& delta = choices[0].value("delta", Json::object());
    const Json content = delta.value("content", Json(""));
    if (!content.is_string() || content.get<std::string>().empty()) return;
    if (first_)
      gaps_.push_back(ms_between(last_, now));
    else
      first_ = now;
    last_ = now;
  }

  std::string url_, buffer_;
  std::optional<Clock::time_point> first_;
  Clock::time_point last_;
  std::vector<double> gaps_;
  std::optional<int64_t> usage_tokens_;
  Json timings_;
  bool done_ = false;
  std::exception_ptr error_;
};

}  // namespace

HttpBackend::HttpBackend(std::string url, RequestShape shape)
    : url_(std::move(url)), shape_(std::move(shape)), run_nonce_([] {
        std::random_device device;
        return uint64_t(device()) << 32 | device();
      }()) {
  while (!url_.empty() && url_.back() == '/') url_.pop_back();
  if (url_.rfind("http://", 0) != 0)
    fail(ErrorKind::kInvalidArgument, "--url '{}': expected http://host:port", url_);
}

std::string HttpBackend::body_for(int64_t index) const {
  // Cold: a unique image (8 pixels carry the request's number) and a unique system message first,
  // so neither the image-embedding cache nor the prefix cache (whose first block would otherwise be
  // the same template text and image tokens every time) can answer from any earlier request, of
  // this run or of an earlier one against the same server.
  const bool unique = shape_.cold_cache;
  const std::vector<uint8_t> image =
      unique && point_.synthetic
          ? synthetic_png(point_.width, point_.height, run_nonce_ + uint64_t(index))
          : point_.image;
  Json messages = Json::array();
  if (unique)
    messages.push_back(
        {{"role", "system"},
         {"content", fmt::format("bench run {:016x} request {}", run_nonce_, index)}});
  messages.push_back(
      {{"role", "user"},
       {"content",
        {{{"type", "image_url"}, {"image_url", {{"url", data_url(image, point_.mime)}}}},
         {{"type", "text"}, {"text", shape_.prompt}}}}});
  Json body{{"messages", std::move(messages)},
            {"max_tokens", shape_.max_tokens},
            {"ignore_eos", shape_.ignore_eos},
            {"stream", true},
            {"stream_options", {{"include_usage", true}}}};
  if (shape_.temperature) body["temperature"] = *shape_.temperature;
  if (shape_.top_p) body["top_p"] = *shape_.top_p;
  return body.dump();
}

void HttpBackend::begin_point(const PointSpec& point) {
  point_ = point;
  warm_body_ = shape_.cold_cache ? "" : body_for(0);
}

std::function<RequestSample()> HttpBackend::prepare(int64_t) {
  // Numbered across points, so no two requests of the run share an image.
  std::string body = shape_.cold_cache ? body_for(cold_requests_++) : warm_body_;
  return [this, body = std::move(body)] {
    httplib::Client client(url_);
    client.set_read_timeout(std::chrono::seconds(600));
    client.set_connection_timeout(std::chrono::seconds(30));
    StreamReader reader(url_);
    httplib::Request request;
    request.method = "POST";
    request.path = "/v1/chat/completions";
    request.headers = {{"Content-Type", "application/json"}, {"Accept", "text/event-stream"}};
    request.body = body;
    int status = 0;
    std::string error_body;
    request.content_receiver = [&](const char* data, size_t size, uint64_t, uint64_t) {
      if (status != 200) {
        error_body.append(data, size);
        return true;
      }
      return reader.feed(data, size);
    };
    request.response_handler = [&](const httplib::Response& response) {
      status = response.status;
      return true;
    };
    httplib::Response response;
    httplib::Error error = httplib::Error::Success;
    const auto sent = Clock::now();
    const bool completed = client.send(request, response, error);
    reader.rethrow_stream_error();  // a malformed or failed stream stopped the transfer
    if (!completed)
      fail(ErrorKind::kIo, "{}: request failed ({})", url_, httplib::to_string(error));
    if (status != 200)
      fail(ErrorKind::kIo, "{}: HTTP {}: {}", url_, status, error_body.substr(0, 300));
    RequestSample sample;
    sample.sent_at_s = std::chrono::duration<double>(sent.time_since_epoch()).count();
    reader.finish(sample, sent);
    return sample;
  };
}

}  // namespace glimpse::bench
