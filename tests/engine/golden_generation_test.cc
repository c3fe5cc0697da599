// Greedy generation against transformers 5.17 (tests/golden), every case in the manifest, 16
// decode steps with eos ignored (as the reference recorded them); tolerances in golden_compare.h.
// Two entries: from the processor's arrays (input_ids, pixel_values, image_grid_thw: the model
// and the generation loop alone), and end to end from the image files and messages through
// PromptBuilder. Missing goldens fail the test.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "core/npy.h"
#include "engine/generator.h"
#include "golden_compare.h"
#include "io/prompt.h"
#include "model/glm4v.h"

namespace glimpse::engine {
namespace {

using namespace engine::testing;

struct LoadedModel {
  std::unique_ptr<model::Glm4vModel> model;
  std::unique_ptr<io::PromptBuilder> prompts;
};

const LoadedModel& load(const std::string& model_dir) {
  static std::map<std::string, LoadedModel> cache;
  auto it = cache.find(model_dir);
  if (it == cache.end()) {
    LoadedModel loaded{model::Glm4vModel::load(model_dir),
                       std::make_unique<io::PromptBuilder>(model_dir)};
    it = cache.emplace(model_dir, std::move(loaded)).first;
  }
  return it->second;
}

GenerationParams greedy_params() {
  GenerationParams params;
  params.sampling.temperature = 0.0;
  params.sampling.logprobs = kAlternatives;
  params.max_tokens = kGoldenSteps;
  params.ignore_eos = true;
  return params;
}

std::filesystem::path case_file(const nlohmann::json& entry, const char* name) {
  return golden_dir() / entry.at("files").at(name).get<std::string>();
}

// Runs `generate` for every case and checks what it produced against the reference.
void for_every_case(const std::function<GenerationResult(const nlohmann::json& entry,
                                                         const Generator&)>& generate) {
  const auto manifest = read_json_file(golden_dir() / "manifest.json");
  const auto& cases = manifest.at("cases");
  ASSERT_GE(cases.size(), 1u) << "no golden cases";
  for (const auto& entry : cases) {
    const auto id = entry.at("id").get<std::string>();
    SCOPED_TRACE(id);
    const auto model_dir =
        (golden_dir() /
         manifest.at("models").at(entry.at("model").get<std::string>()).get<std::string>())
            .string();
    const LoadedModel& loaded = load(model_dir);
    const Generator generator(*loaded.model, *loaded.prompts);
    const GenerationResult result = generate(entry, generator);

    const auto input_ids = read_int64_npy(case_file(entry, "input_ids"));
    EXPECT_EQ(std::vector<int64_t>(result.prompt_ids.begin(), result.prompt_ids.end()), input_ids)
        << id << ": prompt ids differ from the processor's";
    EXPECT_EQ(result.finish_reason, FinishReason::kLength);
    std::vector<OurStep> ours;
    for (const auto& token : result.tokens) {
      OurStep step{token.token_id, {}};
      for (const auto& alternative : token.logprobs->top)
        step.logprobs[alternative.token_id] = alternative.logprob;
      ours.push_back(std::move(step));
    }
    EXPECT_GE(expect_matches_reference(read_json_file(case_file(entry, "greedy")), ours, id), 1);
  }
}

TEST(GoldenGeneration, FromTheProcessorArrays) {
  for_every_case([](const nlohmann::json& entry, const Generator& generator) {
    io::Prompt prompt;
    for (int64_t id : read_int64_npy(case_file(entry, "input_ids")))
      prompt.ids.push_back(int32_t(id));
    if (entry.at("files").contains("pixel_values")) {
      const Tensor pixels = read_npy(case_file(entry, "pixel_values").string());
      const auto grids = read_int64_npy(case_file(entry, "image_grid_thw"));
      int64_t row = 0;
      for (size_t i = 0; i + 2 < grids.size(); i += 3) {
        io::PreparedImage image;
        image.t = grids[i], image.h = grids[i + 1], image.w = grids[i + 2];
        image.num_tokens = image.t * image.h * image.w / 4;  // merge 2 x 2
        image.pixel_values = pixels.slice_rows(row, row + image.t * image.h * image.w);
        row += image.t * image.h * image.w;
        prompt.images.push_back(std::move(image));
      }
      EXPECT_EQ(row, pixels.size(0));
    }
    return generator.generate(prompt, greedy_params(), nullptr);
  });
}

TEST(GoldenGeneration, EndToEndFromImageFilesAndMessages) {
  io::MediaPolicy media;
  media.base_dir = golden_dir().string();  // messages.json image paths are relative to it
  media.allow_local_paths = true;
  for_every_case([&](const nlohmann::json& entry, const Generator& generator) {
    io::PromptRequest request;
    request.messages = read_json_file(golden_dir() / entry.at("messages").get<std::string>());
    request.add_generation_prompt = entry.at("add_generation_prompt").get<bool>();
    if (!entry.at("enable_thinking").is_null())
      request.template_kwargs["enable_thinking"] = entry.at("enable_thinking").get<bool>();
    int64_t events = 0;
    auto result = generator.generate(request, media, greedy_params(), [&](const TokenEvent& e) {
      EXPECT_EQ(e.index, events++);
      EXPECT_NE(e.logprobs, nullptr);
    });
    EXPECT_EQ(events, kGoldenSteps) << "one callback per token";
    return result;
  });
}

}  // namespace
}  // namespace glimpse::engine
