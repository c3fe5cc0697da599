#include "io/jinja/lexer.h"

#include <algorithm>
#include <charconv>
#include <optional>

#include "core/error.h"
#include "io/jinja/text.h"

namespace glimpse::io::jinja {

const char* describe(TokenType type) {
  switch (type) {
    case TokenType::kText:
      return "template text";
    case TokenType::kVariableBegin:
      return "'{{'";
    case TokenType::kVariableEnd:
      return "'}}'";
    case TokenType::kBlockBegin:
      return "'{%'";
    case TokenType::kBlockEnd:
      return "'%}'";
    case TokenType::kName:
      return "name";
    case TokenType::kString:
      return "string";
    case TokenType::kInteger:
      return "integer";
    case TokenType::kFloat:
      return "float";
    case TokenType::kOperator:
      return "operator";
    case TokenType::kEnd:
      return "end of template";
  }
  return "token";
}

namespace {

// Jinja splits the source on \r\n, \r and \n, joins with \n and drops one trailing newline.
std::string normalize_newlines(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

class Lexer {
 public:
  explicit Lexer(std::string source) : source_(std::move(source)) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < source_.size(); ++i)
      if (source_[i] == '\n') line_starts_.push_back(i + 1);
    size_t pos = 0;
    try {
      while (pos < source_.size()) next_code_point(source_, &pos);
    } catch (const Error&) {
      error_at(pos, "invalid UTF-8");
    }
  }

  std::vector<Token> run() {
    bool line_starting = true;
    while (pos_ < source_.size()) line_starting = lex_text_and_tag(line_starting);
    tokens_.push_back({TokenType::kEnd, "", nullptr, position(source_.size())});
    return std::move(tokens_);
  }

 private:
  // Tokens come in source order, so positions are found by walking forward from the last one;
  // an earlier offset (an error about an opening delimiter) walks from its line start.
  SourcePos position(size_t offset) {
    if (offset < cursor_offset_) {
      const auto after = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
      cursor_offset_ = *(after - 1);
      cursor_pos_ = {static_cast<int>(after - line_starts_.begin()), 1};
    }
    for (; cursor_offset_ < offset; ++cursor_offset_) {
      const char c = source_[cursor_offset_];
      if (c == '\n') {
        ++cursor_pos_.line;
        cursor_pos_.column = 1;
      } else if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) {
        ++cursor_pos_.column;
      }
    }
    return cursor_pos_;
  }

  template <typename... Args>
  [[noreturn]] void error_at(size_t offset, fmt::format_string<Args...> format, Args&&... args) {
    const SourcePos pos = position(offset);
    fail(ErrorKind::kInvalidArgument, "line {}, column {}: {}", pos.line, pos.column,
         fmt::format(format, std::forward<Args>(args)...));
  }

  bool starts_with(size_t offset, std::string_view text) const {
    return source_.compare(offset, text.size(), text) == 0;
  }

  // Python's \s: ASCII whitespace and Unicode separators.
  size_t skip_space(size_t offset) const {
    while (offset < source_.size()) {
      size_t next = offset;
      if (!is_python_space(next_code_point(source_, &next))) break;
      offset = next;
    }
    return offset;
  }

  void emit_text(std::string text, size_t offset) {
    if (!text.empty())
      tokens_.push_back({TokenType::kText, std::move(text), nullptr, position(offset)});
  }

  // Jinja's whitespace control for the text before a tag: "-" strips all trailing whitespace;
  // otherwise lstrip_blocks removes spaces between a line start and a block or comment tag.
  std::string strip_before_tag(std::string text, char sign, bool is_variable,
                               bool line_starting) const {
    if (sign == '-') return python_strip(text, std::nullopt, false, true);
    if (sign == '+' || is_variable) return text;
    const size_t newline = text.rfind('\n');
    const size_t line_begin = newline == std::string::npos ? 0 : newline + 1;
    if (line_begin == 0 && !line_starting) return text;
    if (line_begin < text.size() && skip_space_in(text, line_begin) == text.size())
      text.resize(line_begin);
    return text;
  }

  static size_t skip_space_in(const std::string& text, size_t offset) {
    while (offset < text.size()) {
      size_t next = offset;
      if (!is_python_space(next_code_point(text, &next))) break;
      offset = next;
    }
    return offset;
  }

