// The regular expressions of tokenizer.json (written for Oniguruma, which HF uses) run through
// PCRE2 in UTF mode with Unicode properties and the JIT compiler.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace glimpse::io {

struct Span {
  size_t begin;
  size_t end;
};

class TokenizerRegex {
 public:
  enum class Syntax { kRegex, kLiteral };
  // `where` names the pattern's place in tokenizer.json for error messages.
  TokenizerRegex(std::string_view pattern, Syntax syntax, const std::string& where);
  TokenizerRegex(TokenizerRegex&&) noexcept;
  ~TokenizerRegex();

  // Replaces `matches` by all matches in `text` (valid UTF-8), left to right and non-overlapping.
  // An empty match right where the previous match ended is skipped, as the onig crate does.
  void find_all(std::string_view text, std::vector<Span>& matches) const;

 private:
  struct Compiled;
  std::unique_ptr<Compiled> compiled_;
  std::string where_;
};

}  // namespace glimpse::io
