#include "io/image_preprocess.h"

#include <openssl/evp.h>
#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/image_resize.h"

namespace glimpse::io {
namespace {

// Python's round() on a float: halves go to the even neighbour.
double python_round(double x) {
  const double r = std::round(x);
  if (std::fabs(x - std::trunc(x)) == 0.5) return 2.0 * std::round(x / 2.0);
  return r;
}

nlohmann::json read_json_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) fail(ErrorKind::kIo, "{}: cannot open", path.string());
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::kCorrupt, "{}: invalid JSON: {}", path.string(), e.what());
  }
}

int64_t positive_int(const nlohmann::json& settings, const char* key, int64_t fallback,
                     const std::string& origin) {
  if (!settings.contains(key) || settings[key].is_null()) return fallback;
  const auto& value = settings[key];
  if (!value.is_number_integer() || value.get<int64_t>() <= 0)
    fail(ErrorKind::kCorrupt, "{}: \"{}\" must be a positive integer, got {}", origin, key,
         value.dump());
  return value.get<int64_t>();
}

bool flag(const nlohmann::json& settings, const char* key, bool fallback,
          const std::string& origin) {
  if (!settings.contains(key) || settings[key].is_null()) return fallback;
  if (!settings[key].is_boolean())
    fail(ErrorKind::kCorrupt, "{}: \"{}\" must be true or false", origin, key);
  return settings[key].get<bool>();
}

std::array<float, 3> triple(const nlohmann::json& settings, const char* key,
                            std::array<float, 3> fallback, const std::string& origin) {
  if (!settings.contains(key) || settings[key].is_null()) return fallback;
  const auto& value = settings[key];
  if (value.is_number()) {  // one value for every channel, as transformers accepts
    const float v = value.get<float>();
    return {v, v, v};
  }
  if (!value.is_array() || value.size() != 3 ||
      !std::all_of(value.begin(), value.end(), [](const auto& v) { return v.is_number(); }))
    fail(ErrorKind::kCorrupt, "{}: \"{}\" must be a number or a list of 3 numbers, got {}", origin,
         key, value.dump());
  return {value[0].get<float>(), value[1].get<float>(), value[2].get<float>()};
}

// The normalised value of every 8-bit sample per channel, computed in the reference's order:
// float64 rescale cast to float32, then float32 (x - mean) / std.
std::array<std::array<float, 256>, 3> normalisation_table(const ImageProcessorConfig& config) {
  std::array<std::array<float, 256>, 3> table;
  for (int c = 0; c < 3; ++c) {
    for (int v = 0; v < 256; ++v) {
      float x = config.do_rescale ? float(double(v) * config.rescale_factor) : float(v);
      if (config.do_normalize) x = (x - config.image_mean[c]) / config.image_std[c];
      table[c][v] = x;
    }
  }
  return table;
}

// Memory for pixel_values. One large image's values are tens of MB, and on first touch the
// kernel must fault in and zero every page, which costs more than computing the values (for
// 1920x1080: ~27 ms in 4 KiB pages, ~6 ms in transparent huge pages, vs ~4 ms of arithmetic).
// So buffers are 2 MiB-aligned and advised as huge pages, and freed buffers are kept (up to
// kKeptBytes in all) for the next image of a similar size.
class PixelBufferPool {
 public:
  static PixelBufferPool& instance() {
    static auto* pool = new PixelBufferPool;  // never destroyed: tensors may outlive main()
    return *pool;
  }

  Tensor tensor(Shape shape) {
    const size_t bytes = size_t(shape_numel(shape)) * sizeof(float);
    if (bytes < kHugePage) return Tensor::empty(std::move(shape), DType::kF32);
    const size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
    void* data = take(rounded);
    if (!data) {
      if (posix_memalign(&data, kHugePage, rounded) != 0)
        fail(ErrorKind::kLimitExceeded, "image: cannot allocate {} bytes for pixel values", bytes);
      madvise(data, rounded, MADV_HUGEPAGE);  // advisory: without THP this is ordinary memory
    }
    std::shared_ptr<const void> owner(
        data, [this, rounded](const void* p) { give_back(const_cast<void*>(p), rounded); });
    return Tensor(Storage::borrow(data, bytes, Device::kCPU, std::move(owner)), 0, DType::kF32,
                  std::move(shape));
  }

 private:
  static constexpr size_t kHugePage = size_t(2) << 20;
  static constexpr size_t kKeptBytes = size_t(256) << 20;

  void* take(size_t bytes) {
    std::lock_guard lock(mutex_);
    for (auto it = free_.begin(); it != free_.end(); ++it) {
      if (it->first != bytes) continue;
      void* data = it->second;
      kept_ -= bytes;
      free_.erase(it);
      return data;
    }
    return nullptr;
  }

  void give_back(void* data, size_t bytes) {
    {
      std::lock_guard lock(mutex_);
      if (kept_ + bytes <= kKeptBytes) {
        free_.emplace_back(bytes, data);
        kept_ += bytes;
        return;
      }
    }
    std::free(data);
  }

