// Shared helpers of the loader tests: scratch directories, small GLM-4.6V configs in both
// transformers spellings, and model directories written from expected_tensors().
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "core/error.h"
#include "model/config.h"
#include "model/weights.h"
#include "safetensors_writer.h"

namespace glimpse::testing {

// A fresh directory for one test, removed afterwards.
class ScratchDir {
 public:
  ScratchDir() {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            (std::string("glimpse_loader_") + test->test_suite_name() + "_" + test->name() + "_" +
             std::to_string(::getpid()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  std::string str() const { return path_.string(); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(path_ / name, std::ios::binary) << text;
  }

 private:
  std::filesystem::path path_;
};

// A small model in the transformers 5.x spelling (as save_pretrained of 5.17 writes it):
// text head_dim 16, rotary dim 8, mrope [1, 1, 2]; vision blocks MLP 64 wide, merger 40 wide.
inline const char* kConfig5x = R"({
  "architectures": ["Glm46VForConditionalGeneration"],
  "model_type": "glm46v",
  "dtype": "bfloat16",
  "image_token_id": 60, "video_token_id": 61,
  "image_start_token_id": 56, "image_end_token_id": 57,
  "video_start_token_id": 58, "video_end_token_id": 59,
  "tie_word_embeddings": false,
  "text_config": {
    "model_type": "glm4v_text", "vocab_size": 64, "hidden_size": 64, "intermediate_size": 48,
    "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
    "max_position_embeddings": 256, "rms_norm_eps": 1e-05, "hidden_act": "silu",
    "pad_token_id": null, "eos_token_id": [62, 63],
    "rope_parameters": {"rope_type": "default", "rope_theta": 500000.0,
                        "partial_rotary_factor": 0.5, "mrope_section": [1, 1, 2]}
  },
  "vision_config": {
    "model_type": "glm4v_vision", "depth": 2, "hidden_size": 24, "num_heads": 2,
    "intermediate_size": 40, "out_hidden_size": 64, "image_size": 28, "patch_size": 14,
    "temporal_patch_size": 2, "spatial_merge_size": 2, "in_channels": 3, "rms_norm_eps": 1e-05,
    "attention_bias": true, "hidden_act": "silu",
    "rope_parameters": {"rope_type": "axial", "rope_theta": 10000.0}
  }
})";

// The same model in the transformers 4.x spelling (rope_scaling with "type", rope_theta and
// partial_rotary_factor beside it, torch_dtype), as model_type glm4v.
inline const char* kConfig4x = R"({
  "architectures": ["Glm4vForConditionalGeneration"],
  "model_type": "glm4v",
  "torch_dtype": "bfloat16",
  "image_token_id": 60, "video_token_id": 61,
  "image_start_token_id": 56, "image_end_token_id": 57,
  "video_start_token_id": 58, "video_end_token_id": 59,
  "text_config": {
    "vocab_size": 64, "hidden_size": 64, "intermediate_size": 48,
    "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
    "max_position_embeddings": 256, "rms_norm_eps": 1e-05, "hidden_act": "silu",
    "attention_bias": true, "eos_token_id": [62, 63],
    "partial_rotary_factor": 0.5, "rope_theta": 500000.0,
    "rope_scaling": {"type": "default", "mrope_section": [1, 1, 2]}
  },
  "vision_config": {
    "depth": 2, "hidden_size": 24, "num_heads": 2, "intermediate_size": 40,
    "out_hidden_size": 64, "image_size": 28, "patch_size": 14, "temporal_patch_size": 2,
    "spatial_merge_size": 2, "attention_bias": true
  }
})";

// The 4.x-era tensor names: visual.* at top level, the text model directly under model.*.
inline std::string old_spelling(const std::string& canonical) {
  const std::string visual = "model.visual.", text = "model.language_model.";
  if (canonical.rfind(visual, 0) == 0) return canonical.substr(6);
  if (canonical.rfind(text, 0) == 0) return "model." + canonical.substr(text.size());
  return canonical;
}

struct ModelDirOptions {
  const char* config_json = kConfig5x;
  DType dtype = DType::kBF16;
  bool old_names = false;
  bool include_lm_head = true;
  int shards = 1;  // > 1 writes model-0000k-of-0000n.safetensors and the index
  // Applied to the tensor list before writing (drop, add or reshape tensors).
  std::function<void(std::vector<TensorSpec>&)> edit;
};

// Writes config.json and safetensors holding every tensor expected_tensors() names.
inline void write_model_dir(const ScratchDir& dir, const ModelDirOptions& options = {}) {
  dir.write("config.json", options.config_json);
  const model::ModelConfig config = model::load_model_config(dir.str());
  std::vector<TensorSpec> tensors;
  uint32_t seed = 1;
  for (const auto& [name, shape] : model::expected_tensors(config)) {
    if (name == "lm_head.weight" && !options.include_lm_head) continue;
    tensors.push_back(patterned_tensor(options.old_names ? old_spelling(name) : name, options.dtype,
                                       shape, seed++));
  }
  if (options.edit) options.edit(tensors);
  if (options.shards <= 1) {
    write_safetensors(dir.file("model.safetensors"), tensors, {{"format", "pt"}});
    return;
  }
  nlohmann::json index = {{"metadata", {{"total_size", 0}}},
                          {"weight_map", nlohmann::json::object()}};
  const size_t per_shard = (tensors.size() + size_t(options.shards) - 1) / size_t(options.shards);
  for (int s = 0; s < options.shards; ++s) {
    const std::string shard =
        fmt::format("model-{:05d}-of-{:05d}.safetensors", s + 1, options.shards);
    std::vector<TensorSpec> part;
    for (size_t i = size_t(s) * per_shard; i < tensors.size() && i < size_t(s + 1) * per_shard;
         ++i) {
      part.push_back(tensors[i]);
      index["weight_map"][tensors[i].name] = shard;
    }
    write_safetensors(dir.file(shard), part);
  }
  dir.write("model.safetensors.index.json", index.dump(1));
}

// `text` with its one occurrence of `from` replaced (fails the test if there is none).
inline std::string replace_once(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "'" << from << "' not found";
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

inline std::string tied_config_5x() {
  return replace_once(kConfig5x, "\"tie_word_embeddings\": false", "\"tie_word_embeddings\": true");
}

// Runs fn, expecting a glimpse::Error of `kind` whose message equals `message`.
template <typename Fn>
void expect_error(Fn&& fn, ErrorKind kind, const std::string& message) {
  try {
    fn();
    ADD_FAILURE() << "expected an error: " << message;
  } catch (const Error& e) {
    EXPECT_EQ(to_string(e.kind()), std::string(to_string(kind))) << e.what();
    EXPECT_EQ(std::string(e.what()), message);
  }
}

}  // namespace glimpse::testing
