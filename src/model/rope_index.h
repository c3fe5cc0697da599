// The reference's get_rope_index: the 3-D (temporal, height, width) rotary position of each prompt
// token. Text tokens advance all three axes together; a run of image tokens lays out its merged
// grid (t, h, w offset by the running position) and the text after it continues from
// start + max(h, w) / merge.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "model/glm4v.h"

namespace glimpse::model {

MropePositions compute_rope_index(std::span<const int32_t> ids, const std::vector<ImageGrid>& grids,
                                  int64_t image_token_id, int64_t spatial_merge_size);

}  // namespace glimpse::model
