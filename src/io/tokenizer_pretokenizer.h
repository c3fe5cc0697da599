// Pre-tokenization (tokenizer.json "pre_tokenizer"): cuts text into the words BPE encodes. Steps
// run in order on every piece the previous step produced, as HF's Sequence does. Supported:
// Split (regex or literal; every `behavior`; `invert`) and ByteLevel (`add_prefix_space`,
// `use_regex`), which must come last because BPE here works on raw bytes.
#pragma once

#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "io/tokenizer_regex.h"

namespace glimpse::io {

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

struct PreTokenizerStep {
  enum class Kind { kSplit, kByteLevel };
  Kind kind;
  std::optional<TokenizerRegex> regex;  // Split's pattern, or ByteLevel's GPT-2 regex (use_regex)
  SplitBehavior behavior = SplitBehavior::kIsolated;
  bool invert = false;
  bool use_regex = false;
  bool add_prefix_space = false;
};

class PreTokenizer {
 public:
  explicit PreTokenizer(std::vector<PreTokenizerStep> steps) : steps_(std::move(steps)) {}
  // Calls on_word for each non-empty word of text, in order.
  void run(std::string_view text, const std::function<void(std::string_view)>& on_word) const;

 private:
  void apply(size_t step, std::string_view piece,
             const std::function<void(std::string_view)>& on_word) const;
  void split(size_t step, std::string_view piece,
             const std::function<void(std::string_view)>& on_word) const;
  std::vector<PreTokenizerStep> steps_;
};

// The regex ByteLevel splits with when use_regex is true (GPT-2's).
inline constexpr std::string_view kByteLevelRegex =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

}  // namespace glimpse::io
