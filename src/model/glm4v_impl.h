// The parts of a loaded Glm4vModel, shared by glm4v.cc and the batched forward (glm4v_batch.cc).
#pragma once

#include <span>

#include "model/config.h"
#include "model/glm4v.h"
#include "model/text_decoder.h"
#include "model/vision.h"

namespace glimpse::model {

struct Glm4vModel::Impl {
  ModelConfig config;
  VisionTower vision;
  TextDecoder text;
};

// Replaces the rows of `hidden` (f32 [ids.size(), width]) at image tokens with consecutive rows of
// `image_embeds` (on hidden's device) starting at `first_row`, one copy per run of image tokens.
// Throws Error(kInvalidArgument) when the image tokens need rows that image_embeds (nullptr: none)
// does not have.
void splice_image_rows(Tensor& hidden, std::span<const int32_t> ids, int64_t image_token_id,
                       const Tensor* image_embeds, int64_t first_row);

}  // namespace glimpse::model
