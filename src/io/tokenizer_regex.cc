#include "io/tokenizer_regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/error.h"

namespace glimpse::io {
namespace {

// Oniguruma's \s is the Unicode White_Space property and its \w is Letter, Mark, Decimal_Number
// and Connector_Punctuation; PCRE2's UCP classes differ (e.g. its \s matches U+180E), so the
// shorthands are spelled out as properties before compiling.
constexpr std::string_view kSpace = "\\p{White_Space}";
constexpr std::string_view kNotSpace = "\\P{White_Space}";
constexpr std::string_view kWordItems = "\\p{L}\\p{M}\\p{Nd}\\p{Pc}";

std::string to_pcre2_syntax(std::string_view pattern, const std::string& where) {
  std::string out;
  out.reserve(pattern.size() + 32);
  int class_depth = 0;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char escaped = pattern[++i];
      const bool in_class = class_depth > 0;
      switch (escaped) {
        case 's':
          out += kSpace;
          break;
        case 'S':
          out += kNotSpace;
          break;
        case 'w':
          out += in_class ? std::string(kWordItems) : "[" + std::string(kWordItems) + "]";
          break;
        case 'W':
          if (in_class) fail(ErrorKind::kUnsupported, "{}: \\W inside a character class", where);
          out += "[^" + std::string(kWordItems) + "]";
          break;
        case 'h':
        case 'H':
          fail(ErrorKind::kUnsupported, "{}: \\{} (Oniguruma hex-digit class)", where, escaped);
        default:
          out += c;
          out += escaped;
      }
      continue;
    }
    if (c == '[') {
      if (class_depth > 0 && i + 1 < pattern.size() && pattern[i + 1] == ':') {
        const size_t close = pattern.find(":]", i + 2);
        if (close != std::string_view::npos) {  // a POSIX class such as [:alpha:]
          out.append(pattern.substr(i, close + 2 - i));
          i = close + 1;
          continue;
        }
      }
      ++class_depth;
      out += c;
      // A ']' right after '[' or '[^' is a literal member, not the end of the class.
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];
      continue;
    }
    if (c == ']' && class_depth > 0) --class_depth;
    out += c;
  }
  return out;
}

struct MatchDataDeleter {
  void operator()(pcre2_match_data* data) const { pcre2_match_data_free(data); }
};

// JIT matching needs a stack; PCRE2's default 32 KiB runs out on long inputs with some patterns,
// so each thread gets one of up to 16 MiB, allocated on first use.
pcre2_match_context* thread_match_context() {
  struct Context {
    pcre2_match_context* context = pcre2_match_context_create(nullptr);
    pcre2_jit_stack* stack = pcre2_jit_stack_create(64 * 1024, 16 * 1024 * 1024, nullptr);
    Context() {
      if (context == nullptr || stack == nullptr)
        fail(ErrorKind::kInternal, "PCRE2 could not allocate a match context");
      pcre2_jit_stack_assign(context, nullptr, stack);
    }
    ~Context() {
      pcre2_jit_stack_free(stack);
      pcre2_match_context_free(context);
    }
  };
  thread_local Context context;
  return context.context;
}

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  if (pcre2_get_error_message(code, buffer, sizeof(buffer)) < 0)
    return fmt::format("error {}", code);
  return reinterpret_cast<const char*>(buffer);
}

}  // namespace

struct TokenizerRegex::Compiled {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Compiled() { pcre2_code_free(code); }
};

TokenizerRegex::TokenizerRegex(std::string_view pattern, Syntax syntax, const std::string& where)
    : compiled_(std::make_unique<Compiled>()), where_(where) {
  const std::string source =
      syntax == Syntax::kRegex ? to_pcre2_syntax(pattern, where) : std::string(pattern);
  // Oniguruma (Ruby syntax) anchors ^ and $ at every line, hence MULTILINE.
  const uint32_t options = syntax == Syntax::kLiteral ? PCRE2_UTF | PCRE2_LITERAL
                                                      : PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE;
  int error = 0;
  PCRE2_SIZE error_offset = 0;
  compiled_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(source.data()), source.size(),
                                  options, &error, &error_offset, nullptr);
  if (compiled_->code == nullptr)
    fail(ErrorKind::kCorrupt, "{}: regex does not compile at offset {}: {}", where, error_offset,
         pcre2_message(error));
  // Without JIT support (some platforms) the interpreter gives the same matches, only slower.
  compiled_->jit = pcre2_jit_compile(compiled_->code, PCRE2_JIT_COMPLETE) == 0;
}

TokenizerRegex::TokenizerRegex(TokenizerRegex&&) noexcept = default;
TokenizerRegex::~TokenizerRegex() = default;

bool TokenizerRegex::find_next(std::string_view text, Cursor& cursor, Span& match) const {
  thread_local std::unique_ptr<pcre2_match_data, MatchDataDeleter> data(
      pcre2_match_data_create(1, nullptr));
  pcre2_match_context* context = thread_match_context();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  while (cursor.search_from <= text.size()) {
    // The whole text was validated as UTF-8 before tokenization; skip PCRE2's per-call check,
    // which would rescan the subject on every match.
    const int rc = compiled_->jit
                       ? pcre2_jit_match(compiled_->code, subject, text.size(), cursor.search_from,
                                         0, data.get(), context)
                       : pcre2_match(compiled_->code, subject, text.size(), cursor.search_from,
                                     PCRE2_NO_UTF_CHECK, data.get(), context);
    if (rc == PCRE2_ERROR_NOMATCH) return false;
    if (rc < 0)
      fail(ErrorKind::kLimitExceeded, "{}: regex matching failed on {} bytes of input: {}", where_,
           text.size(), pcre2_message(rc));
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data.get());
    const size_t begin = ovector[0], end = ovector[1];
    if (begin == end && cursor.has_previous && cursor.previous_end == end) {
      // Step one character past an empty match that touches the previous one.
      size_t step = 1;
      while (cursor.search_from + step < text.size() &&
             (static_cast<uint8_t>(text[cursor.search_from + step]) & 0xC0) == 0x80)
        ++step;
      cursor.search_from += step;
      continue;
    }
    cursor.search_from = end;
    cursor.has_previous = true;
    cursor.previous_end = end;
    match = {begin, end};
    return true;
  }
  return false;
}

}  // namespace glimpse::io
