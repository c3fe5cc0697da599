// Parity with the `tokenizers` library (0.23, the version transformers 5.17 uses) on the
// tokenizer.json features the GLM goldens do not exercise: Qwen2 style (NFC, added-token options),
// GPT-2 style (ByteLevel regex + prefix space, "a b" merges), and every Split behavior/invert,
// literal and empty-matching patterns, and other normal forms (variants/). Fixtures come from
// tests/io/tokenizer_fixtures/make_fixtures.py; ids must be identical, decodes byte-identical.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

#include "io/tokenizer.h"

namespace glimpse::io {
namespace {

const std::string kFixtures = std::string(GLIMPSE_SOURCE_DIR) + "/tests/io/tokenizer_fixtures";

std::string read_text(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw std::runtime_error(path + ": missing fixture");
  return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

std::string streamed(const Tokenizer& tok, const std::vector<int32_t>& ids, bool skip_special) {
  StreamingDetokenizer stream(tok, skip_special);
  std::string text;
  for (const int32_t id : ids) text += stream.push(id);
  return text + stream.finish();
}

void expect_entries(const Tokenizer& tok, const nlohmann::json& entries, bool with_decodes) {
  ASSERT_GE(entries.size(), 100u);
  for (const auto& entry : entries) {
    const auto text = entry.at("text").get<std::string>();
    const auto expected = entry.at("ids").get<std::vector<int32_t>>();
    EXPECT_EQ(tok.encode(text), expected) << "text: " << nlohmann::json(text).dump();
    if (!with_decodes) continue;
    EXPECT_EQ(tok.decode(expected), entry.at("decoded").get<std::string>()) << text;
    EXPECT_EQ(tok.decode(expected, true), entry.at("decoded_skip_special").get<std::string>())
        << text;
    EXPECT_EQ(streamed(tok, expected, false), tok.decode(expected)) << text;
    EXPECT_EQ(streamed(tok, expected, true), tok.decode(expected, true)) << text;
  }
}

TEST(TokenizerFixture, Qwen2StyleWithNfcAndAddedTokenOptions) {
  const Tokenizer tok = Tokenizer::from_model_dir(kFixtures + "/qwen2");
  const auto expected = nlohmann::json::parse(read_text(kFixtures + "/qwen2/expected.json"));
  expect_entries(tok, expected.at("entries"), true);
}

TEST(TokenizerFixture, Gpt2StyleWithLegacyMergesAndPrefixSpace) {
  const Tokenizer tok = Tokenizer::from_model_dir(kFixtures + "/gpt2");
  const auto expected = nlohmann::json::parse(read_text(kFixtures + "/gpt2/expected.json"));
  expect_entries(tok, expected.at("entries"), true);
}

TEST(TokenizerFixture, PreTokenizerAndNormalizerVariants) {
  auto config = nlohmann::json::parse(read_text(kFixtures + "/variants/tokenizer.json"));
  const auto expected = nlohmann::json::parse(read_text(kFixtures + "/variants/expected.json"));
  ASSERT_GE(expected.at("variants").size(), 20u);
  for (const auto& variant : expected.at("variants")) {
    SCOPED_TRACE(variant.at("name").get<std::string>());
    config["normalizer"] = variant.at("normalizer");
    config["pre_tokenizer"] = variant.at("pre_tokenizer");
    const Tokenizer tok =
        Tokenizer::from_json(config.dump(), variant.at("name").get<std::string>());
    expect_entries(tok, variant.at("entries"), false);
  }
}

}  // namespace
}  // namespace glimpse::io
