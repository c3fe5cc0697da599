#include "server/openai_request.h"

#include <fmt/format.h>

#include "server/api_error.h"

namespace glimpse::server {
namespace {

using Json = nlohmann::ordered_json;

[[noreturn]] void wrong_type(const std::string& field, const char* expected, const Json& got) {
  reject(field, fmt::format("'{}' must be {}, got {}", field, expected, got.type_name()), 422);
}

// Optional typed fields: absent or null means "use the default".
const Json* field(const Json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

std::optional<double> number(const Json& body, const char* name) {
  const Json* v = field(body, name);
  if (!v) return std::nullopt;
  if (!v->is_number()) wrong_type(name, "a number", *v);
  return v->get<double>();
}

std::optional<int64_t> integer(const Json& body, const char* name) {
  const Json* v = field(body, name);
  if (!v) return std::nullopt;
  if (!v->is_number_integer()) wrong_type(name, "an integer", *v);
  return v->get<int64_t>();
}

std::optional<bool> boolean(const Json& body, const char* name) {
  const Json* v = field(body, name);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) wrong_type(name, "a boolean", *v);
  return v->get<bool>();
}

void check_range(const char* name, double value, double lo, double hi) {
  if (!(value >= lo && value <= hi))
    reject(name, fmt::format("'{}' must be between {} and {}, got {}", name, lo, hi, value));
}

GenerationOptions parse_options(const Json& body) {
  GenerationOptions o;
  auto& s = o.sampling;
  if (auto t = number(body, "temperature")) {
    check_range("temperature", *t, 0, 2);
    s.temperature = *t;
  }
  if (auto p = number(body, "top_p")) {
    check_range("top_p", *p, 0, 1);
    if (*p == 0) reject("top_p", "'top_p' must be greater than 0");
    s.top_p = *p;
  }
  if (auto k = integer(body, "top_k")) {
    if (*k < -1) reject("top_k", "'top_k' must be -1 or 0 (off) or positive");
    s.top_k = *k < 0 ? 0 : *k;
  }
  if (auto m = number(body, "min_p")) {
    check_range("min_p", *m, 0, 1);
    s.min_p = *m;
  }
  if (auto p = number(body, "presence_penalty")) {
    check_range("presence_penalty", *p, -2, 2);
    s.presence_penalty = *p;
  }
  if (auto p = number(body, "frequency_penalty")) {
    check_range("frequency_penalty", *p, -2, 2);
    s.frequency_penalty = *p;
  }
  if (auto p = number(body, "repetition_penalty")) {
    if (*p <= 0) reject("repetition_penalty", "'repetition_penalty' must be positive");
    s.repetition_penalty = *p;
  }
  if (auto seed = integer(body, "seed")) s.seed = uint64_t(*seed);

  std::optional<int64_t> max_tokens = integer(body, "max_completion_tokens");
  const char* max_name = "max_completion_tokens";
  if (!max_tokens) {
    max_tokens = integer(body, "max_tokens");
    max_name = "max_tokens";
  }
  if (max_tokens && *max_tokens < 1)
    reject(max_name, fmt::format("'{}' must be at least 1", max_name));
  o.max_tokens = max_tokens;

  if (const Json* stop = field(body, "stop")) {
    if (stop->is_string()) {
      o.stop.push_back(stop->get<std::string>());
    } else if (stop->is_array()) {
      if (stop->size() > 4) reject("stop", "'stop' takes at most 4 sequences");
      for (const auto& s2 : *stop) {
        if (!s2.is_string()) wrong_type("stop", "a string or an array of strings", s2);
        o.stop.push_back(s2.get<std::string>());
      }
    } else {
      wrong_type("stop", "a string or an array of strings", *stop);
    }
    for (const auto& s2 : o.stop)
      if (s2.empty()) reject("stop", "'stop' sequences must not be empty");
  }
  if (auto n = integer(body, "n"); n && *n != 1) reject("n", "only n = 1 is supported", 422);
  o.ignore_eos = boolean(body, "ignore_eos").value_or(false);
  o.stream = boolean(body, "stream").value_or(false);
  if (const Json* so = field(body, "stream_options")) {
    if (!so->is_object()) wrong_type("stream_options", "an object", *so);
    if (!o.stream) reject("stream_options", "'stream_options' is only allowed with 'stream': true");
    o.include_usage = boolean(*so, "include_usage").value_or(false);
  }
  return o;
}

std::string model_name(const Json& body) {
  const Json* m = field(body, "model");
  if (!m) return "";
  if (!m->is_string()) wrong_type("model", "a string", *m);
  return m->get<std::string>();
}

}  // namespace

ChatCompletionRequest parse_chat_completion(const Json& body) {
  if (!body.is_object()) reject("", "the request body must be a JSON object", 400);
  ChatCompletionRequest r;
  r.model = model_name(body);
  const Json* messages = field(body, "messages");
  if (!messages) reject("messages", "'messages' is required");
  if (!messages->is_array()) wrong_type("messages", "an array", *messages);
  if (messages->empty()) reject("messages", "'messages' must not be empty");
  r.prompt.messages = *messages;  // part-level validation happens when the template renders
  if (const Json* kwargs = field(body, "chat_template_kwargs")) {
    if (!kwargs->is_object()) wrong_type("chat_template_kwargs", "an object", *kwargs);
    r.prompt.template_kwargs = *kwargs;
  }
  if (const Json* tools = field(body, "tools")) {
    if (!tools->is_array()) wrong_type("tools", "an array", *tools);
    r.prompt.tools = *tools;
  }
  r.options = parse_options(body);
  r.options.logprobs = boolean(body, "logprobs").value_or(false);
  if (auto top = integer(body, "top_logprobs")) {
    if (!r.options.logprobs) reject("top_logprobs", "'top_logprobs' needs 'logprobs': true");
    if (*top < 0 || *top > engine::kMaxTopLogprobs)
      reject("top_logprobs",
             fmt::format("'top_logprobs' must be between 0 and {}", engine::kMaxTopLogprobs));
    r.options.sampling.logprobs = int(*top);
  } else if (r.options.logprobs) {
    r.options.sampling.logprobs = 0;
  }
  return r;
}

CompletionRequest parse_completion(const Json& body) {
  if (!body.is_object()) reject("", "the request body must be a JSON object", 400);
  CompletionRequest r;
  r.model = model_name(body);
  const Json* prompt = field(body, "prompt");
  if (!prompt) reject("prompt", "'prompt' is required");
  if (!prompt->is_string()) wrong_type("prompt", "a string", *prompt);
  r.prompt = prompt->get<std::string>();
  r.options = parse_options(body);
  if (auto lp = integer(body, "logprobs")) {  // the legacy API: an integer count
    if (*lp < 0 || *lp > engine::kMaxTopLogprobs)
      reject("logprobs",
             fmt::format("'logprobs' must be between 0 and {}", engine::kMaxTopLogprobs));
    r.options.logprobs = true;
    r.options.sampling.logprobs = int(*lp);
  }
  return r;
}

}  // namespace glimpse::server
