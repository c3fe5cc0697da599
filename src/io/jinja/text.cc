#include "io/jinja/text.h"

#include <algorithm>

#include <unicode/locid.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include "core/error.h"

namespace glimpse::io::jinja {

uint32_t next_code_point(std::string_view text, size_t* pos) {
  const size_t start = *pos;
  const auto lead = static_cast<unsigned char>(text[start]);
  size_t length = 0;
  uint32_t code_point = 0;
  if (lead < 0x80) {
    length = 1;
    code_point = lead;
  } else if ((lead & 0xE0) == 0xC0) {
    length = 2;
    code_point = lead & 0x1F;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3;
    code_point = lead & 0x0F;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4;
    code_point = lead & 0x07;
  }
  if (length == 0 || start + length > text.size())
    fail(ErrorKind::kInvalidArgument, "invalid UTF-8 at byte {}", start);
  for (size_t i = 1; i < length; ++i) {
    const auto byte = static_cast<unsigned char>(text[start + i]);
    if ((byte & 0xC0) != 0x80) fail(ErrorKind::kInvalidArgument, "invalid UTF-8 at byte {}", start);
    code_point = (code_point << 6) | (byte & 0x3F);
  }
  static constexpr uint32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
  if (code_point < kMinForLength[length] || code_point > 0x10FFFF ||
      (code_point >= 0xD800 && code_point <= 0xDFFF))
    fail(ErrorKind::kInvalidArgument, "invalid UTF-8 at byte {}", start);
  *pos = start + length;
  return code_point;
}

std::vector<size_t> code_point_offsets(std::string_view text) {
  std::vector<size_t> offsets;
  size_t pos = 0;
  while (pos < text.size()) {
    offsets.push_back(pos);
    next_code_point(text, &pos);
  }
  offsets.push_back(text.size());
  return offsets;
}

size_t code_point_count(std::string_view text) {
  size_t count = 0;
  for (size_t pos = 0; pos < text.size(); ++count) next_code_point(text, &pos);
  return count;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool is_python_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

namespace {

icu::UnicodeString to_icu(std::string_view text) {
  return icu::UnicodeString::fromUTF8(
      icu::StringPiece(text.data(), static_cast<int32_t>(text.size())));
}

std::string from_icu(const icu::UnicodeString& text) {
  std::string out;
  text.toUTF8String(out);
  return out;
}

// Full titlecase mapping of one code point ("ǆ" -> "ǅ", "ß" -> "Ss"), as Python's title() uses.
std::string title_code_point(UChar32 cp) {
  icu::UnicodeString one(cp);
  one.toTitle(nullptr, icu::Locale::getRoot(),
              U_TITLECASE_NO_LOWERCASE | U_TITLECASE_NO_BREAK_ADJUSTMENT);
  return from_icu(one);
}

}  // namespace

std::string unicode_upper(std::string_view text) {
  icu::UnicodeString s = to_icu(text);
  return from_icu(s.toUpper(icu::Locale::getRoot()));
}

std::string unicode_lower(std::string_view text) {
  icu::UnicodeString s = to_icu(text);
  return from_icu(s.toLower(icu::Locale::getRoot()));
}

std::string python_title(std::string_view text) {
  std::string out;
  bool previous_cased = false;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t start = pos;
    const auto cp = static_cast<UChar32>(next_code_point(text, &pos));
    out += previous_cased ? unicode_lower(text.substr(start, pos - start)) : title_code_point(cp);
    previous_cased = u_hasBinaryProperty(cp, UCHAR_CASED);
  }
  return out;
}

std::string python_capitalize(std::string_view text) {
  if (text.empty()) return "";
  size_t pos = 0;
  const auto first = static_cast<UChar32>(next_code_point(text, &pos));
  return title_code_point(first) + unicode_lower(text.substr(pos));
}

namespace {

// Code points of `text` as (begin, end) byte ranges, for stripping by code point.
struct CodePoint {
  uint32_t value;
  size_t begin;
  size_t end;
};

std::vector<CodePoint> decode(std::string_view text) {
  std::vector<CodePoint> points;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t begin = pos;
    const uint32_t value = next_code_point(text, &pos);
    points.push_back({value, begin, pos});
  }
  return points;
}

}  // namespace

std::string python_strip(std::string_view text, const std::optional<std::string>& chars, bool left,
                         bool right) {
  const std::vector<CodePoint> points = decode(text);
  std::vector<uint32_t> strip_set;
  if (chars)
    for (const CodePoint& p : decode(*chars)) strip_set.push_back(p.value);
  auto strippable = [&](uint32_t cp) {
    if (!chars) return is_python_space(cp);
    for (uint32_t s : strip_set)
      if (s == cp) return true;
    return false;
  };
  size_t first = 0;
  size_t last = points.size();
  if (left)
    while (first < last && strippable(points[first].value)) ++first;
  if (right)
    while (last > first && strippable(points[last - 1].value)) --last;
  if (first == last) return "";
  return std::string(text.substr(points[first].begin, points[last - 1].end - points[first].begin));
}

