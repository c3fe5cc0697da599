// Glm4v image preprocessing, identical to transformers' Glm4vImageProcessorPil (what AutoProcessor
// builds for GLM-4.1V / GLM-4.6V): smart_resize to a multiple of patch_size * merge_size within
// [min_pixels, max_pixels], PIL bicubic resampling, rescale + normalise, duplication to
// temporal_patch_size, and patches emitted in merge-window order.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "core/tensor.h"
#include "io/image_decode.h"
#include "io/image_resize.h"

namespace glimpse::io {

struct ImageProcessorConfig {
  int64_t patch_size = 14;
  int64_t merge_size = 2;
  int64_t temporal_patch_size = 2;
  // Bounds on temporal_patch_size * height * width after resizing ("size.shortest_edge" and
  // "size.longest_edge" in the config; the defaults are Glm4vImageProcessor's).
  int64_t min_pixels = 112 * 112;
  int64_t max_pixels = 28 * 28 * 15000;
  bool do_resize = true;
  bool do_rescale = true;
  bool do_normalize = true;
  double rescale_factor = 1.0 / 255.0;
  std::array<float, 3> image_mean = {0.48145466f, 0.4578275f, 0.40821073f};  // OPENAI_CLIP_MEAN
  std::array<float, 3> image_std = {0.26862954f, 0.26130258f, 0.27577711f};  // OPENAI_CLIP_STD
  // Which Pillow's bicubic rounding to reproduce (image_resize.h). Pillow 12 is what the committed
  // goldens (tests/golden) were made with; Pillow 13 differs by a few levels on some downscales.
  PillowPassOrder pass_order = PillowPassOrder::kPillow12;

  int64_t factor() const { return patch_size * merge_size; }

  // DIR/processor_config.json (transformers 5.x; settings nested under "image_processor") or else
  // DIR/preprocessor_config.json (4.x; flat). Missing keys keep the defaults above.
  static ImageProcessorConfig from_model_dir(const std::string& dir);
  // One image-processor settings object; `origin` names it in error messages.
  static ImageProcessorConfig from_json(const nlohmann::json& settings, const std::string& origin);
};

struct ResizedSize {
  int64_t height = 0, width = 0;
};

// transformers' smart_resize with num_frames = temporal_patch_size, as the image processor calls
// it. Throws Error(kInvalidArgument) for aspect ratios over 200, as the reference raises.
ResizedSize smart_resize(int64_t height, int64_t width, const ImageProcessorConfig& config);

// Which forms of an image's pixels preprocessing keeps (PreparedImage): the f32 patch rows, what
// the processor returns and a CPU model reads; the 8-bit samples and their level table, which a
// GPU model uploads instead (an eighth of the bytes; ops/pixels.h builds the rows there); or both.
enum class PixelForm { kRows, kSamples, kRowsAndSamples };

struct PreparedImage {
  // f32 [t*h*w, 3*temporal*patch*patch], the reference's patch order (undefined in kSamples form)
  Tensor pixel_values;
  // The same image as its resized 8-bit samples, one temporal copy (u8 [t*h*w, 3*patch*patch]:
  // each patch's channels, rows, columns), and each channel's normalised value of every level
  // (f32 [3, 256]). With A = patch², for every copy k:
  //   pixel_values[r][(c*temporal + k)*A + i] = levels[c][bytes[r][c*A + i]].
  // Undefined in kRows form.
  Tensor pixel_bytes;
  Tensor pixel_levels;
  int64_t t = 0, h = 0, w = 0;  // grid (patches per axis before merge) = image_grid_thw
  int64_t num_tokens = 0;       // t*h*w / merge^2
  std::string content_hash;     // SHA-256 (hex) of the encoded bytes, for embedding caches

  int64_t patches() const { return t * h * w; }
};

// Resizes, normalises and patchifies. content_hash is left empty (the caller knows the bytes).
PreparedImage preprocess_image(const RgbImage& image, const ImageProcessorConfig& config,
                               PixelForm form = PixelForm::kRowsAndSamples);

// Lowercase hex SHA-256 of `bytes` (OpenSSL).
std::string sha256_hex(std::span<const uint8_t> bytes);

}  // namespace glimpse::io
