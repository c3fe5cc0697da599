// config.json / generation_config.json parsing. Expected values follow transformers 5.17
// (configuration_glm4v.py, configuration_glm46v.py, modeling_rope_utils.py), checked by hand
// against Glm4vConfig / Glm46VConfig built from the same JSON.
#include <gtest/gtest.h>

#include <random>

#include "loader_test_util.h"
#include "model/config.h"

namespace glimpse::model {
namespace {

using testing::expect_error;
using testing::ScratchDir;

ModelConfig load_text(const ScratchDir& dir, const std::string& config_json) {
  dir.write("config.json", config_json);
  return load_model_config(dir.str());
}

TEST(LoaderConfig, ReadsTransformers5Spelling) {
  ScratchDir dir;
  const ModelConfig c = load_text(dir, testing::kConfig5x);
  EXPECT_EQ(c.model_type, "glm46v");
  EXPECT_EQ(c.architecture, "Glm46VForConditionalGeneration");
  EXPECT_EQ(c.torch_dtype, "bfloat16");
  EXPECT_EQ(c.text.vocab_size, 64);
  EXPECT_EQ(c.text.hidden_size, 64);
  EXPECT_EQ(c.text.intermediate_size, 48);
  EXPECT_EQ(c.text.num_hidden_layers, 2);
  EXPECT_EQ(c.text.num_attention_heads, 4);
  EXPECT_EQ(c.text.num_key_value_heads, 2);
  EXPECT_EQ(c.text.head_dim, 16);
  EXPECT_EQ(c.text.max_position_embeddings, 256);
  EXPECT_DOUBLE_EQ(c.text.rope_theta, 500000.0);
  EXPECT_DOUBLE_EQ(c.text.partial_rotary_factor, 0.5);
  EXPECT_EQ(c.text.rotary_dim(), 8);
  EXPECT_EQ(c.text.mrope_section, (std::vector<int64_t>{1, 1, 2}));
  EXPECT_EQ(c.vision.depth, 2);
  EXPECT_EQ(c.vision.hidden_size, 24);
  EXPECT_EQ(c.vision.num_heads, 2);
  EXPECT_EQ(c.vision.intermediate_size, 40);
  EXPECT_EQ(c.vision.out_hidden_size, 64);
  EXPECT_EQ(c.vision.image_size, 28);
  EXPECT_TRUE(c.vision.attention_bias);
  EXPECT_DOUBLE_EQ(c.vision.rope_theta, 10000.0);
  EXPECT_EQ(c.image_token_id, 60);
  EXPECT_EQ(c.video_end_token_id, 59);
  EXPECT_FALSE(c.tie_word_embeddings);
  // No generation_config.json: eos comes from text_config, pad stays unset (it is null).
  EXPECT_EQ(c.generation.eos_token_ids, (std::vector<int64_t>{62, 63}));
  EXPECT_FALSE(c.generation.pad_token_id.has_value());
}

TEST(LoaderConfig, BothSpellingsGiveTheSameModel) {
  ScratchDir dir;
  const ModelConfig a = load_text(dir, testing::kConfig5x);
  const ModelConfig b = load_text(dir, testing::kConfig4x);
  EXPECT_EQ(b.model_type, "glm4v");
  EXPECT_EQ(b.architecture, "Glm4vForConditionalGeneration");
  EXPECT_EQ(b.torch_dtype, "bfloat16");
  EXPECT_EQ(a.text.head_dim, b.text.head_dim);
  EXPECT_EQ(a.text.num_key_value_heads, b.text.num_key_value_heads);
  EXPECT_DOUBLE_EQ(a.text.rope_theta, b.text.rope_theta);
  EXPECT_DOUBLE_EQ(a.text.partial_rotary_factor, b.text.partial_rotary_factor);
  EXPECT_EQ(a.text.mrope_section, b.text.mrope_section);
  EXPECT_EQ(a.vision.patch_size, b.vision.patch_size);
  EXPECT_EQ(a.vision.in_channels, b.vision.in_channels);
  EXPECT_DOUBLE_EQ(a.vision.rope_theta, b.vision.rope_theta);
  EXPECT_EQ(expected_tensors(a), expected_tensors(b));
}

TEST(LoaderConfig, AppliesReferenceDefaults) {
  ScratchDir dir;
  // Only the sizes: everything else takes Glm4vTextConfig / Glm4vVisionConfig defaults.
  const ModelConfig c = load_text(dir, R"({"model_type": "glm4v",
    "text_config": {"vocab_size": 10, "hidden_size": 512, "intermediate_size": 8,
                    "num_hidden_layers": 1, "num_attention_heads": 8},
    "vision_config": {"depth": 1, "hidden_size": 8, "num_heads": 2, "intermediate_size": 8,
                      "out_hidden_size": 512}})");
  EXPECT_EQ(c.text.num_key_value_heads, 2);  // the class default, not num_attention_heads
  EXPECT_EQ(c.text.head_dim, 64);
  EXPECT_EQ(c.text.max_position_embeddings, 32768);
  EXPECT_DOUBLE_EQ(c.text.rope_theta, 10000.0);
  EXPECT_DOUBLE_EQ(c.text.partial_rotary_factor, 1.0);
  EXPECT_EQ(c.text.mrope_section, (std::vector<int64_t>{8, 12, 12}));
  EXPECT_DOUBLE_EQ(c.text.rms_norm_eps, 1e-5);
  EXPECT_EQ(c.vision.image_size, 336);
  EXPECT_EQ(c.vision.patch_size, 14);
  EXPECT_EQ(c.vision.temporal_patch_size, 2);
  EXPECT_EQ(c.vision.spatial_merge_size, 2);
  EXPECT_FALSE(c.vision.attention_bias);
  EXPECT_EQ(c.image_token_id, 151343);
  EXPECT_EQ(c.video_start_token_id, 151341);  // glm4v; glm46v moved the video markers
  EXPECT_TRUE(c.torch_dtype.empty());
  EXPECT_TRUE(c.generation.eos_token_ids.empty());
}

TEST(LoaderConfig, FollowsReferenceRulesForRopeKvHeadsAndTying) {
  ScratchDir dir;
  // rope_parameters values win over the ones beside them; null kv heads means "all heads";
  // glm46v has other video marker defaults and does not promote text_config's tying.
  const ModelConfig c = load_text(dir, R"({"model_type": "glm46v",
    "text_config": {"vocab_size": 10, "hidden_size": 64, "intermediate_size": 8,
                    "num_hidden_layers": 1, "num_attention_heads": 4, "num_key_value_heads": null,
                    "rope_theta": 7.0, "partial_rotary_factor": 0.25, "tie_word_embeddings": true,
                    "rope_parameters": {"rope_type": "default", "rope_theta": 5.0,
                                        "mrope_section": [0, 1, 1]}},
    "vision_config": {"depth": 1, "hidden_size": 8, "num_heads": 2, "intermediate_size": 8,
                      "out_hidden_size": 64, "num_attention_heads": 4}})");
  EXPECT_EQ(c.text.num_key_value_heads, 4);
  EXPECT_DOUBLE_EQ(c.text.rope_theta, 5.0);
  EXPECT_DOUBLE_EQ(c.text.partial_rotary_factor, 0.25);
  EXPECT_EQ(c.text.rotary_dim(), 4);
  EXPECT_EQ(c.vision.num_heads, 4);  // the num_attention_heads alias wins over num_heads
  EXPECT_EQ(c.video_start_token_id, 151361);
  EXPECT_EQ(c.video_end_token_id, 151362);
  EXPECT_FALSE(c.tie_word_embeddings);

