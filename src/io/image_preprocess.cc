#include "io/image_preprocess.h"

#include <openssl/evp.h>
#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/x86_intrinsics.h"
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

  Tensor tensor(Shape shape, DType dtype = DType::kF32) {
    const size_t bytes = size_t(shape_numel(shape)) * dtype_size(dtype);
    if (bytes < kHugePage) return Tensor::empty(std::move(shape), dtype);
    const size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
    void* data = take(rounded);
    if (!data) {
      if (posix_memalign(&data, kHugePage, rounded) != 0)
        fail(ErrorKind::kLimitExceeded, "image: cannot allocate {} bytes for pixel values", bytes);
      madvise(data, rounded, MADV_HUGEPAGE);  // advisory: without THP this is ordinary memory
    }
    std::shared_ptr<const void> owner(
        data, [this, rounded](const void* p) { give_back(const_cast<void*>(p), rounded); });
    return Tensor(Storage::borrow(data, bytes, Device::kCPU, std::move(owner)), 0, dtype,
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

#ifdef __x86_64__
#define GLIMPSE_AVX512 __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq")))
#endif

// Normalises resized rows and stores them in the reference's patch layout: merge windows
// row-major, patches row-major inside a window; within a patch channel, then the temporal copies,
// then rows and columns. The resize hands over planar rows straight into a band of merge windows
// (merge * patch rows); each band's patches are a contiguous stretch of the output, written
// front to back. Either output may be left undefined (PixelForm): the rows (`out`) or the 8-bit
// samples (`bytes`).
class PatchWriter final : public PlanarRowSink {
 public:
  PatchWriter(const ImageProcessorConfig& config, int64_t width, const Tensor& out,
              const Tensor& bytes, ImageSimd simd)
      : table_(normalisation_table(config)),
        patch_(config.patch_size),
        merge_(config.merge_size),
        temporal_(config.temporal_patch_size),
        band_rows_(merge_ * patch_),
        windows_(width / patch_ / merge_),
        // room past each plane for the 16-byte loads of a patch row's last samples
        plane_stride_(size_t(width + 64) / 64 * 64),
        band_bytes_(size_t(band_rows_) * 3 * plane_stride_),
        out_(out.defined() ? out.data<float>() : nullptr),
        bytes_(bytes.defined() ? bytes.data<uint8_t>() : nullptr) {
#ifdef __x86_64__
    if (simd == ImageSimd::kAvx512 && out_) setup_vector_path(config, out);
#else
    (void)simd;
#endif
    bands_.resize(band_bytes_ * (vector_path() ? 2 : 1));
  }

  size_t plane_stride() const {
    return plane_stride_;
  }

  uint8_t* row(int32_t y) override {
    return band(y / band_rows_) + size_t(y % band_rows_) * 3 * plane_stride_;
  }

  void row_done(int32_t y) override {
    const int64_t index = y / band_rows_, row = y % band_rows_;
    const bool last = row == band_rows_ - 1;
    if (last && bytes_) write_bytes(band(index), index);
    if (!out_) return;
#ifdef __x86_64__
    if (vector_path()) {
      // The previous band is written out a slice per row of this one, so that the stores to
      // memory overlap the resizing instead of stalling it at the end of each band.
      if (pending_ >= 0) flush_windows((row + 1) * windows_ / band_rows_);
      if (last) {
        if (pending_ >= 0) flush_windows(windows_);
        pending_ = index;
        next_window_ = 0;
      }
      return;
    }
#endif
    if (last) flush_band(band(index));
  }

  // Writes what is still pending; call once the last row is done.
  void finish() {
#ifdef __x86_64__
    if (vector_path() && pending_ >= 0) {
      flush_windows(windows_);
      pending_ = -1;
      if (vector_.stream) _mm_sfence();
    }
#endif
  }

 private:
  uint8_t* band(int64_t index) {
    return bands_.data() + size_t(index) % (bands_.size() / band_bytes_) * band_bytes_;
  }

  const uint8_t* band_row(const uint8_t* band, int64_t row, int channel) const {
    return band + (size_t(row) * 3 + size_t(channel)) * plane_stride_;
  }

  bool vector_path() const {
#ifdef __x86_64__
    return !vector_.pieces.empty();
#else
    return false;
#endif
  }

  // The band's samples in patch order, one temporal copy: each patch's channels, rows, columns.
  void write_bytes(const uint8_t* band, int64_t index) {
    uint8_t* to = bytes_ + index * windows_ * merge_ * merge_ * 3 * patch_ * patch_;
    for (int64_t window = 0; window < windows_; ++window)
      for (int64_t my = 0; my < merge_; ++my)
        for (int64_t mx = 0; mx < merge_; ++mx) {
          const size_t x0 = size_t((window * merge_ + mx) * patch_);
          for (int c = 0; c < 3; ++c)
            for (int64_t py = 0; py < patch_; ++py, to += patch_)
              copy_patch_row(band_row(band, my * patch_ + py, c) + x0, to);
        }
  }

  // patch_ bytes; for 8 to 16 (GLM's 14) as two overlapping 8-byte moves instead of a memcpy call.
  void copy_patch_row(const uint8_t* from, uint8_t* to) const {
    if (patch_ < 8 || patch_ > 16) {
      std::memcpy(to, from, size_t(patch_));
      return;
    }
    uint64_t head, tail;
    std::memcpy(&head, from, 8);
    std::memcpy(&tail, from + patch_ - 8, 8);
    std::memcpy(to, &head, 8);
    std::memcpy(to + patch_ - 8, &tail, 8);
  }

  // The table path: any configuration and CPU.
  void flush_band(const uint8_t* band) {
    const int64_t area = patch_ * patch_;
    for (int64_t window = 0; window < windows_; ++window) {
      for (int64_t my = 0; my < merge_; ++my) {
        for (int64_t mx = 0; mx < merge_; ++mx) {
          const size_t x0 = size_t((window * merge_ + mx) * patch_);
          for (int c = 0; c < 3; ++c) {
            float* first = out_;
            for (int64_t py = 0; py < patch_; ++py) {
              const uint8_t* src = band_row(band, my * patch_ + py, c) + x0;
              for (int64_t px = 0; px < patch_; ++px) *out_++ = table_[c][src[px]];
            }
            for (int64_t t = 1; t < temporal_; ++t) out_ = std::copy_n(first, area, out_);
          }
        }
      }
    }
  }

#ifdef __x86_64__
  // The AVX-512 path, one merge window at a time. Each patch row's samples are normalised
  // sixteen at a time into "unique" order: the window's values without the temporal copies,
  // channel by channel (then patch, row, column), each channel on a 16-value boundary. The output
  // vectors are then read from those values: runs of whole vectors, and single vectors crossing
  // from one (patch, channel, copy) block to the next, which take their later lanes with a second,
  // masked load. Large outputs are written with streaming stores, so that the 50 MB of a big
  // image are not first read into the cache line by line (and do not evict the working set).
  //
  // The normalisation must equal the lookup table (the reference's float32(float64(v) * rescale),
  // then float32 (x - mean) / std). Each division is computed as a product with the reciprocal
  // and one fused multiply-add correction step, which gives the correctly rounded quotient here;
  // the writer checks that against the table for all 256 samples of every channel when it is
  // set up, and keeps to the table path if any value differed.
  struct VectorPath {
    int64_t channel_stride = 0;  // floats per channel in unique order (a multiple of 16)
    int64_t window = 0;          // output floats per merge window (a multiple of 16)
    // A window's output, in order: runs of whole vectors read from consecutive values, and
    // single vectors that cross a block boundary (their lanes from `second` on, masked).
    struct Piece {
      int32_t vector;   // the first output vector of the window it writes
      int32_t count;    // vectors in a run; 0 for a crossing vector
      int32_t first;    // offset of its first value in unique order
      int32_t second;   // for a crossing vector: where lane i reads from after the boundary
      __mmask16 lanes;  // and which lanes do
    };
    std::vector<Piece> pieces;
    // Per patch row of a window, in unique order: where its samples lie in the band (relative to
    // the window's first column) and where its values go.
    std::vector<int32_t> gather_from, gather_to;
    bool stream = false, rescale = false, normalize = false;
    float divisor = 0, inverse_divisor = 0;  // the rescale as a division
    float mean[3] = {}, std[3] = {}, inverse_std[3] = {};
    // A window's values in unique order, from the first 64-byte boundary 16 floats in (so that a
    // crossing vector's masked-off lanes, up to 15 before its `second`, stay inside).
    std::vector<float> values;
  };

  void setup_vector_path(const ImageProcessorConfig& config, const Tensor& out) {
    const int64_t area = patch_ * patch_, per_channel = merge_ * merge_ * area;
    VectorPath v;
    v.channel_stride = (per_channel + 15) / 16 * 16;
    v.window = 3 * temporal_ * per_channel;
    if (area < 16 || v.window % 16 != 0) return;  // the table path handles these
    const auto unique_offset = [&](int64_t o) {   // output float o of a window in unique order
      const int64_t p = o / (3 * temporal_ * area), c = o / (temporal_ * area) % 3;
      return int32_t(c * v.channel_stride + p * area + o % area);
    };
    for (int64_t o = 0; o < v.window; o += 16) {
      const int32_t first = unique_offset(o);
      int lane = 1;
      while (lane < 16 && unique_offset(o + lane) == first + lane) ++lane;
      const int32_t vector = int32_t(o / 16);
      if (lane == 16) {
        VectorPath::Piece* last = v.pieces.empty() ? nullptr : &v.pieces.back();
        if (last && last->count > 0 && last->vector + last->count == vector &&
            last->first + 16 * last->count == first) {
          ++last->count;
        } else {
          v.pieces.push_back({vector, 1, first, first, 0});
        }
        continue;
      }
      const int32_t second = unique_offset(o + lane) - lane;
      for (int rest = lane; rest < 16; ++rest)
        if (unique_offset(o + rest) != second + rest) return;  // blocks shorter than a vector
      v.pieces.push_back({vector, 0, first, second, __mmask16(0xFFFFu << lane)});
    }
    for (int c = 0; c < 3; ++c)
      for (int64_t my = 0; my < merge_; ++my)
        for (int64_t mx = 0; mx < merge_; ++mx)
          for (int64_t py = 0; py < patch_; ++py) {
            v.gather_from.push_back(
                int32_t((size_t(my * patch_ + py) * 3 + c) * plane_stride_ + mx * patch_));
            v.gather_to.push_back(
                int32_t(c * v.channel_stride + (my * merge_ + mx) * area + py * patch_));
          }
    const bool aligned = reinterpret_cast<uintptr_t>(out_) % 64 == 0;
    v.stream = aligned && out.nbytes() >= (size_t(4) << 20);
    v.rescale = config.do_rescale;
    v.normalize = config.do_normalize;
    v.divisor = float(1.0 / config.rescale_factor);
    v.inverse_divisor = float(config.rescale_factor);
    for (int c = 0; c < 3; ++c) {
      v.mean[c] = config.image_mean[c];
      v.std[c] = config.image_std[c];
      v.inverse_std[c] = 1.0f / config.image_std[c];
    }
    v.values.assign(size_t(3 * v.channel_stride) + 64, 0.0f);  // + margins and alignment
    vector_ = std::move(v);
    if (!normalisation_is_exact()) vector_ = VectorPath{};  // the table path, then
  }

  // Sixteen samples of one channel normalised: float(v) is exact, and each of the reference's
  // two roundings (float32(v * rescale) and float32((x - mean) / std), the rescale written as the
  // division by 1 / rescale) is a product with the reciprocal plus one fused multiply-add
  // correction step.
  GLIMPSE_AVX512 __m512 normalise16(const uint8_t* samples, int channel) const {
    const VectorPath& v = vector_;
    __m512 x = _mm512_cvtepi32_ps(
        _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(samples))));
    if (v.rescale) {
      const __m512 r = _mm512_set1_ps(v.inverse_divisor);
      const __m512 q = _mm512_mul_ps(x, r);
      x = _mm512_fmadd_ps(_mm512_fnmadd_ps(q, _mm512_set1_ps(v.divisor), x), r, q);
    }
    if (v.normalize) {
      const __m512 d = _mm512_sub_ps(x, _mm512_set1_ps(v.mean[channel]));
      const __m512 r = _mm512_set1_ps(v.inverse_std[channel]);
      const __m512 q = _mm512_mul_ps(d, r);
      x = _mm512_fmadd_ps(_mm512_fnmadd_ps(q, _mm512_set1_ps(v.std[channel]), d), r, q);
    }
    return x;
  }

  GLIMPSE_AVX512 bool normalisation_is_exact() const {
    uint8_t samples[256 + 16];
    for (int i = 0; i < 256 + 16; ++i) samples[i] = uint8_t(i);
    for (int c = 0; c < 3; ++c) {
      for (int i = 0; i < 256; i += 16) {
        alignas(64) float got[16];
        _mm512_store_ps(got, normalise16(samples + i, c));
        if (std::memcmp(got, &table_[c][i], sizeof(got)) != 0) return false;
      }
    }
    return true;
  }

  void flush_windows(int64_t end) {
    for (; next_window_ < end; ++next_window_)
      flush_window(band(pending_), next_window_,
                   out_ + (pending_ * windows_ + next_window_) * vector_.window);
  }

  GLIMPSE_AVX512 void flush_window(const uint8_t* band, int64_t window, float* out) {
    VectorPath& v = vector_;
    const uint8_t* from = band + size_t(window * merge_ * patch_);
    float* values = v.values.data() + 16 +
                    (64 - reinterpret_cast<uintptr_t>(v.values.data()) % 64) % 64 / sizeof(float);
    const size_t rows = v.gather_from.size() / 3;  // patch rows per channel
    for (int c = 0; c < 3; ++c) {
      const int32_t* src = v.gather_from.data() + c * rows;
      const int32_t* dst = v.gather_to.data() + c * rows;
      normalise_rows(from, src, dst, rows, c, values);
    }
    if (v.stream) {
      write_pieces<true>(values, out);
    } else {
      write_pieces<false>(values, out);
    }
  }

  // Each patch row of one channel, sixteen samples at a time, into unique order; in increasing
  // order, so that the lanes past a row's end are overwritten by the next row.
  GLIMPSE_AVX512 void normalise_rows(const uint8_t* from, const int32_t* src, const int32_t* dst,
                                     size_t rows, int channel, float* values) const {
    for (size_t i = 0; i < rows; ++i)
      for (int64_t x = 0; x < patch_; x += 16)
        _mm512_storeu_ps(values + dst[i] + x, normalise16(from + src[i] + x, channel));
  }

  template <bool Stream>
  GLIMPSE_AVX512 void write_pieces(const float* values, float* out) const {
    for (const VectorPath::Piece& piece : vector_.pieces) {
      float* to = out + int64_t(piece.vector) * 16;
      const float* from = values + piece.first;
      const int32_t count = piece.count;
      if (count == 0) {
        const __m512 x =
            _mm512_mask_loadu_ps(_mm512_loadu_ps(from), piece.lanes, values + piece.second);
        Stream ? _mm512_stream_ps(to, x) : _mm512_storeu_ps(to, x);
        continue;
      }
      for (int32_t i = 0; i < count; ++i) {
        const __m512 x = _mm512_loadu_ps(from + i * 16);
        Stream ? _mm512_stream_ps(to + i * 16, x) : _mm512_storeu_ps(to + i * 16, x);
      }
    }
  }

  VectorPath vector_;
  int64_t pending_ = -1;     // the band waiting to be written, if any
  int64_t next_window_ = 0;  // its first window not yet written
#endif

  std::array<std::array<float, 256>, 3> table_;
  int64_t patch_, merge_, temporal_;
  int64_t band_rows_, windows_;
  size_t plane_stride_, band_bytes_;
  std::vector<uint8_t> bands_;  // [band][row][channel][x], plane_stride_ bytes per channel
  float* out_;                  // the table path's next value to write; the vector path's start
  uint8_t* bytes_;              // the samples of every patch (write_bytes)
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

PreparedImage preprocess_image(const RgbImage& image, const ImageProcessorConfig& config,
                               PixelForm form) {
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
  if (form != PixelForm::kSamples)
    out.pixel_values = PixelBufferPool::instance().tensor({out.h * out.w, patch_dim});
  if (form != PixelForm::kRows) {
    out.pixel_bytes =
        PixelBufferPool::instance().tensor({out.h * out.w, 3 * patch * patch}, DType::kU8);
    const auto table = normalisation_table(config);
    out.pixel_levels = Tensor::empty({3, 256}, DType::kF32);
    for (int c = 0; c < 3; ++c)
      std::copy(table[c].begin(), table[c].end(), out.pixel_levels.data<float>() + c * 256);
  }
  PatchWriter writer(config, size.width, out.pixel_values, out.pixel_bytes, image_simd());
  resize_bicubic_planar(image, int32_t(size.width), int32_t(size.height), config.pass_order,
                        writer.plane_stride(), writer);
  writer.finish();
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
