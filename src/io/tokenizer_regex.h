// The regular expressions of tokenizer.json (written for Oniguruma, which HF uses) run through
// PCRE2 in UTF mode with Unicode properties and the JIT compiler.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

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

  // Where a left-to-right scan for matches stands (start with a default-constructed one).
  struct Cursor {
    size_t search_from = 0;
    bool has_previous = false;
    size_t previous_end = 0;
  };
  // The next match in `text` (valid UTF-8) after the cursor, non-overlapping; false when there is
  // none. An empty match right where the previous match ended is skipped, as the onig crate does.
  bool find_next(std::string_view text, Cursor& cursor, Span& match) const;

 private:
  struct Compiled;
  std::unique_ptr<Compiled> compiled_;
  std::string where_;
};

}  // namespace glimpse::io