  std::mutex mutex_;
  std::vector<std::pair<size_t, void*>> free_;
  size_t kept_ = 0;
};

// Normalises resized rows as they arrive and stores them in the reference's patch layout: merge
// windows row-major, patches row-major inside a window; within a patch channel, then the
// temporal copies, then rows and columns. Rows are collected one band of merge windows
// (merge * patch rows) at a time, whose patches are a contiguous stretch of the output, so the
// output is written front to back.
class PatchWriter {
 public:
  PatchWriter(const ImageProcessorConfig& config, int64_t width, float* out)
      : table_(normalisation_table(config)),
        patch_(config.patch_size),
        merge_(config.merge_size),
        temporal_(config.temporal_patch_size),
        row_bytes_(size_t(width) * 3),
        grid_w_(width / patch_),
        band_(size_t(merge_ * patch_) * row_bytes_),
        out_(out) {}

  void write_row(int64_t y, const uint8_t* row) {
    const int64_t band_rows = merge_ * patch_;
    std::copy_n(row, row_bytes_, band_.data() + size_t(y % band_rows) * row_bytes_);
    if (y % band_rows == band_rows - 1) flush_band();
  }

 private:
  void flush_band() {
    const int64_t area = patch_ * patch_;
    for (int64_t block_x = 0; block_x < grid_w_ / merge_; ++block_x) {
      for (int64_t my = 0; my < merge_; ++my) {
        for (int64_t mx = 0; mx < merge_; ++mx) {
          const size_t x0 = size_t((block_x * merge_ + mx) * patch_) * 3;
          for (int c = 0; c < 3; ++c) {
            float* first = out_;
            for (int64_t py = 0; py < patch_; ++py) {
              const uint8_t* src = band_.data() + size_t(my * patch_ + py) * row_bytes_ + x0 + c;
              for (int64_t px = 0; px < patch_; ++px) *out_++ = table_[c][src[px * 3]];
            }
            for (int64_t t = 1; t < temporal_; ++t) out_ = std::copy_n(first, area, out_);
          }
        }
      }
    }
  }

  std::array<std::array<float, 256>, 3> table_;
  int64_t patch_, merge_, temporal_;
  size_t row_bytes_;
  int64_t grid_w_;
  std::vector<uint8_t> band_;
  float* out_;  // next value to write
};

}  // namespace

ImageProcessorConfig ImageProcessorConfig::from_json(const nlohmann::json& settings,
                                                     const std::string& origin) {
  if (!settings.is_object()) fail(ErrorKind::kCorrupt, "{}: expected a JSON object", origin);
  ImageProcessorConfig config;
  config.patch_size = positive_int(settings, "patch_size", config.patch_size, origin);
  config.merge_size = positive_int(settings, "merge_size", config.merge_size, origin);
  config.temporal_patch_size =
      positive_int(settings, "temporal_patch_size", config.temporal_patch_size, origin);
  // 5.x writes size.{shortest_edge,longest_edge}; older configs have size.{min,max}_pixels or
  // top-level min_pixels / max_pixels.
  config.min_pixels = positive_int(settings, "min_pixels", config.min_pixels, origin);
  config.max_pixels = positive_int(settings, "max_pixels", config.max_pixels, origin);
  if (settings.contains("size") && !settings["size"].is_null()) {
    const auto& size = settings["size"];
    const std::string size_origin = origin + ": size";
    if (!size.is_object()) fail(ErrorKind::kCorrupt, "{}: must be an object", size_origin);
    config.min_pixels = positive_int(size, "min_pixels", config.min_pixels, size_origin);
    config.max_pixels = positive_int(size, "max_pixels", config.max_pixels, size_origin);
    config.min_pixels = positive_int(size, "shortest_edge", config.min_pixels, size_origin);
    config.max_pixels = positive_int(size, "longest_edge", config.max_pixels, size_origin);
  }
  if (config.min_pixels > config.max_pixels)
    fail(ErrorKind::kCorrupt, "{}: min pixels {} exceed max pixels {}", origin, config.min_pixels,
         config.max_pixels);
  config.do_resize = flag(settings, "do_resize", config.do_resize, origin);
  config.do_rescale = flag(settings, "do_rescale", config.do_rescale, origin);
  config.do_normalize = flag(settings, "do_normalize", config.do_normalize, origin);
  if (settings.contains("rescale_factor") && settings["rescale_factor"].is_number())
    config.rescale_factor = settings["rescale_factor"].get<double>();
  config.image_mean = triple(settings, "image_mean", config.image_mean, origin);
  config.image_std = triple(settings, "image_std", config.image_std, origin);
  for (float s : config.image_std)
    if (!(s > 0.0f)) fail(ErrorKind::kCorrupt, "{}: image_std must be positive", origin);
  constexpr int64_t kPilBicubic = 3;
  const int64_t resample = positive_int(settings, "resample", kPilBicubic, origin);
  if (resample != kPilBicubic)
    fail(ErrorKind::kUnsupported, "{}: resample {} is not supported (only 3, bicubic)", origin,
         resample);
  if (!flag(settings, "do_convert_rgb", true, origin))
    fail(ErrorKind::kUnsupported, "{}: do_convert_rgb false is not supported", origin);
  return config;
}

