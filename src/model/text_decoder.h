// The GLM-4 text decoder: token embedding, layers of (RMSNorm → attention with partial 3-D M-RoPE
// and GQA over the KV cache → RMSNorm, residual; RMSNorm → SwiGLU MLP → RMSNorm, residual), final
// RMSNorm and lm_head. Matrices stay in the checkpoint dtype; see glm4v_weights.h.
#pragma once

#include <functional>
#include <span>
#include <vector>

#include "model/config.h"
#include "model/glm4v.h"
#include "model/glm4v_weights.h"
#include "model/weights.h"
#include "ops/elementwise.h"
#include "ops/rotary.h"

namespace glimpse::model {

class TextDecoder {
 public:
  // Prepares the weights and places them as `place` says (device, matrix dtype).
  TextDecoder(const ModelWeights& weights, const TextConfig& config, const WeightPlacement& place);

  // f32 [ids.size(), hidden]; ids outside the vocabulary throw Error(kInvalidArgument).
  Tensor embed(std::span<const int32_t> ids) const;

  // Runs every layer over `hidden` (f32 [n, hidden]) at `positions` (int64 [3, n], host), appending
  // the n tokens to `cache`. Returns logits f32 [1, vocab] for the last token, or [n, vocab] when
  // all_logits, on the model's device.
  Tensor forward(Tensor hidden, const Tensor& positions, KvCache& cache, bool all_logits) const;

  // Where a layer's attention reads and writes keys and values. Given one layer's rotated queries
  // f32 [n, heads, head_dim] and the new tokens' rotated keys and values f32 [n, kv_heads,
  // head_dim], stores the keys/values and returns the attention output f32 [n, heads·head_dim].
  using AttendFn =
      std::function<Tensor(int64_t layer, const Tensor& q, const Tensor& k, const Tensor& v)>;

  // The layers over `hidden` (f32 [n, hidden]) at `positions`, attention through `attend`;
  // returns the last layer's hidden states, before the final norm.
  Tensor run_layers(Tensor hidden, const Tensor& positions, const AttendFn& attend) const;
  // The same with the rotary tables of the positions already made (on the model's device).
  Tensor run_layers(Tensor hidden, const ops::RotaryTables& rotary, const AttendFn& attend) const;
  // Final norm and lm_head: f32 [rows, vocab] for hidden f32 [rows, hidden].
  Tensor logits(const Tensor& hidden) const;

  KvCache new_cache(int64_t capacity) const;
  Device device() const { return device_; }
  int64_t head_dim() const { return head_dim_; }
  float attention_scale() const;
  // What a caller that keeps its own inputs on the GPU (model/decode_graphs) embeds and rotates
  // with: the embedding table as stored, and each rotary pair's M-RoPE axis and frequency.
  const Tensor& embedding_table() const { return embed_tokens_; }
  std::span<const int32_t> rotary_pair_axis() const { return pair_axis_; }
  std::span<const float> rotary_inv_freq() const { return inv_freq_; }

 private:
  struct Layer {
    Tensor input_norm, post_self_attn_norm, post_attention_norm, post_mlp_norm;
    Tensor qkv_weight, qkv_bias;  // q_proj, k_proj, v_proj stacked: one GEMM
    Tensor o_weight;
    Tensor gate_up_weight, down_weight;
  };

  Tensor attention(const Layer& layer, int64_t index, const Tensor& x, const Tensor& cos,
                   const Tensor& sin, const AttendFn& attend) const;

  TextConfig config_;
  Device device_;
  ops::Activation act_;
  int64_t head_dim_;
  Tensor embed_tokens_;  // as stored (bf16/f16/f32): rows are upcast when gathered
  std::vector<float> inv_freq_;
  // M-RoPE axis (0 t, 1 h, 2 w) of each rotary pair: pair i turns with the position of the axis
  // its mrope_section chunk belongs to.
  std::vector<int32_t> pair_axis_;
  std::vector<Layer> layers_;
  Tensor final_norm_, lm_head_;
};

}  // namespace glimpse::model
