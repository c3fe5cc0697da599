#include "model/rope_index.h"

#include <algorithm>

namespace glimpse::model {

MropePositions compute_rope_index(std::span<const int32_t> ids, const std::vector<ImageGrid>& grids,
                                  int64_t image_token_id, int64_t spatial_merge_size) {
  const int64_t n = int64_t(ids.size());
  Tensor positions = Tensor::empty({3, n}, DType::kI64);
  int64_t* t_pos = positions.data<int64_t>();
  int64_t* h_pos = t_pos + n;
  int64_t* w_pos = t_pos + 2 * n;
  int64_t next = 0;  // the reference's current_pos
  size_t grid_index = 0;
  for (int64_t i = 0; i < n;) {
    if (ids[size_t(i)] != image_token_id) {
      t_pos[i] = h_pos[i] = w_pos[i] = next++;
      ++i;
      continue;
    }
    int64_t run_end = i;
    while (run_end < n && ids[size_t(run_end)] == image_token_id) ++run_end;
    if (grid_index == grids.size())
      fail(ErrorKind::kInvalidArgument,
           "rope positions: image token run at position {} has no image grid ({} given)", i,
           grids.size());
    const ImageGrid& grid = grids[grid_index];
    if (grid.t < 1 || grid.h < spatial_merge_size || grid.w < spatial_merge_size ||
        grid.h % spatial_merge_size != 0 || grid.w % spatial_merge_size != 0)
      fail(ErrorKind::kInvalidArgument,
           "rope positions: image {} grid {}x{}x{} must be positive with h and w multiples of {}",
           grid_index, grid.t, grid.h, grid.w, spatial_merge_size);
    const int64_t gt = grid.t, gh = grid.h / spatial_merge_size, gw = grid.w / spatial_merge_size;
    if (gt * gh * gw != run_end - i)
      fail(ErrorKind::kInvalidArgument,
           "rope positions: image {} (grid {}x{}x{}) needs {} image tokens, the run at position {} "
           "has {}",
           grid_index, grid.t, grid.h, grid.w, gt * gh * gw, i, run_end - i);
    for (int64_t a = 0; a < gt; ++a)
      for (int64_t b = 0; b < gh; ++b)
        for (int64_t c = 0; c < gw; ++c, ++i) {
          t_pos[i] = next + a;
          h_pos[i] = next + b;
          w_pos[i] = next + c;
        }
    next += std::max(gh, gw);
    ++grid_index;
  }
  if (grid_index != grids.size())
    fail(ErrorKind::kInvalidArgument,
         "rope positions: {} image grids given, the prompt has {} image token runs", grids.size(),
         grid_index);
  // Generation continues from the largest position + 1 on all axes (the reference's rope_deltas).
  int64_t max_position = -1;
  for (int64_t k = 0; k < 3 * n; ++k) max_position = std::max(max_position, t_pos[k]);
  return {positions, max_position + 1};
}

}  // namespace glimpse::model
