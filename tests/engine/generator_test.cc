// The generation loop on the golden tiny-a model: bad requests are errors named by what is wrong,
// seeds reproduce samples, stop strings and max_tokens end the request as documented.
#include "engine/generator.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "core/error.h"
#include "golden_compare.h"
#include "io/prompt.h"
#include "io/tokenizer.h"
#include "model/glm4v.h"

namespace glimpse::engine {
namespace {

using engine::testing::golden_dir;

class GeneratorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string dir = (golden_dir() / "models" / "tiny-a").string();
    model_ = model::Glm4vModel::load(dir).release();
    prompts_ = new io::PromptBuilder(dir);
  }
  static void TearDownTestSuite() {
    delete model_;
    delete prompts_;
  }

  static io::PromptRequest text_request(const std::string& text) {
    io::PromptRequest request;
    request.messages = nlohmann::json::array({{{"role", "user"}, {"content", text}}});
    return request;
  }

  static GenerationResult run(const io::PromptRequest& request, const GenerationParams& params,
                              const io::MediaPolicy& media = {}) {
    return Generator(*model_, *prompts_).generate(request, media, params, nullptr);
  }

  static ErrorKind error_kind_of(const std::function<void()>& fn, std::string* message) {
    try {
      fn();
    } catch (const Error& e) {
      *message = e.what();
      return e.kind();
    }
    ADD_FAILURE() << "no error";
    return ErrorKind::kInternal;
  }

  static model::Glm4vModel* model_;
  static io::PromptBuilder* prompts_;
};
model::Glm4vModel* GeneratorTest::model_ = nullptr;
io::PromptBuilder* GeneratorTest::prompts_ = nullptr;

TEST_F(GeneratorTest, SameSeedSameSampleAndTokensStreamAsTheyArrive) {
  GenerationParams params;
  params.sampling.temperature = 1.0;
  params.sampling.top_p = 0.95;
  params.sampling.seed = 99;
  params.max_tokens = 12;
  params.ignore_eos = true;
  const auto request = text_request("Tell me a story.");
  std::string streamed;
  const auto a =
      Generator(*model_, *prompts_).generate(request, {}, params, [&](const TokenEvent& e) {
        streamed += e.text;
      });
  const auto b = run(request, params);
  ASSERT_EQ(a.tokens.size(), 12u);
  EXPECT_EQ(a.finish_reason, FinishReason::kLength);
  std::vector<int32_t> ids_a, ids_b;
  for (const auto& t : a.tokens) ids_a.push_back(t.token_id);
  for (const auto& t : b.tokens) ids_b.push_back(t.token_id);
  EXPECT_EQ(ids_a, ids_b);
  EXPECT_EQ(streamed, a.text);
  EXPECT_EQ(a.text, prompts_->tokenizer().decode(ids_a, /*skip_special_tokens=*/true));
  EXPECT_GE(a.timings.ttft_ms, a.timings.prefill_ms);
  EXPECT_EQ(a.timings.decode_tokens, 11);
}

TEST_F(GeneratorTest, StopStringEndsTheRequestAndIsNotShown) {
  GenerationParams params;
  params.sampling.temperature = 0.0;
  params.max_tokens = 16;
  params.ignore_eos = true;
  const auto request = text_request("Describe a quiet morning in the harbor.");
  const auto full = run(request, params);
  ASSERT_GE(full.text.size(), 6u);
  // Stop on a piece from the middle of the greedy text: output is everything before it.
  const std::string stop = full.text.substr(full.text.size() / 2, 3);
  params.stop = {stop};
  const auto stopped = run(request, params);
  EXPECT_EQ(stopped.finish_reason, FinishReason::kStop);
  EXPECT_EQ(stopped.text, full.text.substr(0, full.text.find(stop)));
  EXPECT_LT(stopped.tokens.size(), full.tokens.size());
}

TEST_F(GeneratorTest, PromptLongerThanTheContextIsLimitExceeded) {
  io::Prompt prompt;
  prompt.ids.assign(size_t(model_->config().text.max_position_embeddings), 100);
  std::string message;
  EXPECT_EQ(
      error_kind_of([&] { Generator(*model_, *prompts_).generate(prompt, {}, nullptr); }, &message),
      ErrorKind::kLimitExceeded);
  EXPECT_NE(message.find("context"), std::string::npos) << message;
}

TEST_F(GeneratorTest, ImageTokensWithoutImagesAreRejected) {
  io::Prompt prompt;
  prompt.ids = {100, 101, int32_t(model_->config().image_token_id), 102};
  std::string message;
  EXPECT_EQ(
      error_kind_of([&] { Generator(*model_, *prompts_).generate(prompt, {}, nullptr); }, &message),
      ErrorKind::kInvalidArgument);
  EXPECT_NE(message.find("image"), std::string::npos) << message;
}

TEST_F(GeneratorTest, UnreadableImageIsAnErrorNamingIt) {
  io::PromptRequest request;
  request.messages = nlohmann::json::array(
      {{{"role", "user"},
        {"content", nlohmann::json::array(
                        {{{"type", "image_url"}, {"image_url", {{"url", "no_such_image.png"}}}},
                         {{"type", "text"}, {"text", "What is this?"}}})}}});
  io::MediaPolicy media;
  media.base_dir = golden_dir().string();
  media.allow_local_paths = true;
  std::string message;
  error_kind_of([&] { run(request, GenerationParams{}, media); }, &message);
  EXPECT_NE(message.find("no_such_image.png"), std::string::npos) << message;
}

TEST_F(GeneratorTest, BadSamplingParamsFailBeforeAnyWork) {
  GenerationParams params;
  params.sampling.top_p = 1.5;
  std::string message;
  EXPECT_EQ(error_kind_of([&] { run(text_request("hi"), params); }, &message),
            ErrorKind::kInvalidArgument);
  EXPECT_NE(message.find("top_p"), std::string::npos) << message;
  params = {};
  params.max_tokens = 0;
  EXPECT_EQ(error_kind_of([&] { run(text_request("hi"), params); }, &message),
            ErrorKind::kInvalidArgument);
  EXPECT_NE(message.find("max_tokens"), std::string::npos) << message;
}

TEST(DefaultSampling, FollowsGenerationConfigLikeTransformers) {
  model::GenerationDefaults defaults;
  EXPECT_TRUE(default_sampling(defaults).greedy());
  defaults.do_sample = true;
  defaults.temperature = 0.8;
  const auto sampled = default_sampling(defaults);
  EXPECT_FALSE(sampled.greedy());
  EXPECT_DOUBLE_EQ(sampled.temperature, 0.8);
  EXPECT_DOUBLE_EQ(sampled.top_p, 1.0);
  EXPECT_EQ(sampled.top_k, 50);
}

}  // namespace
}  // namespace glimpse::engine
