// Parity with transformers 5.17 on the committed goldens (tests/golden, written by
// tools/reference/generate.py): every corpus string's ids and decodes, and the ids of every chat
// case's rendered prompt. Ids must be identical; decoded text byte-identical.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "core/npy.h"
#include "io/tokenizer.h"

namespace glimpse::io {
namespace {

const std::string kGolden = std::string(GLIMPSE_SOURCE_DIR) + "/tests/golden";

nlohmann::json read_json(const std::string& path) {
  std::ifstream file(path);
  if (!file) throw std::runtime_error(path + ": missing (the golden fixtures must be committed)");
  return nlohmann::json::parse(file);
}

std::string read_text(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw std::runtime_error(path + ": missing");
  return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

std::string streamed(const Tokenizer& tok, const std::vector<int32_t>& ids, bool skip_special) {
  StreamingDetokenizer stream(tok, skip_special);
  std::string text;
  for (const int32_t id : ids) text += stream.push(id);
  return text + stream.finish();
}

TEST(TokenizerGolden, CorpusMatchesTransformers) {
  const nlohmann::json corpus = read_json(kGolden + "/tokenizer_corpus.json");
  const Tokenizer tok =
      Tokenizer::from_model_dir(kGolden + "/" + corpus.at("tokenizer").get<std::string>());
  const auto& entries = corpus.at("entries");
  ASSERT_GE(entries.size(), 2000u);
  int failures = 0;
  for (const auto& entry : entries) {
    const auto text = entry.at("text").get<std::string>();
    const auto expected = entry.at("ids").get<std::vector<int32_t>>();
    const std::vector<int32_t> ids = tok.encode(text);
    EXPECT_EQ(ids, expected) << "text: " << nlohmann::json(text).dump();
    EXPECT_EQ(tok.decode(expected), entry.at("decoded").get<std::string>()) << text;
    EXPECT_EQ(tok.decode(expected, true), entry.at("decoded_skip_special").get<std::string>())
        << text;
    EXPECT_EQ(tok.decode(ids), text) << "decode(encode(s)) != s";
    EXPECT_EQ(streamed(tok, expected, false), tok.decode(expected)) << text;
    EXPECT_EQ(streamed(tok, expected, true), tok.decode(expected, true)) << text;
    if (ids != expected && ++failures > 20) FAIL() << "stopping after 20 mismatching strings";
  }
}

// The cases' input_ids have <|image|> expanded to one token per merged patch; rendered.txt holds
// one placeholder per image, so each is expanded by the length of its run of ids.
TEST(TokenizerGolden, RenderedPromptsMatchInputIds) {
  const nlohmann::json manifest = read_json(kGolden + "/manifest.json");
  const auto& cases = manifest.at("cases");
  ASSERT_FALSE(cases.empty());
  for (const auto& c : cases) {
    SCOPED_TRACE(c.at("id").get<std::string>());
    const Tokenizer tok = Tokenizer::from_model_dir(
        kGolden + "/" +
        manifest.at("models").at(c.at("model").get<std::string>()).get<std::string>());
    const int32_t image_id = tok.token_to_id("<|image|>").value();
    const Tensor tensor =
        read_npy(kGolden + "/" + c.at("files").at("input_ids").get<std::string>());
    std::vector<int32_t> expected;
    for (int64_t i = 0; i < tensor.numel(); ++i)
      expected.push_back(static_cast<int32_t>(tensor.data<int64_t>()[i]));

    std::vector<size_t> runs;
    size_t run = 0;
    for (size_t i = 0; i <= expected.size(); ++i) {
      if (i < expected.size() && expected[i] == image_id) {
        ++run;
      } else if (run > 0) {
        runs.push_back(run);
        run = 0;
      }
    }
    const std::string rendered =
        read_text(kGolden + "/" + c.at("files").at("rendered").get<std::string>());
    std::string expanded;
    size_t pos = 0, image = 0;
    for (size_t found; (found = rendered.find("<|image|>", pos)) != std::string::npos;
         pos = found + 9) {
      ASSERT_LT(image, runs.size()) << "more placeholders than image runs";
      expanded += rendered.substr(pos, found - pos);
      for (size_t k = 0; k < runs[image]; ++k) expanded += "<|image|>";
      ++image;
    }
    expanded += rendered.substr(pos);
    EXPECT_EQ(image, runs.size());
    EXPECT_EQ(tok.encode(expanded), expected);
    EXPECT_EQ(tok.decode(expected), expanded);
  }
}

}  // namespace
}  // namespace glimpse::io
