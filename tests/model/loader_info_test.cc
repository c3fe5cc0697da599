// `glimpse info`'s summary: per-component counts, tying, KV bytes and special token names.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "loader_test_util.h"
#include "model/model_info.h"

namespace glimpse::model {
namespace {

using testing::ScratchDir;

// Parameters of the tensors whose canonical names start with `prefix`, from the config alone.
int64_t expected_parameters(const ModelConfig& config, const std::string& prefix,
                            const std::string& except = "") {
  int64_t total = 0;
  for (const auto& [name, shape] : expected_tensors(config))
    if (name.rfind(prefix, 0) == 0 && (except.empty() || name.rfind(except, 0) != 0))
      total += shape_numel(shape);
  return total;
}

TEST(LoaderInfo, CountsComponentsAndKvBytes) {
  ScratchDir dir;
  testing::write_model_dir(dir);
  dir.write("tokenizer_config.json", R"({"added_tokens_decoder": {
    "60": {"content": "<|image|>", "special": true}, "62": {"content": "<|user|>", "special": true}}})");
  const ModelConfig config = load_model_config(dir.str());
  const ModelInfo info = describe_model(dir.str(), config, ModelWeights::load(dir.str(), config));

  ASSERT_EQ(info.components.size(), 4u);
  const ComponentInfo &vision = info.components[0], &merger = info.components[1],
                      &text = info.components[2], &lm_head = info.components[3];
  EXPECT_EQ(vision.name, "vision");
  EXPECT_EQ(vision.parameters,
            expected_parameters(config, "model.visual.", "model.visual.merger."));
  EXPECT_EQ(merger.parameters, expected_parameters(config, "model.visual.merger."));
  EXPECT_EQ(text.parameters, expected_parameters(config, "model.language_model."));
  EXPECT_EQ(lm_head.parameters, 64 * 64);
  EXPECT_EQ(text.bytes, uint64_t(text.parameters) * 2);
  EXPECT_EQ(text.dtypes, (std::vector<std::string>{"BF16"}));
  EXPECT_EQ(info.total_parameters,
            vision.parameters + merger.parameters + text.parameters + lm_head.parameters);
  EXPECT_EQ(info.total_bytes, uint64_t(info.total_parameters) * 2);
  // 2 (K, V) x 2 layers x 2 KV heads x 16 head_dim, in BF16 and in F32.
  EXPECT_EQ(info.kv_dtype, "BF16");
  EXPECT_EQ(info.kv_bytes_per_token, 2u * 2 * 2 * 16 * 2);
  EXPECT_EQ(info.kv_bytes_per_token_f32, 2u * 2 * 2 * 16 * 4);

  ASSERT_FALSE(info.special_tokens.empty());
  EXPECT_EQ(info.special_tokens[0].role, "image");
  EXPECT_EQ(info.special_tokens[0].id, 60);
  EXPECT_EQ(info.special_tokens[0].text, "<|image|>");
  EXPECT_EQ(info.special_tokens[1].text, "");  // 56 is not in the tokenizer files
  const auto eos = std::find_if(info.special_tokens.begin(), info.special_tokens.end(),
                                [](const auto& t) { return t.role == "eos"; });
  ASSERT_NE(eos, info.special_tokens.end());
  EXPECT_EQ(eos->id, 62);
  EXPECT_EQ(eos->text, "<|user|>");

  const nlohmann::json json = nlohmann::json::parse(info_to_json(info));
  EXPECT_EQ(json["components"]["merger"]["parameters"], merger.parameters);
  EXPECT_EQ(json["kv_cache"]["bytes_per_token"], info.kv_bytes_per_token);
  EXPECT_EQ(json["max_context"], 256);
  EXPECT_EQ(json["architecture"], "Glm46VForConditionalGeneration");
  const std::string table = info_to_text(info);
  EXPECT_NE(table.find("KV cache        256 bytes/token in BF16 (512 in F32)"), std::string::npos)
      << table;
}

TEST(LoaderInfo, CountsATiedLmHeadOnce) {
  const std::string tied = testing::tied_config_5x();
  ScratchDir dir;
  testing::write_model_dir(
      dir, {.config_json = tied.c_str(), .include_lm_head = false, .edit = [](auto& tensors) {
              tensors.push_back(testing::patterned_tensor("mtp.norm.weight", DType::kF32, {3}));
            }});
  const ModelConfig config = load_model_config(dir.str());
  const ModelInfo info = describe_model(dir.str(), config, ModelWeights::load(dir.str(), config));
  EXPECT_TRUE(info.lm_head_tied);
  EXPECT_EQ(info.components[3].parameters, 0);
  EXPECT_EQ(info.total_parameters, expected_parameters(config, "model."));
  EXPECT_EQ(info.unused_tensors, (std::vector<std::string>{"mtp.norm.weight"}));
  EXPECT_NE(info_to_text(info).find("tied to embed_tokens"), std::string::npos);
}

TEST(LoaderInfo, FallsBackToTokenizerJsonAndRejectsBrokenTokenizerFiles) {
  ScratchDir dir;
  testing::write_model_dir(dir);
  dir.write("tokenizer.json",
            R"({"added_tokens": [{"id": 61, "content": "<|video|>", "special": true}]})");
  const ModelConfig config = load_model_config(dir.str());
  const ModelWeights weights = ModelWeights::load(dir.str(), config);
  const ModelInfo info = describe_model(dir.str(), config, weights);
  EXPECT_EQ(info.special_tokens[3].role, "video");
  EXPECT_EQ(info.special_tokens[3].text, "<|video|>");

  dir.write("tokenizer_config.json", "{oops");
  testing::expect_error([&] { describe_model(dir.str(), config, weights); }, ErrorKind::kCorrupt,
                        dir.file("tokenizer_config.json") + ": not a valid JSON object");
}

}  // namespace
}  // namespace glimpse::model
