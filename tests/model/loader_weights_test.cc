// Loading whole model directories: both config spellings, both weight-name spellings, shards,
// tying, and every check of names, shapes and dtypes. The golden directories under
// tests/golden/models were written by transformers 5.17 (tiny-a) and in the 4.x layout (tiny-b),
// so loading them with nothing missing and nothing unused proves expected_tensors() matches the
// names, shapes and biases transformers builds.
#include <gtest/gtest.h>

#include <cstring>

#include "loader_test_util.h"
#include "model/weights.h"

namespace glimpse::model {
namespace {

using testing::expect_error;
using testing::ModelDirOptions;
using testing::ScratchDir;

ModelWeights load_dir(const ScratchDir& dir) {
  return ModelWeights::load(dir.str(), load_model_config(dir.str()));
}

void expect_complete(const ModelWeights& weights, const ModelConfig& config) {
  for (const auto& [name, shape] : expected_tensors(config)) {
    ASSERT_TRUE(weights.contains(name)) << name;
    EXPECT_EQ(weights.get(name).shape(), shape) << name;
  }
  EXPECT_EQ(weights.all().size(), expected_tensors(config).size());
}

TEST(LoaderWeights, ExpectedTensorsFollowTheArchitecture) {
  ScratchDir dir;
  dir.write("config.json", testing::kConfig5x);
  const auto expected = expected_tensors(load_model_config(dir.str()));
  // Vision MLP is hidden -> out_hidden_size; the merger's gate/up are intermediate_size wide.
  EXPECT_EQ(expected.at("model.visual.blocks.1.mlp.gate_proj.weight"), (Shape{64, 24}));
  EXPECT_EQ(expected.at("model.visual.merger.gate_proj.weight"), (Shape{40, 64}));
  EXPECT_EQ(expected.at("model.visual.blocks.0.attn.qkv.bias"), (Shape{72}));
  EXPECT_EQ(expected.at("model.visual.patch_embed.proj.weight"), (Shape{24, 3, 2, 14, 14}));
  EXPECT_EQ(expected.at("model.visual.embeddings.position_embedding.weight"), (Shape{4, 24}));
  EXPECT_EQ(expected.at("model.visual.downsample.weight"), (Shape{64, 24, 2, 2}));
  EXPECT_EQ(expected.at("model.language_model.layers.1.self_attn.k_proj.bias"), (Shape{32}));
  EXPECT_EQ(expected.at("model.language_model.layers.0.mlp.gate_up_proj.weight"), (Shape{96, 64}));
  EXPECT_EQ(expected.at("lm_head.weight"), (Shape{64, 64}));
  EXPECT_FALSE(expected.count("model.visual.blocks.0.attn.proj.bias"));
  EXPECT_FALSE(expected.count("model.language_model.layers.0.self_attn.o_proj.bias"));
  // 7 + 8 per vision block + 6 merger; 2 + 13 per text layer; lm_head.
  EXPECT_EQ(expected.size(), size_t(7 + 2 * 8 + 6 + 2 + 2 * 13 + 1));
}

// The full-size GLM-4.1V / GLM-4.6V-Flash shapes (transformers' Glm4vConfig defaults). The
// reference numbers come from Glm4vForConditionalGeneration(Glm4vConfig()) built on the meta
// device in transformers 5.17: 704 tensors, 10,292,777,472 parameters, every name and shape equal.
TEST(LoaderWeights, FullSizeConfigMatchesTransformersTensorCount) {
  const ModelConfig config = parse_model_config(R"({"model_type": "glm4v",
    "text_config": {"vocab_size": 151552, "hidden_size": 4096, "intermediate_size": 13696,
                    "num_hidden_layers": 40, "num_attention_heads": 32, "num_key_value_heads": 2,
                    "rope_parameters": {"rope_type": "default", "partial_rotary_factor": 0.5,
                                        "mrope_section": [8, 12, 12]}},
    "vision_config": {"depth": 24, "hidden_size": 1536, "num_heads": 12,
                      "intermediate_size": 13696, "out_hidden_size": 4096}})");
  const auto expected = expected_tensors(config);
  int64_t parameters = 0;
  for (const auto& [name, shape] : expected) parameters += shape_numel(shape);
  EXPECT_EQ(expected.size(), 704u);
  EXPECT_EQ(parameters, 10'292'777'472);
}

TEST(LoaderWeights, LoadsTransformers5DirectoryZeroCopy) {
  ScratchDir dir;
  testing::write_model_dir(dir);
  const ModelConfig config = load_model_config(dir.str());
  const ModelWeights weights = ModelWeights::load(dir.str(), config);
  expect_complete(weights, config);
  EXPECT_TRUE(weights.unused().empty());
  EXPECT_FALSE(weights.lm_head_tied());
  EXPECT_EQ(weights.copied_for_alignment(), 0);
  EXPECT_EQ(weights.files(), (std::vector<std::string>{dir.file("model.safetensors")}));
  EXPECT_EQ(weights.get("model.language_model.norm.weight").dtype(), DType::kBF16);
}

TEST(LoaderWeights, LoadsTransformers4DirectoryWithOldNames) {
  ScratchDir dir;
  testing::write_model_dir(dir, {.config_json = testing::kConfig4x, .old_names = true});
  const ModelConfig config = load_model_config(dir.str());
  const ModelWeights weights = ModelWeights::load(dir.str(), config);
  expect_complete(weights, config);
  EXPECT_TRUE(weights.unused().empty());

  // Same bytes as the new spelling, under canonical names.
  ScratchDir other;
  testing::write_model_dir(other, {.config_json = testing::kConfig4x});
  const ModelWeights reference = load_dir(other);
  for (const auto& [name, tensor] : reference.all()) {
    const Tensor& t = weights.get(name);
    ASSERT_EQ(t.nbytes(), tensor.nbytes()) << name;
    EXPECT_EQ(std::memcmp(t.raw_data(), tensor.raw_data(), t.nbytes()), 0) << name;
  }
}

TEST(LoaderWeights, CanonicalNames) {
  EXPECT_EQ(canonical_weight_name("visual.blocks.0.norm1.weight"),
            "model.visual.blocks.0.norm1.weight");
  EXPECT_EQ(canonical_weight_name("model.layers.3.mlp.down_proj.weight"),
            "model.language_model.layers.3.mlp.down_proj.weight");
  EXPECT_EQ(canonical_weight_name("model.embed_tokens.weight"),
            "model.language_model.embed_tokens.weight");
  EXPECT_EQ(canonical_weight_name("model.visual.post_layernorm.weight"),
            "model.visual.post_layernorm.weight");
  EXPECT_EQ(canonical_weight_name("model.language_model.norm.weight"),
            "model.language_model.norm.weight");
  EXPECT_EQ(canonical_weight_name("lm_head.weight"), "lm_head.weight");
}

TEST(LoaderWeights, LoadsShardedDirectory) {
  ScratchDir dir;
  testing::write_model_dir(dir, {.dtype = DType::kF32, .shards = 3});
  const ModelConfig config = load_model_config(dir.str());
  const ModelWeights weights = ModelWeights::load(dir.str(), config);
  expect_complete(weights, config);
  EXPECT_EQ(weights.files().size(), 3u);
  EXPECT_EQ(weights.get("lm_head.weight").dtype(), DType::kF32);
}

TEST(LoaderWeights, TiesLmHeadOnlyWhenTheCheckpointHasNone) {
  const std::string tied = testing::tied_config_5x();
  {
    ScratchDir dir;
    testing::write_model_dir(dir, {.config_json = tied.c_str(), .include_lm_head = false});
    const ModelWeights weights = load_dir(dir);
    EXPECT_TRUE(weights.lm_head_tied());
    EXPECT_EQ(weights.get("lm_head.weight").raw_data(),
              weights.get("model.language_model.embed_tokens.weight").raw_data());
    EXPECT_TRUE(weights.unused().empty());
  }
  {  // transformers 5.17 keeps a checkpoint's own lm_head even when the config says tie
    ScratchDir dir;
    testing::write_model_dir(dir, {.config_json = tied.c_str()});
    const ModelWeights weights = load_dir(dir);
    EXPECT_FALSE(weights.lm_head_tied());
    EXPECT_NE(weights.get("lm_head.weight").raw_data(),
              weights.get("model.language_model.embed_tokens.weight").raw_data());
  }
  {
    ScratchDir dir;
    testing::write_model_dir(dir, {.include_lm_head = false});
    expect_error([&] { load_dir(dir); }, ErrorKind::kNotFound,
                 dir.str() + ": 1 tensor(s) the config needs are missing: 'lm_head.weight'");
  }
}

TEST(LoaderWeights, ReportsUnusedTensorsWithoutFailing) {
  ScratchDir dir;
  testing::write_model_dir(
      dir, {.edit = [](auto& tensors) {
        tensors.push_back(testing::patterned_tensor("model.language_model.layers.2.mtp.weight",
                                                    DType::kBF16, {4}));
        tensors.push_back(testing::patterned_tensor("visual.extra", DType::kF32, {1}));
      }});
  const ModelWeights weights = load_dir(dir);
  EXPECT_EQ(weights.unused(),
            (std::vector<std::string>{"model.language_model.layers.2.mtp.weight", "visual.extra"}));
}

TEST(LoaderWeights, NamesMissingTensors) {
  ScratchDir dir;
  testing::write_model_dir(dir, {.edit = [](auto& tensors) {
                             std::erase_if(tensors, [](const auto& t) {
                               return t.name.find("layers.1.") != std::string::npos;
                             });
                           }});
  expect_error([&] { load_dir(dir); }, ErrorKind::kNotFound,
               dir.str() +
                   ": 13 tensor(s) the config needs are missing: "
                   "'model.language_model.layers.1.input_layernorm.weight', "
                   "'model.language_model.layers.1.mlp.down_proj.weight', "
                   "'model.language_model.layers.1.mlp.gate_up_proj.weight', "
                   "'model.language_model.layers.1.post_attention_layernorm.weight', "
                   "'model.language_model.layers.1.post_mlp_layernorm.weight' and 8 more");
}

TEST(LoaderWeights, NamesWronglyShapedTensor) {
  ScratchDir dir;
  testing::write_model_dir(
      dir, {.config_json = testing::kConfig4x, .old_names = true, .edit = [](auto& tensors) {
              for (auto& t : tensors)
                if (t.name == "model.layers.0.self_attn.k_proj.weight")
                  t = testing::patterned_tensor(t.name, t.dtype, {64, 64});
            }});
  expect_error(
      [&] { load_dir(dir); }, ErrorKind::kCorrupt,
      "model.safetensors: tensor 'model.layers.0.self_attn.k_proj.weight': shape [64, 64], "
      "but the config needs [32, 64]");
}

TEST(LoaderWeights, RefusesNonFloatAndFp8Weights) {
  auto with_dtype = [](DType dtype) {
    return [dtype](std::vector<testing::TensorSpec>& tensors) {
      for (auto& t : tensors)
        if (t.name == "model.language_model.norm.weight")
          t = testing::patterned_tensor(t.name, dtype, t.shape);
    };
  };
  {
    ScratchDir dir;
    testing::write_model_dir(dir, {.edit = with_dtype(DType::kF8E4M3)});
    expect_error(
        [&] { load_dir(dir); }, ErrorKind::kUnsupported,
        "model.safetensors: tensor 'model.language_model.norm.weight': dtype F8_E4M3 is not "
        "supported yet (weights must be F32, BF16 or F16)");
  }
  {
    ScratchDir dir;
    testing::write_model_dir(dir, {.edit = with_dtype(DType::kI32)});
    expect_error([&] { load_dir(dir); }, ErrorKind::kCorrupt,
                 "model.safetensors: tensor 'model.language_model.norm.weight': dtype I32 is not a "
                 "floating-point weight type (expected F32, BF16 or F16)");
  }
}

TEST(LoaderWeights, RefusesTheSameWeightUnderBothSpellings) {
  ScratchDir dir;
  testing::write_model_dir(dir, {.edit = [](auto& tensors) {
                             tensors.push_back(testing::patterned_tensor(
                                 "visual.post_layernorm.weight", DType::kBF16, {24}));
                           }});
  expect_error(
      [&] { load_dir(dir); }, ErrorKind::kCorrupt,
      "model.safetensors: tensor 'visual.post_layernorm.weight' is also in model.safetensors "
      "as 'model.visual.post_layernorm.weight'");
}

TEST(LoaderWeights, ShardErrorsNameTheIndexAndShard) {
  {
    ScratchDir dir;
    testing::write_model_dir(dir, {.shards = 2});
    std::filesystem::remove(dir.file("model-00002-of-00002.safetensors"));
    try {
      load_dir(dir);
      ADD_FAILURE() << "expected an error";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
      EXPECT_TRUE(std::string(e.what()).starts_with(
          "model.safetensors.index.json: shard 'model-00002-of-00002.safetensors' (holding '"))
          << e.what();
    }
  }
  {
    ScratchDir dir;
    testing::write_model_dir(dir, {.shards = 2});
    dir.write("model.safetensors.index.json",
              R"({"weight_map": {"lm_head.weight": "../x.safetensors"}})");
    expect_error(
        [&] { load_dir(dir); }, ErrorKind::kCorrupt,
        "model.safetensors.index.json: weight_map.lm_head.weight: '../x.safetensors' is not "
        "a file name in the model directory");
  }
  {
    ScratchDir dir;
    testing::write_model_dir(dir, {.shards = 2});
    dir.write("model.safetensors.index.json",
              R"({"weight_map": {"lm_head.weight": "model-00001-of-00002.safetensors",
                                 "ghost.weight": "model-00002-of-00002.safetensors"}})");
    expect_error([&] { load_dir(dir); }, ErrorKind::kCorrupt,
                 "model.safetensors.index.json: tensor 'ghost.weight' is listed in shard "
                 "'model-00002-of-00002.safetensors' but is not in it");
  }
  {
    ScratchDir dir;
    dir.write("config.json", testing::kConfig5x);
    expect_error(
        [&] { load_dir(dir); }, ErrorKind::kNotFound,
        dir.str() + ": neither model.safetensors nor model.safetensors.index.json is there");
  }
}

