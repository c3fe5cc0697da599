#include "server/openai_request.h"

#include <gtest/gtest.h>

#include "server/api_error.h"

namespace glimpse::server {
namespace {

using Json = nlohmann::ordered_json;

ApiError rejection(const Json& body) {
  try {
    parse_chat_completion(body);
  } catch (const ApiException& e) {
    return e.error;
  }
  ADD_FAILURE() << "accepted " << body.dump();
  return {};
}

Json minimal() {
  return {{"messages", {{{"role", "user"}, {"content", "hi"}}}}};
}

TEST(ChatCompletionRequest, ParsesEveryField) {
  Json body = minimal();
  body["model"] = "glimpse-demo";
  body["temperature"] = 0.7;
  body["top_p"] = 0.9;
  body["top_k"] = 20;
  body["min_p"] = 0.05;
  body["seed"] = 42;
  body["stop"] = {"\n\n", "END"};
  body["max_completion_tokens"] = 64;
  body["presence_penalty"] = 0.5;
  body["frequency_penalty"] = -0.5;
  body["logprobs"] = true;
  body["top_logprobs"] = 5;
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  body["chat_template_kwargs"] = {{"enable_thinking", false}};
  ChatCompletionRequest r = parse_chat_completion(body);
  EXPECT_EQ(r.model, "glimpse-demo");
  EXPECT_DOUBLE_EQ(r.options.sampling.temperature, 0.7);
  EXPECT_DOUBLE_EQ(r.options.sampling.top_p, 0.9);
  EXPECT_EQ(r.options.sampling.top_k, 20);
  EXPECT_DOUBLE_EQ(r.options.sampling.min_p, 0.05);
  EXPECT_EQ(r.options.sampling.seed, 42u);
  EXPECT_EQ(r.options.stop, (std::vector<std::string>{"\n\n", "END"}));
  EXPECT_EQ(r.options.max_tokens, 64);
  EXPECT_EQ(r.options.sampling.logprobs, 5);
  EXPECT_TRUE(r.options.stream);
  EXPECT_TRUE(r.options.include_usage);
  EXPECT_EQ(r.prompt.template_kwargs["enable_thinking"], false);
  EXPECT_EQ(r.prompt.messages.size(), 1u);
}

TEST(ChatCompletionRequest, DefaultsWhenFieldsAreAbsentOrNull) {
  Json body = minimal();
  body["temperature"] = nullptr;
  ChatCompletionRequest r = parse_chat_completion(body);
  EXPECT_DOUBLE_EQ(r.options.sampling.temperature, 1.0);
  EXPECT_FALSE(r.options.max_tokens.has_value());
  EXPECT_FALSE(r.options.sampling.logprobs.has_value());
  EXPECT_FALSE(r.options.stream);
}

TEST(ChatCompletionRequest, RejectionsNameTheField) {
  struct Case {
    const char* field;
    Json value;
    int status;
  };
  const Case cases[] = {
      {"temperature", "hot", 422},
      {"temperature", 3.5, 400},
      {"top_p", 0, 400},
      {"max_tokens", 0, 400},
      {"max_tokens", 1.5, 422},
      {"stop", 7, 422},
      {"stop", Json::array({""}), 400},
      {"n", 2, 422},
      {"top_logprobs", 3, 400},
      {"stream_options", Json::object({{"include_usage", true}}), 400},
      {"chat_template_kwargs", "x", 422},
  };
  for (const auto& c : cases) {
    Json body = minimal();
    body[c.field] = c.value;
    ApiError e = rejection(body);
    EXPECT_EQ(e.param, c.field) << c.field;
    EXPECT_EQ(e.status, c.status) << c.field << ": " << e.message;
    EXPECT_NE(e.message.find(c.field), std::string::npos) << e.message;
  }
  EXPECT_EQ(rejection(Json::object()).param, "messages");
  EXPECT_EQ(rejection({{"messages", Json::array()}}).param, "messages");
  EXPECT_EQ(rejection({{"messages", "hi"}}).status, 422);
  EXPECT_EQ(rejection(Json::array()).status, 400);
}

TEST(CompletionRequest, TakesAPlainPromptAndLegacyLogprobs) {
  CompletionRequest r = parse_completion({{"prompt", "Once"}, {"logprobs", 3}, {"max_tokens", 8}});
  EXPECT_EQ(r.prompt, "Once");
  EXPECT_EQ(r.options.sampling.logprobs, 3);
  EXPECT_EQ(r.options.max_tokens, 8);
  EXPECT_THROW(parse_completion({{"prompt", 5}}), ApiException);
  EXPECT_THROW(parse_completion({{"prompt", "x"}, {"logprobs", 21}}), ApiException);
}

TEST(ApiError, MapsEngineErrorsToStatuses) {
  EXPECT_EQ(api_error_from(Error(ErrorKind::kLimitExceeded, "image too large")).status, 413);
  EXPECT_EQ(api_error_from(Error(ErrorKind::kCorrupt, "bad base64")).status, 400);
  EXPECT_EQ(api_error_from(Error(ErrorKind::kUnsupported, "video")).status, 422);
  EXPECT_EQ(api_error_from(Error(ErrorKind::kInternal, "bug")).status, 500);
  Json j =
      ApiError{404, "no such model", "invalid_request_error", "model", "model_not_found"}.to_json();
  EXPECT_EQ(j["error"]["param"], "model");
  EXPECT_EQ(j["error"]["code"], "model_not_found");
}

}  // namespace
}  // namespace glimpse::server