  // Glm4vConfig does promote it.
  std::string glm4v = R"({"model_type": "glm4v",
    "text_config": {"vocab_size": 10, "hidden_size": 64, "intermediate_size": 8,
                    "num_hidden_layers": 1, "num_attention_heads": 4, "tie_word_embeddings": true,
                    "rope_scaling": {"type": "default", "mrope_section": [2, 3, 3]}},
    "vision_config": {"depth": 1, "hidden_size": 8, "num_attention_heads": 2,
                      "intermediate_size": 8, "out_hidden_size": 64}})";
  const ModelConfig d = load_text(dir, glm4v);
  EXPECT_TRUE(d.tie_word_embeddings);
  EXPECT_EQ(d.vision.num_heads, 2);  // through the num_attention_heads alias
  EXPECT_EQ(d.text.rotary_dim(), 16);
}

TEST(LoaderConfig, ReadsGenerationConfig) {
  ScratchDir dir;
  dir.write("generation_config.json", R"({"eos_token_id": 7, "pad_token_id": 3,
    "temperature": 0.8, "top_p": 0.6, "top_k": 2, "do_sample": true, "transformers_version": "5.17.0"})");
  const ModelConfig c = load_text(dir, testing::kConfig5x);
  EXPECT_EQ(c.generation.eos_token_ids, (std::vector<int64_t>{7}));
  EXPECT_EQ(c.generation.pad_token_id, 3);
  EXPECT_DOUBLE_EQ(*c.generation.temperature, 0.8);
  EXPECT_DOUBLE_EQ(*c.generation.top_p, 0.6);
  EXPECT_EQ(c.generation.top_k, 2);
  EXPECT_EQ(c.generation.do_sample, true);
}