// The golden directories are committed by the reference tooling; their absence is a failure.
void expect_golden_loads(const std::string& name, const std::string& model_type, double rope_theta,
                         std::vector<int64_t> mrope_section) {
  const std::string dir = std::string(GLIMPSE_SOURCE_DIR) + "/tests/golden/models/" + name;
  ASSERT_TRUE(std::filesystem::exists(dir + "/config.json")) << dir << " is missing";
  const ModelConfig config = load_model_config(dir);
  EXPECT_EQ(config.model_type, model_type);
  EXPECT_DOUBLE_EQ(config.text.rope_theta, rope_theta);
  EXPECT_DOUBLE_EQ(config.text.partial_rotary_factor, 0.5);
  EXPECT_EQ(config.text.mrope_section, mrope_section);
  const ModelWeights weights = ModelWeights::load(dir, config);
  expect_complete(weights, config);
  EXPECT_TRUE(weights.unused().empty());
  EXPECT_EQ(weights.copied_for_alignment(), 0);
}

TEST(LoaderWeights, LoadsGoldenTinyA5xSpelling) {
  expect_golden_loads("tiny-a", "glm46v", 10000.0, {2, 3, 3});
}

TEST(LoaderWeights, LoadsGoldenTinyB4xSpelling) {
  expect_golden_loads("tiny-b", "glm4v", 500000.0, {2, 2, 2});
}

}  // namespace
}  // namespace glimpse::model
