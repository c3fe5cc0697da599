// What `glimpse info` reports about a loaded model directory: parameters and bytes per component,
// dtypes, context length, special token ids and the KV cache cost of one token.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/weights.h"

namespace glimpse::model {

struct ComponentInfo {
  std::string name;  // "vision", "merger", "text", "lm_head"
  int64_t tensors = 0;
  int64_t parameters = 0;
  uint64_t bytes = 0;
  std::vector<std::string> dtypes;  // sorted, distinct ("BF16")
};

struct SpecialTokenInfo {
  std::string role;  // "image", "eos", ...
  int64_t id = 0;
  std::string text;  // from tokenizer_config.json / tokenizer.json; empty when unknown
};

struct ModelInfo {
  std::string model_dir;
  ModelConfig config;
  std::vector<std::string> files;
  int64_t copied_for_alignment = 0;
  // vision = model.visual.* except the merger (so patch embedding, blocks, downsample conv);
  // merger = model.visual.merger.*; text = model.language_model.*; lm_head counts zero when tied.
  std::vector<ComponentInfo> components;
  int64_t total_parameters = 0;
  uint64_t total_bytes = 0;
  bool lm_head_tied = false;
  std::vector<SpecialTokenInfo> special_tokens;
  // 2 (K and V) x layers x KV heads x head_dim x element size: the cache in the dtype of the text
  // weights (what a GPU backend keeps) and in F32 (what the CPU path keeps).
  std::string kv_dtype;
  uint64_t kv_bytes_per_token = 0;
  uint64_t kv_bytes_per_token_f32 = 0;
  std::vector<std::string> unused_tensors;
};

// Summarises a loaded model; reads DIR/tokenizer_config.json (else DIR/tokenizer.json) only to
// name the special tokens. Throws Error naming the file if one of them is not valid JSON.
ModelInfo describe_model(const std::string& model_dir, const ModelConfig& config,
                         const ModelWeights& weights);

std::string info_to_json(const ModelInfo& info);  // pretty-printed, one object
std::string info_to_text(const ModelInfo& info);  // a human table

}  // namespace glimpse::model
