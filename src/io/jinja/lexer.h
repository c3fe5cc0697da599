// Splits template source into tokens the way Jinja 3.1's lexer does under transformers' settings
// (trim_blocks, lstrip_blocks, no trailing newline kept, newlines normalised to \n): text, tag
// delimiters, and the names, literals and operators inside tags. Comments vanish here and raw
// blocks become text.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "io/jinja/value.h"

namespace glimpse::io::jinja {

struct SourcePos {
  int line = 1;
  int column = 1;  // in code points, 1-based
};

enum class TokenType {
  kText,
  kVariableBegin,  // {{
  kVariableEnd,    // }}
  kBlockBegin,     // {%
  kBlockEnd,       // %}
  kName,
  kString,  // text holds the decoded value
  kInteger,
  kFloat,
  kOperator,  // text holds the operator: "+", "//", "(", ...
  kEnd,
};

struct Token {
  TokenType type;
  std::string text;
  Json number;  // kInteger, kFloat
  SourcePos pos;
};

// Throws Error (kInvalidArgument) "line L, column C: ..." on malformed source (bad UTF-8,
// unterminated tag, comment or string, unbalanced brackets, unexpected character).
std::vector<Token> tokenize(std::string_view source);

const char* describe(TokenType type);

}  // namespace glimpse::io::jinja
