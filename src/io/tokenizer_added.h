// Added tokens (tokenizer.json "added_tokens"): found in the text before any BPE, the way HF's
// AddedVocabulary does it: leftmost-longest, non-overlapping matches, then single_word, lstrip
// and rstrip applied to each match.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace glimpse::io {

struct AddedToken {
  std::string content;
  int32_t id = 0;
  bool special = false;
  bool single_word = false;  // only matches with no word character touching either side
  bool lstrip = false;       // takes the whitespace before it
  bool rstrip = false;       // takes the whitespace after it
  bool normalized = true;    // matched in the normalized text (else in the raw text)
};

// A piece of the text: either an added token's id or text still to tokenize.
struct TextPiece {
  std::string_view text;
  int32_t added_id = -1;
};

class AddedTokenMatcher {
 public:
  // `patterns[i]` is the text to find for tokens[i] (its content, normalized when it applies).
  AddedTokenMatcher(std::vector<AddedToken> tokens, std::vector<std::string> patterns);

  bool empty() const { return tokens_.empty(); }
  // Splits text into pieces, appending to out; an empty text gives no pieces.
  void split(std::string_view text, std::vector<TextPiece>& out) const;

 private:
  struct Match {
    size_t begin;
    size_t end;
    size_t token;
  };
  bool find_leftmost_longest(std::string_view text, size_t from, Match& match) const;

  std::vector<AddedToken> tokens_;
  // Byte trie over the patterns: node 0 is the root; edges_ maps (node << 8 | byte) -> child.
  std::vector<int32_t> terminal_;  // per node: index of the token ending there, or -1
  std::vector<std::vector<std::pair<uint8_t, int32_t>>> edges_;
  bool can_start_[256] = {};
};

// Unicode classes used by single_word/lstrip/rstrip, as Rust's regex crate defines \w and \s.
bool is_word_character(char32_t cp);
bool is_white_space(char32_t cp);

}  // namespace glimpse::io
