// Parity of the CPU forward pass with transformers 5.17 on every golden case (tests/golden), and
// consistency of the KV cache. Tolerances: vision embeddings and first-step logits within a
// relative L2 error of 1e-4 of the fp32 reference; rope positions exactly equal.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "core/npy.h"
#include "golden_inputs.h"
#include "model/glm4v.h"
#include "ops/pixels.h"

namespace glimpse::model {
namespace {

constexpr double kVisionTolerance = 1e-4;   // rel. L2, vision_embeds.npy
constexpr double kLogitsTolerance = 1e-4;   // rel. L2, logits.npy
constexpr double kCacheTolerance = 1e-5;    // rel. L2, cached decode vs. full forward
constexpr double kLogprobTolerance = 1e-3;  // absolute, greedy.json's top-5 log-probabilities

const std::string kGolden = std::string(GLIMPSE_SOURCE_DIR) + "/tests/golden/";

double relative_l2(const Tensor& actual, const Tensor& expected) {
  EXPECT_EQ(actual.shape(), expected.shape());
  if (actual.numel() != expected.numel()) return INFINITY;
  double diff = 0, norm = 0;
  for (int64_t i = 0; i < actual.numel(); ++i) {
    const double a = actual.data<float>()[i], e = expected.data<float>()[i];
    diff += (a - e) * (a - e);
    norm += e * e;
  }
  return std::sqrt(diff / norm);
}

const Glm4vModel& golden_model(const std::string& name) {
  static std::map<std::string, std::unique_ptr<Glm4vModel>> models;
  auto& slot = models[name];
  if (!slot) slot = Glm4vModel::load(kGolden + "models/" + name);
  return *slot;
}

struct GoldenCase {
  std::string id, model;
  nlohmann::json files;
};

std::vector<GoldenCase> golden_cases() {
  std::ifstream in(kGolden + "manifest.json");
  const nlohmann::json manifest = nlohmann::json::parse(in);
  std::vector<GoldenCase> cases;
  for (const auto& c : manifest.at("cases"))
    cases.push_back({c.at("id"), c.at("model"), c.at("files")});
  return cases;
}

std::vector<int32_t> read_ids(const std::string& path) {
  const Tensor ids = read_npy(path);
  std::vector<int32_t> out;
  for (int64_t i = 0; i < ids.numel(); ++i) out.push_back(int32_t(ids.data<int64_t>()[i]));
  return out;
}

// The case's images as the model takes them: pixel_values rows split by image_grid_thw.
std::vector<ImageInput> read_images(const GoldenCase& c) {
  if (!c.files.contains("pixel_values")) return {};
  return testing::images_by_grid(
      read_npy(kGolden + c.files.at("pixel_values").get<std::string>()),
      read_npy(kGolden + c.files.at("image_grid_thw").get<std::string>()));
}

class GoldenParity : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(GoldenParity, PositionsVisionAndLogitsMatchTransformers) {
  const GoldenCase& c = GetParam();
  const Glm4vModel& model = golden_model(c.model);
  const std::vector<int32_t> ids = read_ids(kGolden + c.files.at("input_ids").get<std::string>());
  const std::vector<ImageInput> images = read_images(c);
  std::vector<ImageGrid> grids;
  for (const ImageInput& image : images) grids.push_back(image.grid);

  const MropePositions positions = model.rope_positions(ids, grids);
  const Tensor expected_positions =
      read_npy(kGolden + c.files.at("position_ids").get<std::string>());
  ASSERT_EQ(positions.positions.shape(), expected_positions.shape());
  for (int64_t i = 0; i < expected_positions.numel(); ++i)
    ASSERT_EQ(positions.positions.data<int64_t>()[i], expected_positions.data<int64_t>()[i])
        << "index " << i;

