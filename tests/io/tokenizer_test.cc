// Tokenizer behaviour beyond parity: the UTF-8 rules (input validation, lossy decoding as Rust's
// from_utf8_lossy, which HF's ByteLevel decoder uses), streaming at character boundaries, the
// errors for bad ids and bad tokenizer.json files, and encoding from several threads at once.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <fstream>
#include <functional>
#include <thread>

#include "core/error.h"
#include "io/tokenizer.h"
#include "io/tokenizer_utf8.h"

namespace glimpse::io {
namespace {

const std::string kTinyA = std::string(GLIMPSE_SOURCE_DIR) + "/tests/golden/models/tiny-a";

const Tokenizer& tiny_a() {
  static const Tokenizer tok = Tokenizer::from_model_dir(kTinyA);
  return tok;
}

std::string lossy(std::string_view bytes) {
  std::string out;
  utf8::append_lossy(bytes, out);
  return out;
}

// Expected values follow the Unicode "maximal subpart" practice (Python's errors="replace" gives
// the same): one U+FFFD per maximal invalid subpart, one for an incomplete sequence at the end.
TEST(TokenizerUtf8, LossyDecodingReplacesMaximalSubparts) {
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(lossy("Hello\xF0\x90\x80World"), "Hello" + r + "World");
  EXPECT_EQ(lossy("ab\xE4\xBD"), "ab" + r);
  EXPECT_EQ(lossy("\xE0\x80\x80"), r + r + r);          // overlong: E0 needs A0..BF next
  EXPECT_EQ(lossy("\xED\xA0\x80"), r + r + r);          // surrogate
  EXPECT_EQ(lossy("\xF4\x90\x80\x80"), r + r + r + r);  // above U+10FFFF
  EXPECT_EQ(lossy("\xC0\xAF"), r + r);
  EXPECT_EQ(lossy("\xF0\x9F\x99\x82 ok"), "\xF0\x9F\x99\x82 ok");
}

TEST(TokenizerUtf8, FindsFirstInvalidByte) {
  EXPECT_EQ(utf8::find_invalid("plain ascii text, long enough for the 8-byte path"), utf8::kValid);
  EXPECT_EQ(utf8::find_invalid("caf\xC3\xA9 \xE4\xB8\xAD"), utf8::kValid);
  EXPECT_EQ(utf8::find_invalid("abcdefghij\x80"), 10u);
  EXPECT_EQ(utf8::find_invalid("x\xE4\xB8"), 1u);
  EXPECT_EQ(utf8::find_invalid("\xED\xA0\x80"), 0u);
}

TEST(Tokenizer, RejectsInvalidUtf8WithTheOffset) {
  try {
    tiny_a().encode("hello \xFF world");
    FAIL() << "invalid UTF-8 was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("byte 6"), std::string::npos) << e.what();
  }
}

TEST(Tokenizer, VocabularyQueries) {
  const Tokenizer& tok = tiny_a();
  EXPECT_EQ(tok.vocab_size(), 3036);
  EXPECT_EQ(tok.token_to_id("<|user|>"), 3007);
  EXPECT_EQ(tok.id_to_token(3007), "<|user|>");
  EXPECT_TRUE(tok.is_special(3007));
  EXPECT_FALSE(tok.is_special(*tok.token_to_id("<think>")));             // added, not special (GLM)
  EXPECT_EQ(tok.id_to_token(*tok.token_to_id("\xC4\xA0")), "\xC4\xA0");  // "Ġ", byte-level space
  EXPECT_EQ(tok.token_bytes(*tok.token_to_id("\xC4\xA0")), " ");
  EXPECT_FALSE(tok.token_to_id("no such token").has_value());
  const std::vector<int32_t> ids = tok.encode("<think>x</think><|user|>");
  EXPECT_EQ(tok.decode(ids, true), "<think>x</think>");
}

TEST(Tokenizer, BadIdsAreErrors) {
  const Tokenizer& tok = tiny_a();
  const std::vector<int32_t> bad = {5, 3036};
  EXPECT_THROW(tok.decode(bad), Error);
  EXPECT_THROW(tok.id_to_token(-1), Error);
  EXPECT_THROW(tok.is_special(1 << 30), Error);
  StreamingDetokenizer stream(tok, false);
  EXPECT_THROW(stream.push(99999), Error);
}

TEST(StreamingDetokenizer, HoldsBackSplitCharacters) {
  const Tokenizer& tok = tiny_a();
  // "中" is E4 B8 AD; its byte tokens are the byte-level characters of each byte.
  const int32_t e4 = *tok.token_to_id("\xC3\xA4"), b8 = *tok.token_to_id("\xC2\xB8");
  const int32_t ad = *tok.token_to_id("\xC5\x83");  // "Ń": 0xAD is the last unprintable byte
  EXPECT_EQ(tok.token_bytes(ad), std::string_view("\xAD"));
  StreamingDetokenizer stream(tok, false);
  EXPECT_EQ(stream.push(*tok.token_to_id("a")), "a");
  EXPECT_EQ(stream.push(e4), "");
  EXPECT_EQ(stream.push(b8), "");
  EXPECT_EQ(stream.push(ad), "\xE4\xB8\xAD");
  EXPECT_EQ(stream.push(e4), "");
  EXPECT_EQ(stream.push(*tok.token_to_id("a")),
            "\xEF\xBF\xBD"
            "a");  // cut short: replaced
  EXPECT_EQ(stream.push(e4), "");
  EXPECT_EQ(stream.finish(), "\xEF\xBF\xBD");  // incomplete at the end
  const std::vector<int32_t> all = {*tok.token_to_id("a"), e4, b8, ad, e4,
                                    *tok.token_to_id("a"), e4};
  EXPECT_EQ(tok.decode(all),
            "a\xE4\xB8\xAD\xEF\xBF\xBD"
            "a\xEF\xBF\xBD");
}

Tokenizer load_modified(const std::function<void(nlohmann::json&)>& edit) {
  std::ifstream file(kTinyA + "/tokenizer.json");
  nlohmann::json config = nlohmann::json::parse(file);
  edit(config);
  return Tokenizer::from_json(config.dump(), "edited.json");
}

void expect_load_error(const std::function<void(nlohmann::json&)>& edit, ErrorKind kind,
                       const std::string& mentions) {
  try {
    load_modified(edit);
    FAIL() << "loaded; expected an error mentioning " << mentions;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    EXPECT_NE(std::string(e.what()).find(mentions), std::string::npos) << e.what();
  }
}

TEST(TokenizerLoad, ClearErrorsForBadFiles) {
  using J = nlohmann::json;
  EXPECT_THROW(Tokenizer::from_file("/nonexistent/tokenizer.json"), Error);
  EXPECT_THROW(Tokenizer::from_json("{\"model\": ", "truncated.json"), Error);
  expect_load_error([](J& c) { c["model"]["type"] = "WordPiece"; }, ErrorKind::kUnsupported,
                    "WordPiece");
  expect_load_error(
      [](J& c) {
        c["model"]["merges"][0] = J::array({"zz?", "q"});
      },
      ErrorKind::kCorrupt, "model.merges[0]");
  expect_load_error([](J& c) { c["model"]["merges"][0] = "a b c"; }, ErrorKind::kCorrupt,
                    "model.merges[0]");
  expect_load_error([](J& c) { c["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(a"; },
                    ErrorKind::kCorrupt, "pretokenizers[0].pattern");
  expect_load_error([](J& c) { c["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Sideways"; },
                    ErrorKind::kCorrupt, "Sideways");
  expect_load_error(
      [](J& c) {
        c["pre_tokenizer"] = J{{"type", "Whitespace"}};
      },
      ErrorKind::kUnsupported, "Whitespace");
  expect_load_error([](J& c) { c["decoder"] = nullptr; }, ErrorKind::kUnsupported, "decoder");
  expect_load_error(
      [](J& c) {
        c["normalizer"] = J{{"type", "Lowercase"}};
      },
      ErrorKind::kUnsupported, "Lowercase");
  expect_load_error([](J& c) { c["added_tokens"][0]["id"] = 2000000000; }, ErrorKind::kUnsupported,
                    "sparse");
  expect_load_error([](J& c) { c["added_tokens"][0]["id"] = -3; }, ErrorKind::kCorrupt,
                    "added_tokens[0].id");
  expect_load_error([](J& c) { c["model"]["vocab"]["dup"] = 5; }, ErrorKind::kCorrupt,
                    "used twice");
}

TEST(Tokenizer, EncodesConcurrently) {
  const Tokenizer tok = Tokenizer::from_model_dir(kTinyA);  // a cold cache, filled by all threads
  std::vector<std::string> texts;
  for (int i = 0; i < 200; ++i)
    texts.push_back("Paragraph " + std::to_string(i) + ": the quick brown fox, número " +
                    std::to_string(i * 7919) + " 你好 <|user|> it's fine");
  std::vector<std::vector<int32_t>> expected;
  for (const auto& text : texts) expected.push_back(tiny_a().encode(text));
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (size_t i = 0; i < texts.size(); ++i) {
        const size_t k = (i * 7 + static_cast<size_t>(t) * 13) % texts.size();
        if (tok.encode(texts[k]) != expected[k]) ++mismatches;
      }
    });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
}  // namespace glimpse::io