  // Lexes text up to the next tag and the tag itself; returns whether what it consumed last
  // ended with a newline (Jinja's line_starting, which lets lstrip_blocks apply at a line start).
  bool lex_text_and_tag(bool line_starting) {
    size_t open = pos_;
    while ((open = source_.find('{', open)) != std::string::npos) {
      if (open + 1 < source_.size() &&
          (source_[open + 1] == '{' || source_[open + 1] == '%' || source_[open + 1] == '#'))
        break;
      ++open;
    }
    if (open == std::string::npos) {
      emit_text(source_.substr(pos_), pos_);
      pos_ = source_.size();
      return false;
    }
    const char kind = source_[open + 1];
    size_t after = open + 2;
    char sign = 0;
    if (after < source_.size() && (source_[after] == '-' || source_[after] == '+')) {
      sign = source_[after];
      ++after;
    }
    std::string text =
        strip_before_tag(source_.substr(pos_, open - pos_), sign, kind == '{', line_starting);
    emit_text(std::move(text), pos_);
    if (kind == '#') return lex_comment(open, after);
    if (kind == '%') {
      if (const std::optional<size_t> body = match_raw_begin(after)) return lex_raw(*body);
      tokens_.push_back({TokenType::kBlockBegin, "{%", nullptr, position(open)});
      return lex_tag(after, TokenType::kBlockEnd);
    }
    tokens_.push_back({TokenType::kVariableBegin, "{{", nullptr, position(open)});
    return lex_tag(after, TokenType::kVariableEnd);
  }

  bool lex_comment(size_t open, size_t body) {
    const size_t close = source_.find("#}", body);
    if (close == std::string::npos) error_at(open, "missing end of comment tag");
    pos_ = close + 2;
    if (close > body && source_[close - 1] == '-') {
      pos_ = skip_space(pos_);
    } else if (close > body && source_[close - 1] == '+') {
      return false;
    } else if (pos_ < source_.size() && source_[pos_] == '\n') {
      ++pos_;  // trim_blocks
    }
    return pos_ > 0 && source_[pos_ - 1] == '\n';
  }

  // `{% raw %}` (with optional -/+ signs): returns where the raw body starts.
  std::optional<size_t> match_raw_begin(size_t after_sign) const {
    size_t p = skip_space(after_sign);
    if (!starts_with(p, "raw")) return std::nullopt;
    p = skip_space(p + 3);
    if (starts_with(p, "-%}")) return skip_space(p + 3);
    if (starts_with(p, "%}")) return p + 2;
    return std::nullopt;
  }

  bool lex_raw(size_t body) {
    for (size_t open = source_.find("{%", body); open != std::string::npos;
         open = source_.find("{%", open + 1)) {
      size_t p = open + 2;
      char sign = 0;
      if (p < source_.size() && (source_[p] == '-' || source_[p] == '+')) sign = source_[p++];
      p = skip_space(p);
      if (!starts_with(p, "endraw")) continue;
      p = skip_space(p + 6);
      size_t end = 0;
      if (starts_with(p, "+%}")) {
        end = p + 3;
      } else if (starts_with(p, "-%}")) {
        end = skip_space(p + 3);
      } else if (starts_with(p, "%}")) {
        end = p + 2;
        if (end < source_.size() && source_[end] == '\n') ++end;
      } else {
        continue;
      }
      // The raw body's text is preceded by a tag, so lstrip_blocks sees no line start here
      // unless the body itself holds a newline.
      emit_text(strip_before_tag(source_.substr(body, open - body), sign, false, false), body);
      pos_ = end;
      return source_[end - 1] == '\n';
    }
    error_at(body, "missing end of raw directive");
  }

  // Tokens inside {{ }} or {% %} up to the closing delimiter (only when brackets balance, so
  // that `{{ {'a': 1} }}` works).
  bool lex_tag(size_t p, TokenType end_type) {
    std::vector<char> brackets;
    const bool is_block = end_type == TokenType::kBlockEnd;
    while (true) {
      p = skip_space(p);
      if (p >= source_.size())
        error_at(p, "unexpected end of template, expected {}", describe(end_type));
      if (brackets.empty()) {
        const size_t close = match_tag_end(p, is_block);
        if (close != 0) {
          tokens_.push_back({end_type, "", nullptr, position(p)});
          pos_ = close;
          return source_[close - 1] == '\n';
        }
      }
      p = lex_tag_token(p, brackets);
    }
  }

  // Returns the offset after the tag end (and the whitespace its control removes), or 0.
  size_t match_tag_end(size_t p, bool is_block) const {
    const std::string_view close = is_block ? "%}" : "}}";
    if (source_[p] == '-' && starts_with(p + 1, close)) return skip_space(p + 3);
    if (is_block && source_[p] == '+' && starts_with(p + 1, close)) return p + 3;
    if (!starts_with(p, close)) return 0;
    if (is_block && p + 2 < source_.size() && source_[p + 2] == '\n') return p + 3;  // trim_blocks
    return p + 2;
  }

