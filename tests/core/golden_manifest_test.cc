// Consistency of tests/golden (written by tools/reference/generate.py): every file the manifest
// names exists, array shapes match the manifest, each other and the model configs, so a broken
// or partial regeneration fails here instead of inside the parity tests.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/npy.h"

namespace glimpse {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int kGreedySteps = 16;
constexpr int kTopK = 5;
constexpr size_t kMinCorpusEntries = 2000;

const fs::path& golden_dir() {
  static const fs::path dir = fs::path(GLIMPSE_SOURCE_DIR) / "tests" / "golden";
  return dir;
}

json read_json(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  return json::parse(in);
}

struct ModelFacts {
  int64_t vocab_size = 0;
  int64_t text_hidden = 0;
  int64_t image_token_id = 0;
  int64_t merge = 0;
  int64_t patch_dim = 0;  // in_channels * temporal_patch_size * patch_size^2
};

ModelFacts read_model(const fs::path& dir) {
  const json config = read_json(dir / "config.json");
  const json& text = config.at("text_config");
  const json& vision = config.at("vision_config");
  const int64_t patch = vision.at("patch_size").get<int64_t>();
  return {text.at("vocab_size").get<int64_t>(), text.at("hidden_size").get<int64_t>(),
          config.at("image_token_id").get<int64_t>(),
          vision.at("spatial_merge_size").get<int64_t>(),
          vision.at("in_channels").get<int64_t>() *
              vision.at("temporal_patch_size").get<int64_t>() * patch * patch};
}

class GoldenManifest : public ::testing::Test {
 protected:
  void SetUp() override {
    manifest_ = read_json(golden_dir() / "manifest.json");
    for (const auto& [name, rel] : manifest_.at("models").items()) {
      models_[name] = read_model(golden_dir() / rel.get<std::string>());
    }
  }
  json manifest_;
  std::map<std::string, ModelFacts> models_;
};

TEST_F(GoldenManifest, ModelDirectoriesHaveTheHuggingFaceFiles) {
  ASSERT_GE(models_.size(), 2u);
  for (const auto& [name, rel] : manifest_.at("models").items()) {
    const fs::path dir = golden_dir() / rel.get<std::string>();
    for (const char* file : {"config.json", "model.safetensors", "tokenizer.json",
                             "tokenizer_config.json", "chat_template.jinja"}) {
      EXPECT_TRUE(fs::is_regular_file(dir / file)) << name << ": missing " << file;
    }
    EXPECT_TRUE(fs::is_regular_file(dir / "processor_config.json") ||
                fs::is_regular_file(dir / "preprocessor_config.json"))
        << name << ": no processor config";
    EXPECT_EQ(models_.at(name).image_token_id,
              manifest_.at("special_token_ids").at("<|image|>").get<int64_t>())
        << name;
  }
}

// Shapes of one case's arrays against each other and against its model's config.
void check_case(const json& entry, const ModelFacts& model) {
  const std::string id = entry.at("id");
  SCOPED_TRACE("case " + id);
  const json& files = entry.at("files");
  for (const auto& [name, rel] : files.items()) {
    ASSERT_TRUE(fs::is_regular_file(golden_dir() / rel.get<std::string>())) << name;
  }
  ASSERT_TRUE(fs::is_regular_file(golden_dir() / entry.at("messages").get<std::string>()));
  std::map<std::string, Tensor> arrays;
  for (const auto& [name, shape] : entry.at("shapes").items()) {
    Tensor array = read_npy((golden_dir() / files.at(name).get<std::string>()).string());
    EXPECT_EQ(array.shape(), shape.get<Shape>()) << name;
    const DType expected = (name == "pixel_values" || name == "vision_embeds" || name == "logits")
                               ? DType::kF32
                               : DType::kI64;
    EXPECT_EQ(array.dtype(), expected) << name;
    arrays.emplace(name, std::move(array));
  }

  const Tensor& ids = arrays.at("input_ids");
  const Tensor& positions = arrays.at("position_ids");
  ASSERT_EQ(ids.dim(), 1);
  ASSERT_EQ(positions.shape(), (Shape{3, ids.size(0)}));
  EXPECT_EQ(arrays.at("logits").shape(), (Shape{model.vocab_size}));

  int64_t image_tokens = 0;
  for (int64_t i = 0; i < ids.numel(); ++i) {
    const int64_t token = ids.data<int64_t>()[i];
    EXPECT_TRUE(token >= 0 && token < model.vocab_size) << "input_ids[" << i << "] = " << token;
    image_tokens += token == model.image_token_id;
  }

  const size_t n_images = entry.at("images").size();
  for (const json& image : entry.at("images")) {
    EXPECT_TRUE(fs::is_regular_file(golden_dir() / image.get<std::string>())) << image;
  }
  if (n_images == 0) {
    EXPECT_EQ(image_tokens, 0);
    for (const char* name : {"image_grid_thw", "pixel_values", "vision_embeds"}) {
      EXPECT_FALSE(files.contains(name)) << name << " in a text-only case";
    }
    return;
  }
  const Tensor& grids = arrays.at("image_grid_thw");
  ASSERT_EQ(grids.shape(), (Shape{int64_t(n_images), 3}));
  int64_t patches = 0;
  for (size_t i = 0; i < n_images; ++i) {
    const int64_t* thw = grids.data<int64_t>() + 3 * i;
    EXPECT_EQ(thw[1] % model.merge, 0);
    EXPECT_EQ(thw[2] % model.merge, 0);
    patches += thw[0] * thw[1] * thw[2];
  }
  EXPECT_EQ(arrays.at("pixel_values").shape(), (Shape{patches, model.patch_dim}));
  const int64_t merged = patches / (model.merge * model.merge);
  EXPECT_EQ(image_tokens, merged);
  EXPECT_EQ(arrays.at("vision_embeds").shape(), (Shape{merged, model.text_hidden}));
}

void check_greedy(const json& entry, const ModelFacts& model) {
  SCOPED_TRACE("case " + entry.at("id").get<std::string>());
  const json greedy = read_json(golden_dir() / entry.at("files").at("greedy").get<std::string>());
  const json& tokens = greedy.at("tokens");
  const json& steps = greedy.at("steps");
  ASSERT_EQ(tokens.size(), size_t(kGreedySteps));
  ASSERT_EQ(steps.size(), size_t(kGreedySteps));
  EXPECT_TRUE(greedy.at("text").is_string());
  for (int i = 0; i < kGreedySteps; ++i) {
    const json& step = steps[i];
    const int64_t token = step.at("token").get<int64_t>();
    EXPECT_EQ(token, tokens[i].get<int64_t>()) << "step " << i;
    EXPECT_TRUE(token >= 0 && token < model.vocab_size) << "step " << i;
    const json& top = step.at("top5");
    ASSERT_EQ(top.size(), size_t(kTopK)) << "step " << i;
    EXPECT_EQ(top[0][0].get<int64_t>(), token) << "greedy must pick the top entry, step " << i;
    EXPECT_EQ(top[0][1].get<double>(), step.at("logprob").get<double>()) << "step " << i;
    for (int k = 0; k < kTopK; ++k) {
      const double logprob = top[k][1].get<double>();
      EXPECT_LE(logprob, 0.0);
      if (k > 0) {
        EXPECT_LE(logprob, top[k - 1][1].get<double>()) << "step " << i << " rank " << k;
      }
    }
  }
}

TEST_F(GoldenManifest, CasesAreConsistent) {
  const json& cases = manifest_.at("cases");
  ASSERT_FALSE(cases.empty());
  size_t image_cases = 0;
  for (const json& entry : cases) {
    const std::string model = entry.at("model");
    ASSERT_TRUE(models_.contains(model)) << entry.at("id") << ": unknown model " << model;
    check_case(entry, models_.at(model));
    check_greedy(entry, models_.at(model));
    image_cases += !entry.at("images").empty();
  }
  EXPECT_GT(image_cases, 0u);
  EXPECT_LT(image_cases, cases.size());
}

TEST_F(GoldenManifest, TokenizerCorpusIsLargeAndWellFormed) {
  const json corpus = read_json(golden_dir() / manifest_.at("tokenizer_corpus").get<std::string>());
  const fs::path tokenizer_dir = golden_dir() / corpus.at("tokenizer").get<std::string>();
  ASSERT_TRUE(fs::is_regular_file(tokenizer_dir / "tokenizer.json"));
  const json tokenizer = read_json(tokenizer_dir / "tokenizer.json");
  const size_t tokenizer_size =
      tokenizer.at("model").at("vocab").size() + tokenizer.at("added_tokens").size();
  const json& entries = corpus.at("entries");
  EXPECT_GE(entries.size(), kMinCorpusEntries);
  EXPECT_EQ(entries.size(), manifest_.at("tokenizer_corpus_size").get<size_t>());
  for (const json& entry : entries) {
    ASSERT_TRUE(entry.at("text").is_string());
    ASSERT_TRUE(entry.at("decoded").is_string());
    ASSERT_TRUE(entry.at("decoded_skip_special").is_string());
    for (const json& id : entry.at("ids")) {
      ASSERT_LT(id.get<size_t>(), tokenizer_size) << entry.at("text");
    }
  }
}

}  // namespace
}  // namespace glimpse
