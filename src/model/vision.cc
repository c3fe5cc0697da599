#include "model/vision.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>

#include "core/device_copy.h"
#include "model/glm4v_weights.h"
#include "ops/attention.h"
#include "ops/convert.h"
#include "ops/dispatch.h"
#include "ops/fused.h"
#include "ops/grid_sample.h"
#include "ops/linear.h"
#include "ops/norms.h"
#include "ops/pixels.h"
#include "ops/rotary.h"

namespace glimpse::model {

VisionTower::VisionTower(const ModelWeights& weights, const VisionConfig& config,
                         const WeightPlacement& place)
    : config_(config), device_(place.device), act_(ops::parse_activation(config.hidden_act, "vision_config.hidden_act")) {
  const std::string p = "model.visual.";
  const int64_t hidden = config.hidden_size;
  patch_weight_ = place.matrix(weights.get(p + "patch_embed.proj.weight").view({hidden, -1}));
  patch_bias_ = place.vector(f32_weight(weights, p + "patch_embed.proj.bias"));
  post_conv_norm_ = place.vector(f32_weight(weights, p + "post_conv_layernorm.weight"));
  Tensor table = f32_weight(weights, p + "embeddings.position_embedding.weight");
  const auto side = int64_t(std::lround(std::sqrt(double(table.size(0)))));
  if (side * side != table.size(0))
    fail(ErrorKind::kCorrupt,
         "{}embeddings.position_embedding.weight: {} rows are not a square grid", p, table.size(0));
  position_table_ = place.vector(table.view({side, side, hidden}));

  // Axial rotary: head_dim / 4 frequencies shared by the h and the w half of each head.
  const int64_t spatial_dim = config.head_dim() / 2;
  for (int64_t i = 0; i < spatial_dim; i += 2)
    pair_freq_.push_back(float(1.0 / std::pow(config.rope_theta, double(i) / double(spatial_dim))));
  // The first half of the pairs turns with the patch row h, the second with its column w.
  const size_t quarter = pair_freq_.size();
  pair_axis_.assign(quarter, 0);
  pair_axis_.resize(2 * quarter, 1);
  pair_freq_.insert(pair_freq_.end(), pair_freq_.begin(), pair_freq_.begin() + ptrdiff_t(quarter));

  between_ = device_ == Device::kCUDA ? patch_weight_.dtype() : DType::kF32;
  for (int64_t i = 0; i < config.depth; ++i) {
    const std::string b = p + "blocks." + std::to_string(i) + ".";
    Block block;
    block.norm1 = place.vector(f32_weight(weights, b + "norm1.weight"));
    block.norm2 = place.vector(f32_weight(weights, b + "norm2.weight"));
    block.qkv_weight = place.matrix(weights.get(b + "attn.qkv.weight"));
    // The qkv GEMM writes between_ (half on the GPU), whose bias epilogue takes that dtype.
    if (config.attention_bias)
      block.qkv_bias =
          ops::convert(place.vector(f32_weight(weights, b + "attn.qkv.bias")), between_);
    block.proj_weight = place.matrix(weights.get(b + "attn.proj.weight"));
    block.gate_up_weight = place.matrix(
        stacked_weights(weights, {b + "mlp.gate_proj.weight", b + "mlp.up_proj.weight"}));
    block.down_weight = place.matrix(weights.get(b + "mlp.down_proj.weight"));
    blocks_.push_back(std::move(block));
  }
  post_norm_ = place.vector(f32_weight(weights, p + "post_layernorm.weight"));

  // Conv2d weight [out, hidden, m, m] → [out, m, m, hidden] (same dtype) so a merge block's m·m
  // patches, stored consecutively, form one input row of a plain GEMM.
  const Tensor& conv = weights.get(p + "downsample.weight");
  const int64_t out = conv.size(0), m = config.spatial_merge_size;
  const size_t element = dtype_size(conv.dtype());
  Tensor downsample = Tensor::empty({out, m * m * hidden}, conv.dtype());
  const auto* src = static_cast<const std::byte*>(conv.raw_data());
  auto* dst = static_cast<std::byte*>(downsample.raw_data());
  for (int64_t o = 0; o < out; ++o)
    for (int64_t c = 0; c < hidden; ++c)
      for (int64_t k = 0; k < m * m; ++k)
        std::memcpy(dst + size_t((o * m * m + k) * hidden + c) * element,
                    src + size_t((o * hidden + c) * m * m + k) * element, element);
  downsample_weight_ = place.matrix(downsample);
  downsample_bias_ = place.vector(f32_weight(weights, p + "downsample.bias"));

  merger_proj_ = place.matrix(weights.get(p + "merger.proj.weight"));
  merger_norm_weight_ =
      place.vector(f32_weight(weights, p + "merger.post_projection_norm.weight"));
  merger_norm_bias_ = place.vector(f32_weight(weights, p + "merger.post_projection_norm.bias"));
  merger_gate_up_ = place.matrix(
      stacked_weights(weights, {p + "merger.gate_proj.weight", p + "merger.up_proj.weight"}));
  merger_down_ = place.matrix(weights.get(p + "merger.down_proj.weight"));
}

void VisionTower::check_pixels(const ImageInput& image, size_t index, int64_t patches) const {
  const int64_t channel_values = config_.in_channels * config_.patch_size * config_.patch_size;
  const int64_t patch_values = channel_values * config_.temporal_patch_size;
  const Tensor &rows = image.pixel_values, &bytes = image.pixel_bytes;
  if (!rows.defined() && !bytes.defined())
    fail(ErrorKind::kInvalidArgument, "image {}: neither pixel_values nor pixel_bytes is given",
         index);
  if (rows.defined() && (rows.dtype() != DType::kF32 || rows.dim() != 2 ||
                         rows.size(0) != patches || rows.size(1) != patch_values))
    fail(ErrorKind::kInvalidArgument,
         "image {}: pixel_values must be F32 [{}, {}] for its grid, got {} {}", index, patches,
         patch_values, dtype_name(rows.dtype()), shape_string(rows.shape()));
  const Tensor& levels = image.pixel_levels;
  if (bytes.defined() &&
      (bytes.dtype() != DType::kU8 || bytes.dim() != 2 || bytes.size(0) != patches ||
       bytes.size(1) != channel_values || !levels.defined() || levels.dtype() != DType::kF32 ||
       levels.shape() != Shape{config_.in_channels, 256}))
    fail(ErrorKind::kInvalidArgument,
         "image {}: pixel_bytes must be U8 [{}, {}] with pixel_levels F32 [{}, 256], got {} {}",
         index, patches, channel_values, config_.in_channels, dtype_name(bytes.dtype()),
         shape_string(bytes.shape()));
}

VisionTower::PatchLayout VisionTower::layout(const std::vector<ImageInput>& images) const {
  const int64_t m = config_.spatial_merge_size;
  PatchLayout layout;
  layout.cu_seqlens.push_back(0);
  std::vector<float> points;
  for (size_t i = 0; i < images.size(); ++i) {
    const ImageGrid& g = images[i].grid;
    if (g.t < 1 || g.h < m || g.w < m || g.h % m != 0 || g.w % m != 0)
      fail(ErrorKind::kInvalidArgument,
           "image {}: grid {}x{}x{} must be positive with h and w multiples of {}", i, g.t, g.h,
           g.w, m);
    check_pixels(images[i], i, g.t * g.h * g.w);
    for (int64_t t = 0; t < g.t; ++t) {
      for (int64_t bh = 0; bh < g.h / m; ++bh)
        for (int64_t bw = 0; bw < g.w / m; ++bw)
          for (int64_t ih = 0; ih < m; ++ih)
            for (int64_t iw = 0; iw < m; ++iw) {
              const int64_t h = bh * m + ih, w = bw * m + iw;
              layout.h.push_back(h);
              layout.w.push_back(w);
              // The patch centre in grid_sample's normalised [-1, 1] frame of this image. (The
              // reference looks the grid up by frame index, the same thing for images, t = 1.)
              points.push_back((float(w) + 0.5f) / float(g.w) * 2 - 1);
              points.push_back((float(h) + 0.5f) / float(g.h) * 2 - 1);
            }
      layout.cu_seqlens.push_back(layout.cu_seqlens.back() + g.h * g.w);
    }
  }
  layout.position_points =
      to_device(Tensor::from_vector(points, {int64_t(layout.h.size()), 2}), device_);
  return layout;
}

ops::RotaryTables VisionTower::rotary_tables(const PatchLayout& layout) const {
  const auto patches = int64_t(layout.h.size());
  Tensor positions = Tensor::empty({2, patches}, DType::kI64);
  std::copy(layout.h.begin(), layout.h.end(), positions.data<int64_t>());
  std::copy(layout.w.begin(), layout.w.end(), positions.data<int64_t>() + patches);
  return ops::rotary_tables(positions, pair_axis_, pair_freq_, device_);
}

void VisionTower::add_attention(Tensor& x, const Block& block, const PatchLayout& layout,
                                const Tensor& cos, const Tensor& sin) const {
  const int64_t heads = config_.num_heads, head_dim = config_.head_dim();
  const Tensor h = ops::rms_norm(x, block.norm1, float(config_.rms_norm_eps), between_);
  const Tensor qkv = ops::linear(
      h, block.qkv_weight, block.qkv_bias.defined() ? &block.qkv_bias : nullptr, between_);
  // qkv rows are [3, heads, head_dim]: q, k, v with as many heads each.
  const Tensor attended =
      ops::rotary_segment_attention(qkv, heads, cos, sin, ops::RotaryLayout::kHalves,
                                    layout.cu_seqlens, float(1.0 / std::sqrt(double(head_dim))));
  ops::add_linear(x, attended, block.proj_weight);
}

Tensor VisionTower::encode(const std::vector<ImageInput>& images) const {
  if (images.empty()) fail(ErrorKind::kInvalidArgument, "encode_images: no images given");
  const ops::OpProfileStage profile_stage("vision");
  const PatchLayout patches = layout(images);
  const int64_t total = int64_t(patches.h.size()), m = config_.spatial_merge_size;
  const int64_t patch_values = patch_weight_.size(1);
  // On the GPU the pixels go up in between_: as 8-bit samples the GPU turns into rows where the
  // preprocessing kept them (an eighth of the bytes), else rounded on the host as the patch GEMM
  // would round them (half the bytes). The CPU reads the rows, or builds them from the samples.
  // The upload is profiled like an op (GLIMPSE_PROFILE_OPS).
  Tensor pixels;
  if (device_ == Device::kCPU && images.size() == 1 && images[0].pixel_values.defined()) {
    pixels = images[0].pixel_values;
  } else {
    std::optional<ops::OpTimer> upload_timer;
    if (device_ == Device::kCUDA)
      upload_timer.emplace("upload_pixels", images[0].pixel_bytes.defined()
                                                ? images[0].pixel_bytes
                                                : images[0].pixel_values);
    pixels = Tensor::empty({total, patch_values}, between_, device_);
    for (int64_t row = 0; const ImageInput& image : images) {
      const int64_t count = image.grid.t * image.grid.h * image.grid.w;
      const Tensor rows = pixels.slice_rows(row, row + count);
      const bool from_samples = image.pixel_bytes.defined() &&
                                (device_ == Device::kCUDA || !image.pixel_values.defined());
      if (from_samples)
        ops::pixels_from_bytes(to_device(image.pixel_bytes, device_),
                               to_device(image.pixel_levels, device_), rows);
      else if (device_ == Device::kCUDA)
        upload_rounded(rows, image.pixel_values);
      else
        copy_into(rows, image.pixel_values);
      row += count;
    }
  }

  // Patch embedding (Conv3d with stride = kernel is one GEMM), then the learned positions.
  Tensor x = ops::linear(pixels, patch_weight_, &patch_bias_);
  x = ops::rms_norm(x, post_conv_norm_, float(config_.rms_norm_eps));
  ops::add_inplace(x, ops::bicubic_grid_sample(position_table_, patches.position_points));

  const auto [cos, sin] = rotary_tables(patches);
  const float eps = float(config_.rms_norm_eps);
  for (const Block& block : blocks_) {
    add_attention(x, block, patches, cos, sin);
    const Tensor h = ops::rms_norm(x, block.norm2, eps, between_);
    ops::add_linear(x, ops::gated_linear(h, block.gate_up_weight, act_, between_),
                    block.down_weight);
  }
  x = ops::rms_norm(x, post_norm_, eps);

  // Spatial merge: each m×m block of consecutive patches becomes one token (the Conv2d).
  x = ops::linear(x.view({total / (m * m), -1}), downsample_weight_, &downsample_bias_);

  // Patch merger: proj → LayerNorm → GELU → gated MLP.
  x = ops::linear(x, merger_proj_);
  x = ops::activation(ops::layer_norm(x, merger_norm_weight_, merger_norm_bias_, 1e-5f),
                      ops::Activation::kGelu);
  return ops::linear(ops::gated_linear(x, merger_gate_up_, act_), merger_down_);
}

}  // namespace glimpse::model