TEST(LoaderConfig, NamesFileAndFieldOnGenerationConfigErrors) {
  ScratchDir dir;
  dir.write("config.json", testing::kConfig5x);
  dir.write("generation_config.json", R"({"top_k": "40"})");
  expect_error([&] { load_model_config(dir.str()); }, ErrorKind::kCorrupt,
               "generation_config.json: top_k: expected an integer, got string");
  dir.write("generation_config.json", R"({"eos_token_id": [1, -2]})");
  expect_error([&] { load_model_config(dir.str()); }, ErrorKind::kCorrupt,
               "generation_config.json: eos_token_id[1]: expected a token id (>= 0), got -2");
  dir.write("generation_config.json", R"({"top_p": 1.5})");
  expect_error([&] { load_model_config(dir.str()); }, ErrorKind::kCorrupt,
               "generation_config.json: top_p: expected a value in (0, 1], got 1.5");
}

TEST(LoaderConfig, MissingConfigNamesThePath) {
  ScratchDir dir;
  expect_error([&] { load_model_config(dir.str()); }, ErrorKind::kNotFound,
               dir.file("config.json") + ": not found");
}

TEST(LoaderConfig, RefusesHeadDimThatDisagreesWithTheAttention) {
  ScratchDir dir;
  dir.write("config.json", testing::replace_once(testing::kConfig5x, "\"num_key_value_heads\": 2,",
                                                 "\"num_key_value_heads\": 2, \"head_dim\": 32,"));
  expect_error([&] { load_model_config(dir.str()); }, ErrorKind::kUnsupported,
               "config.json: text_config.head_dim: 32 differs from hidden_size / "
               "num_attention_heads = 16");
}

// Seeded mutations of a valid config text: each must parse or fail with a glimpse::Error (a type
// error escaping from the JSON library, a crash or a sanitizer report fails the test).
TEST(LoaderConfig, MutatedConfigsLoadOrFailCleanly) {
  const std::string valid = testing::kConfig5x;
  const std::string alphabet = "0123456789-.eE\"{}[],: ntrufalsx";
  std::mt19937 rng(99);
  int loaded = 0, refused = 0;
  for (int i = 0; i < 5000; ++i) {
    std::string text = valid;
    for (int k = 0, n = 1 + int(rng() % 3); k < n; ++k)
      text[rng() % text.size()] = alphabet[rng() % alphabet.size()];
    try {
      parse_model_config(text);
      ++loaded;
    } catch (const Error&) {
      ++refused;
    }
  }
  EXPECT_GT(refused, 2000);
  EXPECT_GT(loaded, 200);
}

}  // namespace
}  // namespace glimpse::model
