// PromptBuilder against transformers 5.17 for every golden case (tests/golden): rendered text and
// expanded input_ids identical, image grids identical, pixel_values within max |Δ| ≤ 0.03 and
// mean |Δ| ≤ 0.003; plus placeholder/image mismatches and limits.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/npy.h"
#include "io/prompt.h"

namespace glimpse::io {
namespace {

namespace fs = std::filesystem;
const fs::path kGolden = fs::path(GLIMPSE_SOURCE_DIR) / "tests/golden";

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("missing golden file " + path.string());
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

nlohmann::ordered_json read_json(const fs::path& path) {
  return nlohmann::ordered_json::parse(read_text(path));
}

MediaPolicy golden_policy() {
  MediaPolicy policy;
  policy.base_dir = kGolden.string();  // messages name images relative to tests/golden
  policy.allow_local_paths = true;
  return policy;
}

PromptRequest request_for(const nlohmann::ordered_json& test_case) {
  PromptRequest request;
  request.messages = read_json(kGolden / test_case["messages"].get<std::string>());
  request.add_generation_prompt = test_case["add_generation_prompt"].get<bool>();
  if (!test_case["enable_thinking"].is_null())
    request.template_kwargs["enable_thinking"] = test_case["enable_thinking"];
  return request;
}

TEST(PromptGolden, EveryCaseMatchesTransformers) {
  const auto manifest = read_json(kGolden / "manifest.json");
  std::map<std::string, PromptBuilder> builders;
  int cases = 0;
  for (const auto& test_case : manifest["cases"]) {
    const std::string id = test_case["id"];
    SCOPED_TRACE(id);
    const std::string model = test_case["model"];
    if (!builders.contains(model))
      builders.emplace(
          model, PromptBuilder((kGolden / manifest["models"][model].get<std::string>()).string()));
    const Prompt prompt = builders.at(model).build(request_for(test_case), golden_policy());

    EXPECT_EQ(prompt.text, read_text(kGolden / test_case["files"]["rendered"].get<std::string>()));
    const Tensor ids =
        read_npy((kGolden / test_case["files"]["input_ids"].get<std::string>()).string());
    ASSERT_EQ(int64_t(prompt.ids.size()), ids.numel());
    for (int64_t i = 0; i < ids.numel(); ++i)
      ASSERT_EQ(prompt.ids[i], ids.data<int64_t>()[i]) << "token " << i;

    ASSERT_EQ(prompt.images.size(), test_case["images"].size());
    if (prompt.images.empty()) {
      ++cases;
      continue;
    }
    const Tensor grids =
        read_npy((kGolden / test_case["files"]["image_grid_thw"].get<std::string>()).string());
    const Tensor pixels =
        read_npy((kGolden / test_case["files"]["pixel_values"].get<std::string>()).string());
    int64_t row = 0;
    for (size_t i = 0; i < prompt.images.size(); ++i) {
      const PreparedImage& image = prompt.images[i];
      EXPECT_EQ(image.t, grids.data<int64_t>()[i * 3 + 0]);
      EXPECT_EQ(image.h, grids.data<int64_t>()[i * 3 + 1]);
      EXPECT_EQ(image.w, grids.data<int64_t>()[i * 3 + 2]);
      EXPECT_EQ(image.content_hash.size(), 64u);
      const int64_t n = image.pixel_values.numel();
      ASSERT_LE(row * pixels.size(1) + n, pixels.numel());
      const float* want = pixels.data<float>() + row * pixels.size(1);
      double max_diff = 0, sum_diff = 0;
      for (int64_t k = 0; k < n; ++k) {
        const double diff = std::fabs(double(image.pixel_values.data<float>()[k]) - want[k]);
        max_diff = std::max(max_diff, diff);
        sum_diff += diff;
      }
      EXPECT_LE(max_diff, 0.03);
      EXPECT_LE(sum_diff / double(n), 0.003);
      row += image.pixel_values.size(0);
    }
    EXPECT_EQ(row, pixels.size(0));
    ++cases;
  }
  EXPECT_GE(cases, 14);
}

PromptBuilder tiny_a() {
  return PromptBuilder((kGolden / "models/tiny-a").string());
}

ErrorKind build_error(const PromptRequest& request, const MediaPolicy& policy) {
  try {
    tiny_a().build(request, policy);
  } catch (const Error& e) {
    return e.kind();
  }
  ADD_FAILURE() << "built without error";
  return ErrorKind::kInternal;
}

TEST(PromptBuilder, PlaceholderWithoutImageIsAnError) {
  PromptRequest request;
  request.messages =
      nlohmann::ordered_json::parse(R"([{"role": "user", "content": "look: <|image|>"}])");
  EXPECT_EQ(build_error(request, golden_policy()), ErrorKind::kInvalidArgument);
}

TEST(PromptBuilder, ImageErrorsNameTheImage) {
  PromptRequest request;
  request.messages = nlohmann::ordered_json::parse(R"([{"role": "user", "content": [
      {"type": "image_url", "image_url": {"url": "images/missing.png"}}]}])");
  try {
    tiny_a().build(request, golden_policy());
    FAIL() << "built without error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
    EXPECT_NE(std::string(e.what()).find("image 0 (images/missing.png)"), std::string::npos)
        << e.what();
  }
}

TEST(PromptBuilder, EnforcesTheImageCount) {
  PromptRequest request;
  request.messages = nlohmann::ordered_json::parse(R"([{"role": "user", "content": [
      {"type": "image_url", "image_url": {"url": "images/tiny_20x24.png"}},
      {"type": "image_url", "image_url": {"url": "images/tiny_20x24.png"}}]}])");
  MediaPolicy policy = golden_policy();
  policy.max_images = 1;
  EXPECT_EQ(build_error(request, policy), ErrorKind::kLimitExceeded);
  policy.max_images = 2;
  const Prompt prompt = tiny_a().build(request, policy);
  ASSERT_EQ(prompt.images.size(), 2u);
  EXPECT_EQ(prompt.images[0].content_hash, prompt.images[1].content_hash);
}

TEST(PromptBuilder, BuildsFromPreparedImagesAsFromUrls) {
  PromptRequest request;
  request.messages = nlohmann::ordered_json::parse(R"([{"role": "user", "content": [
      {"type": "image_url", "image_url": {"url": "images/tiny_20x24.png"}},
      {"type": "text", "text": "What is this?"}]}])");
  const PromptBuilder builder = tiny_a();
  const Prompt from_url = builder.build(request, golden_policy());
  const std::string bytes = read_text(kGolden / "images/tiny_20x24.png");
  std::vector<PreparedImage> prepared = {builder.prepare_image(
      {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()})};
  const Prompt from_prepared = builder.build(request, prepared);
  EXPECT_EQ(from_prepared.text, from_url.text);
  EXPECT_EQ(from_prepared.ids, from_url.ids);
  ASSERT_EQ(from_prepared.images.size(), 1u);
  EXPECT_EQ(from_prepared.images[0].content_hash, from_url.images[0].content_hash);

  prepared.push_back(prepared.front());
  try {
    builder.build(request, prepared);
    FAIL() << "built without error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("1 image parts but 2 prepared images"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace glimpse::io
