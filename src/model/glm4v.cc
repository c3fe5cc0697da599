#include "model/glm4v.h"

#include "core/device_copy.h"
#include "core/device_memory.h"
#include "model/glm4v_impl.h"
#include "model/rope_index.h"
#include "model/weights.h"

namespace glimpse::model {

Glm4vModel::Glm4vModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Glm4vModel::~Glm4vModel() = default;

std::unique_ptr<Glm4vModel> Glm4vModel::load(const std::string& model_dir,
                                             const LoadOptions& options) {
  if (options.device == Device::kCUDA) describe_cuda_device();  // no GPU: say so before reading
  ModelConfig config = load_model_config(model_dir);
  // On the CPU, matrices kept as stored are views into the mapped files, which they keep alive.
  const ModelWeights weights = ModelWeights::load(model_dir, config);
  const WeightPlacement place{options.device, options.matrix_dtype};
  auto impl = std::make_unique<Impl>(Impl{config, VisionTower(weights, config.vision, place),
                                          TextDecoder(weights, config.text, place)});
  // The uploads were queued on this thread's stream; the model may be used from another thread
  // (the scheduler's), whose stream does not wait for this one.
  if (options.device == Device::kCUDA) synchronize_device();
  return std::unique_ptr<Glm4vModel>(new Glm4vModel(std::move(impl)));
}

const ModelConfig& Glm4vModel::config() const {
  return impl_->config;
}

Device Glm4vModel::device() const {
  return impl_->text.device();
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
  const Tensor embeds = to_device(*image_embeds, hidden.device());
  int64_t row = first_row;
  for (size_t i = 0; i < ids.size();) {
    if (ids[i] != image_token_id) {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < ids.size() && ids[end] == image_token_id) ++end;
    const auto run = int64_t(end - i);
    if (row < 0 || row + run > available)
      fail(ErrorKind::kInvalidArgument,
           "forward: the image token at position {} needs image embedding row {}, there are {}",
           row < 0 ? i : i + size_t(std::max<int64_t>(0, available - row)),
           row < 0 ? row : std::max(row, available), available);
    copy_into(hidden.slice_rows(int64_t(i), int64_t(end)), embeds.slice_rows(row, row + run));
    row += run;
    i = end;
  }
}

Tensor Glm4vModel::forward(std::span<const int32_t> ids, const Tensor& positions,
                           const Tensor* image_embeds, KvCache& cache, bool all_logits) const {
  const Tensor logits =
      to_device(forward_on_device(ids, positions, image_embeds, cache, all_logits), Device::kCPU);
  return all_logits ? logits : logits.view({logits.size(1)});
}

Tensor Glm4vModel::forward_on_device(std::span<const int32_t> ids, const Tensor& positions,
                                     const Tensor* image_embeds, KvCache& cache,
                                     bool all_logits) const {
  if (ids.empty()) fail(ErrorKind::kInvalidArgument, "forward: no tokens given");
  Tensor hidden = impl_->text.embed(ids);
  int64_t image_tokens = 0;
  for (int32_t id : ids) image_tokens += id == impl_->config.image_token_id;
  const int64_t embed_rows = image_embeds ? image_embeds->size(0) : 0;
  if (image_embeds && image_tokens != embed_rows)
    fail(ErrorKind::kInvalidArgument,
         "forward: {} image tokens in the ids but {} image embedding rows", image_tokens,
         embed_rows);
  if (cache.device() != device())
    fail(ErrorKind::kInvalidArgument, "forward: the KV cache is on the {}, the model on the {}",
         device_name(cache.device()), device_name(device()));
  splice_image_rows(hidden, ids, impl_->config.image_token_id, image_embeds, 0);
  return impl_->text.forward(std::move(hidden), positions, cache, all_logits);
}

}  // namespace glimpse::model
