// The bundled demo model (models/glimpse-demo) answers the 100 committed "shapes world" scenes
// (tests/demo_scenes/scenes.jsonl + images, from tools/train_demo/scenes.py) through the whole
// pipeline: greedy, thinking off, answer stripped, as tools/train_demo/evaluate.py asks
// transformers. Checked: glimpse gives transformers' answer (demo_reference_answers.jsonl, from
// tools/eval_demo/reference_answers.py) on at least 99 of the 100 scenes (one near-tie may flip
// with float summation order), and that at least 93 of the 100 answers match the expected ones
// exactly (the goal; the shipped model gets 96, docs/demo-model.md), so a regression in
// either the engine or the weights fails here.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/generator.h"
#include "io/prompt.h"
#include "model/glm4v.h"

namespace glimpse::engine {
namespace {

namespace fs = std::filesystem;

// The goal: >= 93 % exact match over all 100 scenes (answer == the scene's expected answer).
constexpr int kRequiredCorrect = 93;  // of 100 scenes
constexpr int kRequiredAgreement = 99;  // of 100 scenes
constexpr int64_t kMaxNewTokens = 40;   // as evaluate.py

// Python's str.strip() for the whitespace an answer can end with.
std::string strip(const std::string& s) {
  const char* space = " \t\n\r\f\v";
  const size_t begin = s.find_first_not_of(space);
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(space) - begin + 1);
}

TEST(DemoAccuracy, AnswersTheCommittedScenesAsTransformersDoes) {
  const fs::path source(GLIMPSE_SOURCE_DIR);
  const fs::path scenes_dir = source / "tests" / "demo_scenes";
  const std::string model_dir = (source / "models" / "glimpse-demo").string();
  std::ifstream lines(scenes_dir / "scenes.jsonl");
  ASSERT_TRUE(lines) << "missing " << (scenes_dir / "scenes.jsonl");
  std::vector<std::string> reference;  // transformers' answer per scene
  std::ifstream reference_lines(source / "tests" / "engine" / "demo_reference_answers.jsonl");
  for (std::string line; std::getline(reference_lines, line);)
    if (!strip(line).empty())
      reference.push_back(nlohmann::json::parse(line).at("answer").get<std::string>());
  ASSERT_EQ(reference.size(), 100u) << "tests/engine/demo_reference_answers.jsonl";

  const io::PromptBuilder prompts(model_dir);
  const auto model = model::Glm4vModel::load(model_dir);
  const Generator generator(*model, prompts);
  io::MediaPolicy media;
  media.base_dir = scenes_dir.string();
  media.allow_local_paths = true;
  GenerationParams params;
  params.sampling.temperature = 0.0;
  params.max_tokens = kMaxNewTokens;

  std::map<std::string, std::pair<int, int>> tally;  // key -> (correct, total)
  int line_number = 0, agreeing = 0;
  for (std::string line; std::getline(lines, line);) {
    ++line_number;
    if (strip(line).empty()) continue;
    const auto scene = nlohmann::json::parse(line);
    io::PromptRequest request;
    request.messages = nlohmann::ordered_json::array(
        {{{"role", "user"},
          {"content", nlohmann::ordered_json::array(
                          {{{"type", "image_url"}, {"image_url", {{"url", scene.at("image")}}}},
                           {{"type", "text"}, {"text", scene.at("question")}}})}}});
    request.template_kwargs["enable_thinking"] = false;
    const auto result = generator.generate(request, media, params, nullptr);
    const std::string answer = strip(result.text);
    const bool correct = answer == scene.at("answer").get<std::string>();
    if (size_t(line_number) <= reference.size()) {
      if (answer == reference[size_t(line_number - 1)]) {
        ++agreeing;
      } else {
        std::printf("scene %d: transformers answered '%s', glimpse '%s'\n", line_number,
                    reference[size_t(line_number - 1)].c_str(), answer.c_str());
      }
    }
    const auto type = scene.at("type").get<std::string>();
    for (const auto& key :
         {type, type + "/" + scene.at("lang").get<std::string>(), std::string("all")}) {
      tally[key].first += correct;
      tally[key].second += 1;
    }
  }
  for (const auto& [key, counts] : tally)
    std::printf("%-22s %4d/%-4d %6.2f %%\n", key.c_str(), counts.first, counts.second,
                100.0 * counts.first / counts.second);
  ASSERT_EQ(tally["all"].second, 100) << "expected the 100 committed scenes";
  EXPECT_GE(agreeing, kRequiredAgreement) << "answers identical to transformers'";
  std::printf("exact match %d/100 (goal >= %d)\n", tally["all"].first, kRequiredCorrect);
  EXPECT_GE(tally["all"].first, kRequiredCorrect) << "exact match over the 100 scenes, in %";
}

}  // namespace
}  // namespace glimpse::engine
