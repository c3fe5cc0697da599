#include "model/text_decoder.h"

#include <cmath>

#include "core/device_copy.h"

#include "model/glm4v_weights.h"
#include "ops/attention.h"
#include "ops/embedding.h"
#include "ops/fused.h"
#include "ops/linear.h"
#include "ops/norms.h"
#include "ops/rotary.h"

namespace glimpse::model {

TextDecoder::TextDecoder(const ModelWeights& weights, const TextConfig& config,
                         const WeightPlacement& place)
    : config_(config), device_(place.device), act_(ops::parse_activation(config.hidden_act, "text_config.hidden_act")) {
  const std::string p = "model.language_model.";
  head_dim_ =
      config.head_dim > 0 ? config.head_dim : config.hidden_size / config.num_attention_heads;
  const int64_t rotary_dim = int64_t(double(head_dim_) * config.partial_rotary_factor);
  if (rotary_dim % 2 != 0 || rotary_dim > head_dim_)
    fail(ErrorKind::kCorrupt,
         "config.json: rotary dim {} (head_dim {} × partial_rotary_factor {}) must be even and "
         "at most head_dim",
         rotary_dim, head_dim_, config.partial_rotary_factor);
  for (int64_t i = 0; i < rotary_dim; i += 2)
    inv_freq_.push_back(float(1.0 / std::pow(config.rope_theta, double(i) / double(rotary_dim))));
  // Chunk j of mrope_section rotates with axis j % 3; without a section every pair uses axis 0
  // (all three axes are equal for text-only prompts).
  for (size_t j = 0; j < config.mrope_section.size(); ++j)
    for (int64_t k = 0; k < config.mrope_section[j]; ++k) pair_axis_.push_back(int32_t(j % 3));
  if (config.mrope_section.empty()) pair_axis_.assign(inv_freq_.size(), 0);
  if (pair_axis_.size() != inv_freq_.size())
    fail(ErrorKind::kCorrupt,
         "config.json: mrope_section covers {} rotary pairs, the rotary dim {} has {}",
         pair_axis_.size(), rotary_dim, inv_freq_.size());

  embed_tokens_ = place.matrix(weights.get(p + "embed_tokens.weight"));
  for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
    const std::string l = p + "layers." + std::to_string(i) + ".";
    Layer layer;
    layer.input_norm = place.vector(f32_weight(weights, l + "input_layernorm.weight"));
    layer.post_self_attn_norm =
        place.vector(f32_weight(weights, l + "post_self_attn_layernorm.weight"));
    layer.post_attention_norm =
        place.vector(f32_weight(weights, l + "post_attention_layernorm.weight"));
    layer.post_mlp_norm = place.vector(f32_weight(weights, l + "post_mlp_layernorm.weight"));
    const std::string a = l + "self_attn.";
    layer.qkv_weight = place.matrix(
        stacked_weights(weights, {a + "q_proj.weight", a + "k_proj.weight", a + "v_proj.weight"}));
    layer.qkv_bias = place.vector(concatenated_f32_vectors(
        weights, {a + "q_proj.bias", a + "k_proj.bias", a + "v_proj.bias"}));
    layer.o_weight = place.matrix(weights.get(a + "o_proj.weight"));
    layer.gate_up_weight = place.matrix(weights.get(l + "mlp.gate_up_proj.weight"));
    layer.down_weight = place.matrix(weights.get(l + "mlp.down_proj.weight"));
    const int64_t expected_rows =
        (config.num_attention_heads + 2 * config.num_key_value_heads) * head_dim_;
    if (layer.qkv_weight.size(0) != expected_rows)
      fail(ErrorKind::kCorrupt,
           "{}: q/k/v projections have {} rows, {} heads + 2 × {} KV heads × {} need {}", a,
           layer.qkv_weight.size(0), config.num_attention_heads, config.num_key_value_heads,
           head_dim_, expected_rows);
    layers_.push_back(std::move(layer));
  }
  final_norm_ = place.vector(f32_weight(weights, p + "norm.weight"));
  // A tied head is the embedding table itself: placed once.
  lm_head_ = weights.lm_head_tied() ? embed_tokens_ : place.matrix(weights.get("lm_head.weight"));
}

KvCache TextDecoder::new_cache(int64_t capacity) const {
  return KvCache(config_.num_hidden_layers, capacity, config_.num_key_value_heads, head_dim_,
                 device_);
}