  Tensor vision;
  if (!images.empty()) {
    vision = model.encode_images(images);
    const Tensor expected = read_npy(kGolden + c.files.at("vision_embeds").get<std::string>());
    EXPECT_LT(relative_l2(vision, expected), kVisionTolerance);
  }
  KvCache cache = model.new_cache(int64_t(ids.size()));
  const Tensor logits =
      model.forward(ids, positions.positions, images.empty() ? nullptr : &vision, cache);
  EXPECT_LT(relative_l2(logits, read_npy(kGolden + c.files.at("logits").get<std::string>())),
            kLogitsTolerance);
  EXPECT_EQ(cache.size(), int64_t(ids.size()));
}

// Decoding through the KV cache, fed the reference's 16 greedy tokens at positions
// next_position + step (the reference's rope_deltas rule): every step's top-5 log-probabilities
// match greedy.json.
TEST_P(GoldenParity, CachedDecodeMatchesGreedyLogprobs) {
  const GoldenCase& c = GetParam();
  const Glm4vModel& model = golden_model(c.model);
  const std::vector<int32_t> ids = read_ids(kGolden + c.files.at("input_ids").get<std::string>());
  const std::vector<ImageInput> images = read_images(c);
  std::vector<ImageGrid> grids;
  for (const ImageInput& image : images) grids.push_back(image.grid);
  std::ifstream in(kGolden + c.files.at("greedy").get<std::string>());
  const nlohmann::json greedy = nlohmann::json::parse(in);

  const MropePositions positions = model.rope_positions(ids, grids);
  const Tensor vision = images.empty() ? Tensor() : model.encode_images(images);
  KvCache cache = model.new_cache(int64_t(ids.size() + greedy.at("steps").size()));
  Tensor logits =
      model.forward(ids, positions.positions, images.empty() ? nullptr : &vision, cache);
  int64_t step = 0;
  for (const auto& expected : greedy.at("steps")) {
    // log_softmax of the raw logits, in double.
    const float* l = logits.data<float>();
    double max_logit = l[0], sum = 0;
    for (int64_t i = 0; i < logits.numel(); ++i) max_logit = std::max(max_logit, double(l[i]));
    for (int64_t i = 0; i < logits.numel(); ++i) sum += std::exp(l[i] - max_logit);
    for (const auto& pair : expected.at("top5")) {
      const double logprob = l[pair.at(0).get<int64_t>()] - max_logit - std::log(sum);
      EXPECT_NEAR(logprob, pair.at(1).get<double>(), kLogprobTolerance) << "step " << step;
    }
    const std::vector<int32_t> token = {expected.at("token").get<int32_t>()};
    Tensor position = Tensor::empty({3, 1}, DType::kI64);
    for (int64_t axis = 0; axis < 3; ++axis)
      position.data<int64_t>()[axis] = positions.next_position + step;
    logits = model.forward(token, position, nullptr, cache);
    ++step;
  }
}

INSTANTIATE_TEST_SUITE_P(Golden, GoldenParity, ::testing::ValuesIn(golden_cases()),
                         [](const ::testing::TestParamInfo<GoldenCase>& param_info) {
                           return param_info.param.id;
                         });

TEST(Glm4vKvCache, PrefillThenDecodeEqualsFullForward) {
  for (const GoldenCase& c : golden_cases()) {
    const std::vector<ImageInput> images = read_images(c);
    if (images.empty()) continue;  // an image case exercises image splicing and 3-D positions
    const Glm4vModel& model = golden_model(c.model);
    const std::vector<int32_t> ids = read_ids(kGolden + c.files.at("input_ids").get<std::string>());
    std::vector<ImageGrid> grids;
    for (const ImageInput& image : images) grids.push_back(image.grid);
    const Tensor vision = model.encode_images(images);
    const MropePositions positions = model.rope_positions(ids, grids);
    const auto n = int64_t(ids.size());

    KvCache full_cache = model.new_cache(n);
    const Tensor full =
        model.forward(ids, positions.positions, &vision, full_cache, /*all_logits=*/true);
    ASSERT_EQ(full.shape(), (Shape{n, model.config().text.vocab_size}));

    KvCache cache = model.new_cache(n);
    const std::span<const int32_t> all(ids);
    const Tensor prompt_positions = testing::position_columns(positions.positions, 0, n - 1);
    const Tensor last_position = testing::position_columns(positions.positions, n - 1, n);
    model.forward(all.first(size_t(n - 1)), prompt_positions, &vision, cache);
    const Tensor step = model.forward(all.last(1), last_position, nullptr, cache);
    EXPECT_LT(relative_l2(step, full.row(n - 1)), kCacheTolerance) << c.id;

    // Truncating the cache and replaying the last token gives the same logits again.
    cache.truncate(n - 1);
    const Tensor replay = model.forward(all.last(1), last_position, nullptr, cache);
    EXPECT_LT(relative_l2(replay, full.row(n - 1)), kCacheTolerance) << c.id;
    return;
  }
  FAIL() << "no golden case with images";
}

TEST(Glm4vModel, BadInputsAreNamed) {
  const Glm4vModel& model = golden_model("tiny-a");
  const int32_t image_token = int32_t(model.config().image_token_id);
  const std::vector<int32_t> ids = {1, image_token, image_token, 2};
  // Two image tokens but a grid that merges to 4 tokens.
  EXPECT_THROW(model.rope_positions(ids, {{1, 4, 4}}), Error);
  EXPECT_THROW(model.rope_positions(ids, {}), Error);
  EXPECT_THROW(model.rope_positions(ids, {{-1, -4, 2}}), Error);  // negative grid merging to 2
  EXPECT_THROW(model.rope_positions(ids, {{1, 2, 5}}), Error);    // w not a multiple of the merge
  KvCache cache = model.new_cache(8);
  const MropePositions text = model.rope_positions(std::vector<int32_t>{1, 2}, {});
  EXPECT_THROW(model.forward(ids, text.positions, nullptr, cache),
               Error);  // positions [3, 2] for 4 ids
  const std::vector<int32_t> out_of_vocab = {int32_t(model.config().text.vocab_size)};
  const MropePositions one = model.rope_positions(std::vector<int32_t>{1}, {});
  EXPECT_THROW(model.forward(out_of_vocab, one.positions, nullptr, cache), Error);
  KvCache small = model.new_cache(1);
  EXPECT_THROW(model.forward(std::vector<int32_t>{1, 2}, text.positions, nullptr, small), Error);
  EXPECT_THROW(model.encode_images({{Tensor::zeros({3, 1176}, DType::kF32), {1, 2, 2}}}), Error);
}

// Images given as 8-bit samples and a level table alone (io::PixelForm::kSamples) encode exactly
// as their f32 rows, alone or mixed with images given as rows, in one call.
TEST(Glm4vModel, SamplesAloneEncodeAsTheirRows) {
  const Glm4vModel& model = golden_model("tiny-a");
  std::mt19937 rng(5);
  auto image = [&](ImageGrid grid) {
    const int64_t patches = grid.t * grid.h * grid.w;
    ImageInput in{Tensor(), grid, Tensor::empty({patches, 3 * 14 * 14}, DType::kU8),
                  Tensor::empty({3, 256}, DType::kF32)};
    for (int64_t i = 0; i < in.pixel_bytes.numel(); ++i)
      in.pixel_bytes.data<uint8_t>()[i] = uint8_t(rng());
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (int64_t i = 0; i < in.pixel_levels.numel(); ++i)
      in.pixel_levels.data<float>()[i] = normal(rng);
    in.pixel_values = Tensor::empty({patches, 3 * 2 * 14 * 14}, DType::kF32);
    ops::pixels_from_bytes(in.pixel_bytes, in.pixel_levels, in.pixel_values);
    return in;
  };
  const ImageInput a = image({1, 4, 6}), b = image({1, 2, 2});
  auto rows_only = [](ImageInput in) { return ImageInput{in.pixel_values, in.grid}; };
  auto samples_only = [](ImageInput in) {
    in.pixel_values = Tensor();
    return in;
  };
  auto same = [](const Tensor& x, const Tensor& y) {
    return x.shape() == y.shape() && std::memcmp(x.raw_data(), y.raw_data(), x.nbytes()) == 0;
  };
  EXPECT_TRUE(same(model.encode_images({samples_only(a)}), model.encode_images({rows_only(a)})));
  EXPECT_TRUE(same(model.encode_images({rows_only(a), samples_only(b)}),
                   model.encode_images({rows_only(a), rows_only(b)})));
  EXPECT_TRUE(same(model.encode_images({a, samples_only(b)}),
                   model.encode_images({rows_only(a), rows_only(b)})));

  ImageInput neither = samples_only(a);
  neither.pixel_bytes = Tensor();
  EXPECT_THROW(model.encode_images({neither}), Error);
  ImageInput short_levels = samples_only(a);
  short_levels.pixel_levels = Tensor::empty({3, 255}, DType::kF32);
  EXPECT_THROW(model.encode_images({short_levels}), Error);
  ImageInput wrong_rows = samples_only(a);
  wrong_rows.pixel_bytes = Tensor::empty({23, 3 * 14 * 14}, DType::kU8);
  EXPECT_THROW(model.encode_images({wrong_rows}), Error);
  ImageInput int_levels = samples_only(a);
  int_levels.pixel_levels = Tensor::empty({3, 256}, DType::kI32);
  EXPECT_THROW(model.encode_images({int_levels}), Error);
}

}  // namespace
}  // namespace glimpse::model
