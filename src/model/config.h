// The model's hyper-parameters, read from a Hugging Face GLM-4.6V directory (config.json in the
// transformers 4.x or 5.x spelling, generation_config.json when present).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace glimpse::model {

struct VisionConfig {
  int64_t depth = 0;
  int64_t hidden_size = 0;
  int64_t num_heads = 0;
  // As in modeling_glm4v: the vision blocks' MLP is hidden_size -> out_hidden_size -> hidden_size,
  // and intermediate_size is the width of the patch merger's gate/up projections.
  int64_t intermediate_size = 0;
  int64_t out_hidden_size = 0;  // the merger's width and output = the text hidden size
  int64_t in_channels = 3;
  int64_t image_size = 336;  // the learned position table covers (image_size / patch_size)^2 cells
  int64_t patch_size = 14;
  int64_t temporal_patch_size = 2;
  int64_t spatial_merge_size = 2;
  double rms_norm_eps = 1e-5;
  bool attention_bias = false;  // bias on the blocks' fused qkv projection
  std::string hidden_act = "silu";
  double rope_theta = 10000.0;  // the axial 2-D rotary embedding of the vision attention

  int64_t head_dim() const { return hidden_size / num_heads; }
};

struct TextConfig {
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;  // hidden_size / num_attention_heads (a config head_dim must agree)
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-5;
  // Bias on q/k/v: the reference builds it whatever the config says, so it is always true.
  bool attention_bias = true;
  std::string hidden_act = "silu";
  double rope_theta = 10000.0;
  double partial_rotary_factor = 1.0;  // GLM-4.6V configs say 0.5; 1.0 is the reference default
  std::vector<int64_t> mrope_section;  // sums to rotary_dim / 2 (checked at load)
  int64_t rotary_dim() const { return int64_t(double(head_dim) * partial_rotary_factor); }
};

struct GenerationDefaults {
  std::vector<int64_t> eos_token_ids;
  std::optional<int64_t> pad_token_id;
  std::optional<double> temperature, top_p;
  std::optional<int64_t> top_k;
  std::optional<bool> do_sample;
};

struct ModelConfig {
  std::string model_type;    // "glm4v" or "glm46v"
  std::string architecture;  // "Glm4vForConditionalGeneration" / "Glm46VForConditionalGeneration"
  VisionConfig vision;
  TextConfig text;
  int64_t image_token_id = 0, video_token_id = 0;
  int64_t image_start_token_id = 0, image_end_token_id = 0;
  int64_t video_start_token_id = 0, video_end_token_id = 0;
  bool tie_word_embeddings = false;
  std::string torch_dtype;  // as declared ("bfloat16"), informational
  GenerationDefaults generation;
};

// Reads DIR/config.json (+ DIR/generation_config.json). Throws Error naming the file and the
// field ("config.json: text_config.num_attention_heads: expected an integer, got string").
ModelConfig load_model_config(const std::string& model_dir);
// The same from the text of a config.json alone (no generation_config.json), for tests and fuzzing.
ModelConfig parse_model_config(const std::string& config_json);

}  // namespace glimpse::model