ImageProcessorConfig ImageProcessorConfig::from_model_dir(const std::string& dir) {
  const std::filesystem::path root(dir);
  const auto modern = root / "processor_config.json";
  if (std::filesystem::exists(modern)) {
    const nlohmann::json body = read_json_file(modern);
    if (body.contains("image_processor"))
      return from_json(body["image_processor"], modern.string() + ": image_processor");
    if (!std::filesystem::exists(root / "preprocessor_config.json"))
      return from_json(body, modern.string());
  }
  const auto legacy = root / "preprocessor_config.json";
  if (!std::filesystem::exists(legacy))
    fail(ErrorKind::kNotFound, "{}: no processor_config.json or preprocessor_config.json", dir);
  return from_json(read_json_file(legacy), legacy.string());
}

ResizedSize smart_resize(int64_t height, int64_t width, const ImageProcessorConfig& config) {
  const int64_t factor = config.factor();
  const int64_t frames = config.temporal_patch_size;
  if (height <= 0 || width <= 0)
    fail(ErrorKind::kInvalidArgument, "image: invalid size {}x{}", width, height);
  if (height < factor || width < factor) {
    const double scale = std::max(double(factor) / double(height), double(factor) / double(width));
    height = int64_t(double(height) * scale);
    width = int64_t(double(width) * scale);
  }
  const double aspect = double(std::max(height, width)) / double(std::min(height, width));
  if (std::min(height, width) <= 0 || aspect > 200)
    fail(ErrorKind::kInvalidArgument,
         "image: absolute aspect ratio must be smaller than 200, got {} ({}x{})", aspect, width,
         height);
  int64_t h_bar = int64_t(python_round(double(height) / double(factor))) * factor;
  int64_t w_bar = int64_t(python_round(double(width) / double(factor))) * factor;
  const double pixels = double(frames * height * width);
  if (frames * h_bar * w_bar > config.max_pixels) {
    const double beta = std::sqrt(pixels / double(config.max_pixels));
    h_bar = std::max(factor, int64_t(std::floor(double(height) / beta / double(factor))) * factor);
    w_bar = std::max(factor, int64_t(std::floor(double(width) / beta / double(factor))) * factor);
  } else if (frames * h_bar * w_bar < config.min_pixels) {
    const double beta = std::sqrt(double(config.min_pixels) / pixels);
    h_bar = int64_t(std::ceil(double(height) * beta / double(factor))) * factor;
    w_bar = int64_t(std::ceil(double(width) * beta / double(factor))) * factor;
  }
  return {h_bar, w_bar};
}

PreparedImage preprocess_image(const RgbImage& image, const ImageProcessorConfig& config) {
  if (image.width <= 0 || image.height <= 0 ||
      image.pixels.size() != size_t(image.width) * image.height * 3)
    fail(ErrorKind::kInvalidArgument, "image: {}x{} with {} bytes is not an RGB8 image",
         image.width, image.height, image.pixels.size());
  const int64_t patch = config.patch_size, merge = config.merge_size;
  ResizedSize size{image.height, image.width};
  if (config.do_resize) size = smart_resize(image.height, image.width, config);
  if (size.height % (patch * merge) != 0 || size.width % (patch * merge) != 0)
    fail(ErrorKind::kInvalidArgument,
         "image: {}x{} is not a multiple of patch_size * merge_size = {} (do_resize is off)",
         size.width, size.height, patch * merge);

  PreparedImage out;
  out.t = 1;
  out.h = size.height / patch;
  out.w = size.width / patch;
  out.num_tokens = out.t * out.h * out.w / (merge * merge);
  const int64_t patch_dim = 3 * config.temporal_patch_size * patch * patch;
  out.pixel_values = PixelBufferPool::instance().tensor({out.h * out.w, patch_dim});
  PatchWriter writer(config, size.width, out.pixel_values.data<float>());
  if (size.height == image.height && size.width == image.width) {
    for (int32_t y = 0; y < image.height; ++y)
      writer.write_row(y, image.pixels.data() + size_t(y) * image.width * 3);
  } else {
    resize_bicubic_rows(image, int32_t(size.width), int32_t(size.height), config.pass_order,
                        [&](int32_t y, const uint8_t* row) { writer.write_row(y, row); });
  }
  return out;
}

std::string sha256_hex(std::span<const uint8_t> bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr) != 1)
    fail(ErrorKind::kInternal, "SHA-256 failed");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex(size_t(length) * 2, '0');
  for (unsigned int i = 0; i < length; ++i) {
    hex[i * 2] = kHex[digest[i] >> 4];
    hex[i * 2 + 1] = kHex[digest[i] & 15];
  }
  return hex;
}

}  // namespace glimpse::io