Tensor TextDecoder::embed(std::span<const int32_t> ids) const {
  return ops::embedding(embed_tokens_, ids);
}

float TextDecoder::attention_scale() const {
  return float(1.0 / std::sqrt(double(head_dim_)));
}

Tensor TextDecoder::attention(const Layer& layer, int64_t index, const Tensor& x, const Tensor& cos,
                              const Tensor& sin, const AttendFn& attend) const {
  const Tensor qkv = ops::linear(x, layer.qkv_weight, &layer.qkv_bias);
  // Each qkv row is [q (heads·d) | k (kv_heads·d) | v (kv_heads·d)].
  const ops::QkvParts parts =
      ops::split_qkv_rotary(qkv, config_.num_attention_heads, config_.num_key_value_heads, cos,
                            sin, ops::RotaryLayout::kInterleaved);
  return ops::linear(attend(index, parts.q, parts.k, parts.v), layer.o_weight);
}

Tensor TextDecoder::run_layers(Tensor hidden, const Tensor& positions,
                               const AttendFn& attend) const {
  const int64_t n = hidden.size(0);
  if (positions.dtype() != DType::kI64 || positions.dim() != 2 || positions.size(0) != 3 ||
      positions.size(1) != n)
    fail(ErrorKind::kInvalidArgument, "forward: positions must be I64 [3, {}], got {} {}", n,
         dtype_name(positions.dtype()), shape_string(positions.shape()));
  return run_layers(std::move(hidden), ops::rotary_tables(positions, pair_axis_, inv_freq_, device_),
                    attend);
}

Tensor TextDecoder::run_layers(Tensor hidden, const ops::RotaryTables& rotary,
                               const AttendFn& attend) const {
  const Tensor& cos = rotary.cos;
  const Tensor& sin = rotary.sin;
  const float eps = float(config_.rms_norm_eps);
  // Sandwich norms: hidden += norm(attention(norm(hidden))); hidden += norm(mlp(norm(hidden))).
  // Each residual add also norms the sum for the next sub-layer (one fused op).
  Tensor x = ops::rms_norm(hidden, layers_.front().input_norm, eps);
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Layer& layer = layers_[i];
    const Tensor attended = attention(layer, int64_t(i), x, cos, sin, attend);
    x = ops::residual_rms_norm(hidden, attended, layer.post_self_attn_norm,
                               &layer.post_attention_norm, eps);
    const Tensor mlp =
        ops::linear(ops::gated_linear(x, layer.gate_up_weight, act_), layer.down_weight);
    const Tensor* next_norm = i + 1 < layers_.size() ? &layers_[i + 1].input_norm : nullptr;
    x = ops::residual_rms_norm(hidden, mlp, layer.post_mlp_norm, next_norm, eps);
  }
  return hidden;
}

Tensor TextDecoder::logits(const Tensor& hidden) const {
  return ops::linear(ops::rms_norm(hidden, final_norm_, float(config_.rms_norm_eps)), lm_head_);
}

Tensor TextDecoder::forward(Tensor hidden, const Tensor& positions, KvCache& cache,
                            bool all_logits) const {
  const int64_t n = hidden.size(0), past = cache.size();
  if (cache.layers() != config_.num_hidden_layers)
    fail(ErrorKind::kInvalidArgument, "forward: the KV cache has {} layers, the model {}",
         cache.layers(), config_.num_hidden_layers);
  if (past + n > cache.capacity())
    fail(ErrorKind::kLimitExceeded,
         "forward: {} tokens do not fit the KV cache ({} held, capacity {})", n, past,
         cache.capacity());
  // New keys and values go into cache rows [past, past + n); queries see rows [0, past + n).
  const AttendFn attend = [&](int64_t layer, const Tensor& q, const Tensor& k, const Tensor& v) {
    const Tensor keys = cache.keys(layer, past + n), values = cache.values(layer, past + n);
    copy_into(keys.slice_rows(past, past + n), k);
    copy_into(values.slice_rows(past, past + n), v);
    return ops::causal_attention(q, keys, values, past, attention_scale());
  };
  const Tensor last_hidden = run_layers(std::move(hidden), positions, attend);
  cache.advance(n);
  return logits(all_logits ? last_hidden : last_hidden.slice_rows(n - 1, n));
}

}  // namespace glimpse::model
