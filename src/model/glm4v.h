// The GLM-4.6V network (HF Glm4vForConditionalGeneration / Glm46VForConditionalGeneration) on the
// CPU or one GPU, activations in fp32: the vision tower + patch merger, the M-RoPE position rule,
// and the GLM-4 text decoder with a KV cache. Weights are prepared once at load and placed on the
// chosen device; the same model code runs on both (the ops dispatch on where tensors live).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "model/config.h"

namespace glimpse::model {

// Patches per axis before the spatial merge, as the processor's image_grid_thw.
struct ImageGrid {
  int64_t t = 1, h = 0, w = 0;
};

// pixel_values: f32 [t*h*w, in_channels*temporal_patch*patch*patch], exactly as the processor
// emits. pixel_bytes and pixel_levels (glimpse's own preprocessing, io::PreparedImage) are the
// same rows as 8-bit samples and a level table (ops/pixels.h): a GPU tower uploads those instead,
// an eighth of the bytes. Either form may be absent (io::PixelForm), not both.
struct ImageInput {
  Tensor pixel_values;
  ImageGrid grid;
  Tensor pixel_bytes;   // u8 [t*h*w, in_channels*patch*patch], one temporal copy
  Tensor pixel_levels;  // f32 [in_channels, 256]
};

struct MropePositions {
  Tensor positions;       // int64 [3, seq]: temporal, height, width position of each token
  int64_t next_position;  // the position of the first token after the prompt (all three axes)
};

// Keys and values of every decoder layer, f32 [capacity, kv_heads, head_dim] each, on the model's
// device. Keys are stored after the rotary embedding, as the reference caches them.
class KvCache {
 public:
  KvCache(int64_t layers, int64_t capacity, int64_t kv_heads, int64_t head_dim,
          Device device = Device::kCPU);
  // Move-only: a copy would share the same storage and silently alias the cached keys.
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;
  KvCache(KvCache&&) = default;
  KvCache& operator=(KvCache&&) = default;

  int64_t size() const { return size_; }  // tokens held
  int64_t capacity() const { return capacity_; }
  int64_t layers() const { return int64_t(keys_.size()); }
  Device device() const { return keys_.front().device(); }
  // Forgets every token from `tokens` on (e.g. to reuse a shared prompt prefix).
  void truncate(int64_t tokens);

  // The first `tokens` rows of layer `layer`, as [tokens, kv_heads, head_dim] views.
  Tensor keys(int64_t layer, int64_t tokens) const;
  Tensor values(int64_t layer, int64_t tokens) const;
  // Marks `tokens` more rows as held, after every layer has written them.
  void advance(int64_t tokens);

 private:
  std::vector<Tensor> keys_, values_;  // per layer, [capacity, kv_heads, head_dim]
  int64_t capacity_ = 0, size_ = 0;
};

struct LoadOptions {
  Device device = Device::kCPU;
  // Weight matrices converted to this dtype at load (nullopt: as stored). Vectors stay f32.
  std::optional<DType> matrix_dtype;
};

class Glm4vModel {
 public:
  // Reads DIR/config.json and the safetensors weights, prepares them for compute and places them
  // on options.device.
  static std::unique_ptr<Glm4vModel> load(const std::string& model_dir,
                                          const LoadOptions& options = {});
  ~Glm4vModel();
  Glm4vModel(const Glm4vModel&) = delete;
  Glm4vModel& operator=(const Glm4vModel&) = delete;

  const ModelConfig& config() const;
  Device device() const;

  // Vision tower + merger for all images of one request, in order (pixel_values on any device):
  // f32 [sum(t*h*w) / spatial_merge^2, text hidden] on the model's device.
  Tensor encode_images(const std::vector<ImageInput>& images) const;

  // The reference's get_rope_index for one prompt: each run of image tokens takes the t/h/w
  // positions of the next grid; text continues after it.
  MropePositions rope_positions(std::span<const int32_t> ids,
                                const std::vector<ImageGrid>& grids) const;

  KvCache new_cache(int64_t capacity_tokens) const;

  // Runs the decoder over `ids` (appending to `cache`) at `positions` (int64 [3, n], host). Rows of
  // image_embeds (any device) replace the image tokens of `ids` in order (nullptr: none). Returns
  // f32 logits [vocab] for the last token, or [n, vocab] when all_logits, on the host.
  Tensor forward(std::span<const int32_t> ids, const Tensor& positions, const Tensor* image_embeds,
                 KvCache& cache, bool all_logits = false) const;
  // The same with the logits left on the model's device, f32 [1, vocab] for the last token (or
  // [n, vocab] when all_logits), for callers that download only what sampling needs.
  Tensor forward_on_device(std::span<const int32_t> ids, const Tensor& positions,
                           const Tensor* image_embeds, KvCache& cache,
                           bool all_logits = false) const;

  // The prepared network, for model-internal code (batch.h's forward_batch); defined in
  // glm4v_impl.h.
  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  explicit Glm4vModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace glimpse::model
