// The GLM-4V vision tower: patch embedding, resampled learned positions, ViT blocks with 2-D
// rotary attention inside each image, spatial-merge downsample and the patch merger into the text
// width. Matrices stay in the checkpoint dtype; see glm4v_weights.h.
#pragma once

#include <utility>
#include <vector>

#include "model/config.h"
#include "model/glm4v.h"
#include "model/glm4v_weights.h"
#include "model/weights.h"
#include "ops/elementwise.h"
#include "ops/rotary.h"

namespace glimpse::model {

class VisionTower {
 public:
  // Prepares the weights and places them as `place` says (device, matrix dtype).
  VisionTower(const ModelWeights& weights, const VisionConfig& config,
              const WeightPlacement& place);

  // f32 [sum(t·h·w) / merge², out_hidden_size] on the tower's device, the images' merged tokens
  // in order.
  Tensor encode(const std::vector<ImageInput>& images) const;

 private:
  struct Block {
    Tensor norm1, norm2;
    Tensor qkv_weight, qkv_bias;  // qkv_bias undefined without attention_bias
    Tensor proj_weight;
    Tensor gate_up_weight;  // gate_proj and up_proj stacked: one GEMM
    Tensor down_weight;
  };

  // Patch coordinates in the order the tower holds patches: per frame, 2×2 merge blocks row-major,
  // the patches of a block row-major inside it.
  struct PatchLayout {
    std::vector<int64_t> h, w;        // per patch
    std::vector<int64_t> cu_seqlens;  // attention segments: one per frame
    Tensor position_points;           // f32 [patches, 2]: grid_sample (x, y) of each patch
  };
  PatchLayout layout(const std::vector<ImageInput>& images) const;
  // Throws Error(kInvalidArgument) naming image `index` unless it has f32 rows, 8-bit samples with
  // their levels, or both, of `patches` rows in the shapes this tower reads.
  void check_pixels(const ImageInput& image, size_t index, int64_t patches) const;
  // cos and sin of the 2-D rotary angles, f32 [patches, head_dim / 2] each.
  ops::RotaryTables rotary_tables(const PatchLayout& layout) const;
  // x += proj(attention(norm1(x))), one block's attention half.
  void add_attention(Tensor& x, const Block& block, const PatchLayout& layout, const Tensor& cos,
                     const Tensor& sin) const;

  VisionConfig config_;
  Device device_;
  ops::Activation act_;
  // The blocks' activations between their GEMMs: the matrices' half type on the GPU (the tensor
  // cores round GEMM inputs to it anyway, and every element-wise pass moves half the bytes), f32 on
  // the CPU. The residual stream stays f32.
  DType between_;
  Tensor patch_weight_, patch_bias_;  // the Conv3d as [hidden, C·T·P·P]
  Tensor post_conv_norm_;
  Tensor position_table_;        // f32 [side, side, hidden]
  // Axial rotary: head_dim / 4 frequencies, used once with the patch row h (axis 0) and once with
  // its column w (axis 1).
  std::vector<int32_t> pair_axis_;
  std::vector<float> pair_freq_;
  std::vector<Block> blocks_;
  Tensor post_norm_;
  Tensor downsample_weight_,
      downsample_bias_;  // the Conv2d as [out, merge·merge·hidden], patch-major
  Tensor merger_proj_, merger_norm_weight_, merger_norm_bias_, merger_gate_up_, merger_down_;
};

}  // namespace glimpse::model