  size_t lex_tag_token(size_t p, std::vector<char>& brackets) {
    const char c = source_[p];
    if (std::isdigit(static_cast<unsigned char>(c))) return lex_number(p);
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t end = p;
      while (end < source_.size() &&
             (std::isalnum(static_cast<unsigned char>(source_[end])) || source_[end] == '_'))
        ++end;
      tokens_.push_back({TokenType::kName, source_.substr(p, end - p), nullptr, position(p)});
      return end;
    }
    if (c == '\'' || c == '"') return lex_string(p);
    static constexpr std::string_view kTwoCharOperators[] = {"//", "**", "==", "!=", ">=", "<="};
    for (std::string_view op : kTwoCharOperators) {
      if (starts_with(p, op)) {
        tokens_.push_back({TokenType::kOperator, std::string(op), nullptr, position(p)});
        return p + 2;
      }
    }
    static constexpr std::string_view kOneCharOperators = "+-/*%~[](){}><=.:|,;";
    if (kOneCharOperators.find(c) == std::string_view::npos) {
      size_t next = p;
      const uint32_t cp = next_code_point(source_, &next);
      error_at(p, "unexpected character '{}'",
               cp < 0x80 ? std::string(1, c) : source_.substr(p, next - p));
    }
    if (c == '(' || c == '[' || c == '{') {
      brackets.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
    } else if (c == ')' || c == ']' || c == '}') {
      if (brackets.empty()) error_at(p, "unexpected '{}'", c);
      if (brackets.back() != c) error_at(p, "unexpected '{}', expected '{}'", c, brackets.back());
      brackets.pop_back();
    }
    tokens_.push_back({TokenType::kOperator, std::string(1, c), nullptr, position(p)});
    return p + 1;
  }

  // Digits with single underscores between them ("1_000"); returns the end offset.
  size_t scan_digits(size_t p, int base) const {
    auto is_digit = [base](char ch) {
      if (base == 16) return std::isxdigit(static_cast<unsigned char>(ch)) != 0;
      return ch >= '0' && ch < static_cast<char>('0' + base);
    };
    size_t end = p;
    while (end < source_.size()) {
      if (is_digit(source_[end])) {
        ++end;
      } else if (source_[end] == '_' && end > p && end + 1 < source_.size() &&
                 is_digit(source_[end + 1])) {
        ++end;
      } else {
        break;
      }
    }
    return end;
  }

  static std::string without_underscores(std::string_view digits) {
    std::string out;
    for (char ch : digits)
      if (ch != '_') out += ch;
    return out;
  }

  size_t lex_number(size_t p) {
    // Prefixed integers: 0b, 0o, 0x (an underscore may follow the prefix).
    if (source_[p] == '0' && p + 2 < source_.size()) {
      const char prefix =
          static_cast<char>(std::tolower(static_cast<unsigned char>(source_[p + 1])));
      const int base = prefix == 'b' ? 2 : prefix == 'o' ? 8 : prefix == 'x' ? 16 : 0;
      if (base != 0) {
        size_t digits = p + 2;
        if (source_[digits] == '_') ++digits;
        const size_t end = scan_digits(digits, base);
        if (end > digits)
          return push_integer(p, without_underscores(source_.substr(digits, end - digits)), base,
                              end);
      }
    }
    const size_t int_end = scan_digits(p, 10);
    size_t end = int_end;
    bool is_float = false;
    if (end + 1 < source_.size() && source_[end] == '.' &&
        std::isdigit(static_cast<unsigned char>(source_[end + 1]))) {
      end = scan_digits(end + 1, 10);
      is_float = true;
    }
    if (end < source_.size() && (source_[end] == 'e' || source_[end] == 'E')) {
      size_t exponent = end + 1;
      if (exponent < source_.size() && (source_[exponent] == '+' || source_[exponent] == '-'))
        ++exponent;
      const size_t exponent_end = scan_digits(exponent, 10);
      if (exponent_end > exponent) {
        end = exponent_end;
        is_float = true;
      }
    }
    const std::string digits = without_underscores(source_.substr(p, end - p));
    if (!is_float) return push_integer(p, digits, 10, end);
    double value = 0;
    const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (ec == std::errc::result_out_of_range) {
      value = digits.find_first_of("eE") != std::string::npos &&
                      digits.find("e-") == std::string::npos &&
                      digits.find("E-") == std::string::npos
                  ? HUGE_VAL
                  : 0.0;
    } else if (ec != std::errc() || ptr != digits.data() + digits.size()) {
      error_at(p, "invalid number");
    }
    tokens_.push_back({TokenType::kFloat, "", Json(value), position(p)});
    return end;
  }

  size_t push_integer(size_t p, const std::string& digits, int base, size_t end) {
    // Python rejects "012"; Jinja's integer rule only accepts 0, 00.. or a non-zero lead.
    if (base == 10 && digits.size() > 1 && digits[0] == '0' &&
        digits.find_first_not_of('0') != std::string::npos)
      error_at(p, "invalid integer literal (leading zeros)");
    int64_t value = 0;
    const auto [ptr, ec] =
        std::from_chars(digits.data(), digits.data() + digits.size(), value, base);
    if (ec == std::errc::result_out_of_range) error_at(p, "integer literal too large");
    if (ec != std::errc() || ptr != digits.data() + digits.size()) error_at(p, "invalid number");
    tokens_.push_back({TokenType::kInteger, "", Json(value), position(p)});
    return end;
  }

  size_t lex_string(size_t p) {
    const char quote = source_[p];
    std::string value;
    size_t i = p + 1;
    while (true) {
      if (i >= source_.size()) error_at(p, "unterminated string");
      const char c = source_[i];
      if (c == quote) break;
      if (c != '\\') {
        value += c;
        ++i;
        continue;
      }
      if (i + 1 >= source_.size()) error_at(p, "unterminated string");
      i = decode_escape(i, value);
    }
    tokens_.push_back({TokenType::kString, std::move(value), nullptr, position(p)});
    return i + 1;
  }

  // Python's unicode-escape decoding of one backslash sequence at `backslash`, as Jinja applies
  // it to string literals; returns the offset after the sequence.
  size_t decode_escape(size_t backslash, std::string& value) {
    const char c = source_[backslash + 1];
    size_t i = backslash + 2;
    switch (c) {
      case '\n':
        return i;  // line continuation
      case '\\':
      case '\'':
      case '"':
        value += c;
        return i;
      case 'a':
        value += '\a';
        return i;
      case 'b':
        value += '\b';
        return i;
      case 'f':
        value += '\f';
        return i;
      case 'n':
        value += '\n';
        return i;
      case 'r':
        value += '\r';
        return i;
      case 't':
        value += '\t';
        return i;
      case 'v':
        value += '\v';
        return i;
      case 'x':
      case 'u':
      case 'U': {
        const size_t width = c == 'x' ? 2 : c == 'u' ? 4 : 8;
        uint32_t cp = 0;
        for (size_t k = 0; k < width; ++k, ++i) {
          if (i >= source_.size() || !std::isxdigit(static_cast<unsigned char>(source_[i])))
            error_at(backslash, "truncated \\{} escape in string", c);
          const char h = static_cast<char>(std::tolower(static_cast<unsigned char>(source_[i])));
          cp = cp * 16 + static_cast<uint32_t>(h <= '9' ? h - '0' : h - 'a' + 10);
        }
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
          error_at(backslash, "escape \\{} in string is not a valid code point", c);
        append_utf8(value, cp);
        return i;
      }
      case 'N':
        error_at(backslash, "\\N{{...}} escapes are not supported");
      default:
        break;
    }
    if (c >= '0' && c <= '7') {
      uint32_t cp = 0;
      i = backslash + 1;
      for (int k = 0; k < 3 && i < source_.size() && source_[i] >= '0' && source_[i] <= '7';
           ++k, ++i)
        cp = cp * 8 + static_cast<uint32_t>(source_[i] - '0');
      append_utf8(value, cp);
      return i;
    }
    // Unknown escapes stay as written. A non-ASCII character after the backslash was first
    // turned into its \x/\u/\U escape by Jinja (backslashreplace), so that form is what stays.
    value += '\\';
    size_t next = backslash + 1;
    const uint32_t cp = next_code_point(source_, &next);
    if (cp < 0x80) {
      value += c;
    } else if (cp < 0x100) {
      value += fmt::format("x{:02x}", cp);
    } else if (cp < 0x10000) {
      value += fmt::format("u{:04x}", cp);
    } else {
      value += fmt::format("U{:08x}", cp);
    }
    return next;
  }

  std::string source_;
  std::vector<size_t> line_starts_;  // offset of each line's first byte
  size_t cursor_offset_ = 0;         // position() walks from here
  SourcePos cursor_pos_;
  size_t pos_ = 0;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source) {
  return Lexer(normalize_newlines(source)).run();
}

}  // namespace glimpse::io::jinja
