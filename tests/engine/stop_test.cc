// Stop rules: stop strings are never shown (also across token boundaries), held-back text is
// released once it cannot start a stop string, and eos / max_tokens / context end a request.
#include "engine/stop.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "io/tokenizer.h"

namespace glimpse::engine {
namespace {

TEST(StopStringMatcher, PassesTextThatCannotStartAStopString) {
  StopStringMatcher matcher({"xyz"});
  auto r = matcher.push("abc");
  EXPECT_EQ(r.text, "abc");
  EXPECT_FALSE(r.matched);
  EXPECT_EQ(matcher.flush(), "");
}

TEST(StopStringMatcher, HoldsAPossiblePrefixUntilItIsDecided) {
  StopStringMatcher matcher({"bcd"});
  EXPECT_EQ(matcher.push("ab").text, "a");  // "b" may start "bcd"
  EXPECT_EQ(matcher.push("c").text, "");    // "bc" still may
  auto r = matcher.push("x");               // "bcx" cannot
  EXPECT_EQ(r.text, "bcx");
  EXPECT_FALSE(r.matched);
  EXPECT_EQ(matcher.push("b").text, "");
  EXPECT_EQ(matcher.flush(), "b");  // the output ended: a held tail is shown after all
}

TEST(StopStringMatcher, MatchesAcrossPiecesAndDropsTheStopString) {
  StopStringMatcher matcher({"</s>"});
  std::string shown;
  shown += matcher.push("hello <").text;
  shown += matcher.push("/").text;
  auto r = matcher.push("s>world");
  shown += r.text;
  EXPECT_TRUE(r.matched);
  EXPECT_EQ(shown, "hello ");
}

TEST(StopStringMatcher, TheEarliestStopStringWins) {
  StopStringMatcher matcher({"cd", "bc"});
  auto r = matcher.push("abcd");
  EXPECT_TRUE(r.matched);
  EXPECT_EQ(r.text, "a");
  StopStringMatcher overlapping({"aab"});
  r = overlapping.push("aaab");
  EXPECT_TRUE(r.matched);
  EXPECT_EQ(r.text, "a");
}

TEST(StopStringMatcher, HoldsMultiByteCharactersWhole) {
  StopStringMatcher matcher({"世界!"});
  EXPECT_EQ(matcher.push("你好世").text, "你好");
  EXPECT_EQ(matcher.push("界").text, "");
  auto r = matcher.push("?");
  EXPECT_EQ(r.text, "世界?");
}

TEST(StopStringMatcher, RejectsEmptyStopStrings) {
  try {
    StopStringMatcher({"ok", ""});
    ADD_FAILURE() << "empty stop string accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("stop[1]"), std::string::npos) << e.what();
  }
}

// The golden models' tokenizer: byte-level BPE with the GLM special tokens at 3000+.
class StopCheckerTest : public ::testing::Test {
 protected:
  static constexpr int32_t kEndOfText = 3000, kUser = 3007;
  io::Tokenizer tokenizer = io::Tokenizer::from_model_dir(std::string(GLIMPSE_SOURCE_DIR) +
                                                          "/tests/golden/models/tiny-a");

  StopConditions conditions(std::vector<std::string> stop = {}, int64_t max_tokens = 100) const {
    return StopConditions{{kEndOfText, kUser}, false, std::move(stop), max_tokens, 1000};
  }

  // Feeds `text`'s tokens; returns the visible text and how the request ended.
  std::pair<std::string, std::optional<FinishReason>> feed(StopChecker& checker,
                                                           const std::string& text) const {
    std::string shown;
    for (int32_t id : tokenizer.encode(text)) {
      auto step = checker.accept(id);
      shown += step.text;
      if (step.finish) return {shown, step.finish};
    }
    return {shown, std::nullopt};
  }
};

TEST_F(StopCheckerTest, StopStringSpanningTokensIsNeverShown) {
  ASSERT_GT(tokenizer.encode("Hello world, again").size(), 2u);
  StopChecker checker(tokenizer, conditions({"lo wor"}), 10);
  auto [shown, finish] = feed(checker, "Hello world, again");
  EXPECT_EQ(shown, "Hel");
  EXPECT_EQ(finish, FinishReason::kStop);
}

TEST_F(StopCheckerTest, EosStopsShowsNothingForItselfAndReleasesHeldText) {
  StopChecker checker(tokenizer, conditions({"ab!"}), 10);
  auto [shown, finish] = feed(checker, "grab");
  EXPECT_FALSE(finish);
  EXPECT_EQ(shown, "gr");  // "ab" could still become "ab!"
  auto step = checker.accept(kUser);
  EXPECT_EQ(step.text, "ab");
  EXPECT_EQ(step.finish, FinishReason::kStop);
  EXPECT_EQ(checker.generated(), int64_t(tokenizer.encode("grab").size()) + 1);
}

TEST_F(StopCheckerTest, IgnoreEosDecodesSpecialTokensAsNothing) {
  auto c = conditions();
  c.ignore_eos = true;
  StopChecker checker(tokenizer, c, 10);
  auto step = checker.accept(kEndOfText);
  EXPECT_EQ(step.text, "");
  EXPECT_FALSE(step.finish);
}

TEST_F(StopCheckerTest, MaxTokensEndsWithLengthAndFlushesEverything) {
  const std::string text = "Good morning";
  const auto ids = tokenizer.encode(text);
  StopChecker checker(tokenizer, conditions({"ng?"}, int64_t(ids.size())), 10);
  auto [shown, finish] = feed(checker, text);
  EXPECT_EQ(shown, text);
  EXPECT_EQ(finish, FinishReason::kLength);
}

TEST_F(StopCheckerTest, ContextLimitEndsWithLength) {
  auto c = conditions();
  c.context_limit = 12;
  StopChecker checker(tokenizer, c, 10);
  EXPECT_FALSE(checker.accept(tokenizer.encode("a")[0]).finish);
  EXPECT_EQ(checker.accept(tokenizer.encode("b")[0]).finish, FinishReason::kLength);
}

TEST_F(StopCheckerTest, PaddedIdsPastTheTokenizerShowNoText) {
  StopChecker checker(tokenizer, conditions(), 10);
  auto step = checker.accept(int32_t(tokenizer.vocab_size()) + 5);
  EXPECT_EQ(step.text, "");
  EXPECT_FALSE(step.finish);
}

TEST_F(StopCheckerTest, PromptThatFillsTheContextIsAnError) {
  try {
    StopChecker(tokenizer, conditions(), 1000);
    ADD_FAILURE() << "a prompt as long as the context was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kLimitExceeded);
    EXPECT_NE(std::string(e.what()).find("1000"), std::string::npos) << e.what();
  }
  EXPECT_THROW(StopChecker(tokenizer, conditions({}, 0), 10), Error);
}

}  // namespace
}  // namespace glimpse::engine
