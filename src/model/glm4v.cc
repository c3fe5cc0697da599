#include "model/glm4v.h"

#include <cstring>

#include "model/glm4v_impl.h"
#include "model/rope_index.h"
#include "model/weights.h"

namespace glimpse::model {

Glm4vModel::Glm4vModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Glm4vModel::~Glm4vModel() = default;

std::unique_ptr<Glm4vModel> Glm4vModel::load(const std::string& model_dir) {
  ModelConfig config = load_model_config(model_dir);
  // Matrices the model keeps are views into the mapped files, which they keep alive.
  const ModelWeights weights = ModelWeights::load(model_dir, config);
  auto impl = std::make_unique<Impl>(
      Impl{config, VisionTower(weights, config.vision), TextDecoder(weights, config.text)});
  return std::unique_ptr<Glm4vModel>(new Glm4vModel(std::move(impl)));
}

const ModelConfig& Glm4vModel::config() const {
  return impl_->config;
}

Tensor Glm4vModel::encode_images(const std::vector<ImageInput>& images) const {
  return impl_->vision.encode(images);
}

MropePositions Glm4vModel::rope_positions(std::span<const int32_t> ids,
                                          const std::vector<ImageGrid>& grids) const {
  return compute_rope_index(ids, grids, impl_->config.image_token_id,
                            impl_->config.vision.spatial_merge_size);
}

KvCache Glm4vModel::new_cache(int64_t capacity_tokens) const {
  return impl_->text.new_cache(capacity_tokens);
}

void splice_image_rows(Tensor& hidden, std::span<const int32_t> ids, int64_t image_token_id,
                       const Tensor* image_embeds, int64_t first_row) {
  // Without embeddings every token keeps its own embedding: an <|image|> id the model generated is
  // an ordinary token, as in transformers' decode steps (only prompt images are spliced).
  if (!image_embeds) return;
  const int64_t width = hidden.size(1);
  if ((image_embeds->dtype() != DType::kF32 || image_embeds->dim() != 2 ||
       image_embeds->size(1) != width))
    fail(ErrorKind::kInvalidArgument, "forward: image_embeds must be F32 [rows, {}], got {} {}",
         width, dtype_name(image_embeds->dtype()), shape_string(image_embeds->shape()));
  const int64_t available = image_embeds->size(0);
  int64_t row = first_row;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] != image_token_id) continue;
    if (row < 0 || row >= available)
      fail(ErrorKind::kInvalidArgument,
           "forward: the image token at position {} needs image embedding row {}, there are {}", i,
           row, available);
    std::memcpy(hidden.data<float>() + int64_t(i) * width,
                image_embeds->data<float>() + row++ * width, size_t(width) * sizeof(float));
  }
}

Tensor Glm4vModel::forward(std::span<const int32_t> ids, const Tensor& positions,
                           const Tensor* image_embeds, KvCache& cache, bool all_logits) const {
  if (ids.empty()) fail(ErrorKind::kInvalidArgument, "forward: no tokens given");
  Tensor hidden = impl_->text.embed(ids);
  int64_t image_tokens = 0;
  for (int32_t id : ids) image_tokens += id == impl_->config.image_token_id;
  const int64_t embed_rows = image_embeds ? image_embeds->size(0) : 0;
  if (image_embeds && image_tokens != embed_rows)
    fail(ErrorKind::kInvalidArgument,
         "forward: {} image tokens in the ids but {} image embedding rows", image_tokens,
         embed_rows);
  splice_image_rows(hidden, ids, impl_->config.image_token_id, image_embeds, 0);
  return impl_->text.forward(std::move(hidden), positions, cache, all_logits);
}

}  // namespace glimpse::model