std::vector<std::string> python_split(std::string_view text, const std::optional<std::string>& sep,
                                      int64_t maxsplit, bool from_right) {
  std::vector<std::string> parts;
  if (sep) {
    if (sep->empty()) fail(ErrorKind::kInvalidArgument, "split: empty separator");
    if (!from_right) {
      size_t start = 0;
      while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
        const size_t found = text.find(*sep, start);
        if (found == std::string_view::npos) break;
        parts.emplace_back(text.substr(start, found - start));
        start = found + sep->size();
      }
      parts.emplace_back(text.substr(start));
    } else {
      size_t end = text.size();
      int64_t splits = 0;
      while (maxsplit < 0 || splits < maxsplit) {
        if (end < sep->size()) break;
        const size_t found = text.rfind(*sep, end - sep->size());
        if (found == std::string_view::npos) break;
        parts.emplace_back(text.substr(found + sep->size(), end - found - sep->size()));
        end = found;
        ++splits;
      }
      parts.emplace_back(text.substr(0, end));
      std::reverse(parts.begin(), parts.end());
    }
    return parts;
  }
  // Whitespace split: runs of whitespace separate, leading/trailing runs vanish.
  const std::vector<CodePoint> points = decode(text);
  std::vector<std::pair<size_t, size_t>> words;  // byte ranges
  size_t i = 0;
  while (i < points.size()) {
    while (i < points.size() && is_python_space(points[i].value)) ++i;
    if (i == points.size()) break;
    const size_t begin = i;
    while (i < points.size() && !is_python_space(points[i].value)) ++i;
    words.emplace_back(points[begin].begin, points[i - 1].end);
  }
  if (maxsplit < 0 || static_cast<int64_t>(words.size()) <= maxsplit + 1) {
    for (const auto& [b, e] : words) parts.emplace_back(text.substr(b, e - b));
    return parts;
  }
  const size_t keep = static_cast<size_t>(maxsplit);
  if (!from_right) {
    for (size_t w = 0; w < keep; ++w)
      parts.emplace_back(text.substr(words[w].first, words[w].second - words[w].first));
    // The remainder starts at the next word and keeps everything after it, as Python does.
    parts.emplace_back(text.substr(words[keep].first));
  } else {
    const size_t first_kept = words.size() - keep;
    parts.emplace_back(text.substr(0, words[first_kept - 1].second));
    for (size_t w = first_kept; w < words.size(); ++w)
      parts.emplace_back(text.substr(words[w].first, words[w].second - words[w].first));
  }
  return parts;
}

std::vector<std::string> python_splitlines(std::string_view text) {
  std::vector<std::string> lines;
  const std::vector<CodePoint> points = decode(text);
  size_t line_begin = 0;
  for (size_t i = 0; i < points.size(); ++i) {
    const uint32_t cp = points[i].value;
    const bool is_break = cp == '\n' || cp == '\r' || cp == 0x0B || cp == 0x0C || cp == 0x1C ||
                          cp == 0x1D || cp == 0x1E || cp == 0x85 || cp == 0x2028 || cp == 0x2029;
    if (!is_break) continue;
    lines.emplace_back(text.substr(line_begin, points[i].begin - line_begin));
    if (cp == '\r' && i + 1 < points.size() && points[i + 1].value == '\n') ++i;
    line_begin = points[i].end;
  }
  if (line_begin < text.size()) lines.emplace_back(text.substr(line_begin));
  return lines;
}

std::string python_replace(std::string_view text, std::string_view old_text,
                           std::string_view new_text, int64_t count) {
  std::string out;
  if (old_text.empty()) {
    // Python inserts `new` before every code point and at the end.
    const std::vector<size_t> offsets = code_point_offsets(text);
    int64_t done = 0;
    for (size_t i = 0; i + 1 < offsets.size(); ++i) {
      if (count < 0 || done < count) {
        out += new_text;
        ++done;
      }
      out += text.substr(offsets[i], offsets[i + 1] - offsets[i]);
    }
    if (count < 0 || done < count) out += new_text;
    return out;
  }
  size_t start = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    const size_t found = text.find(old_text, start);
    if (found == std::string_view::npos) break;
    out += text.substr(start, found - start);
    out += new_text;
    start = found + old_text.size();
    ++done;
  }
  out += text.substr(start);
  return out;
}

}  // namespace glimpse::io::jinja
