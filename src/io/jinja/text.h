// UTF-8 and the Python str operations templates use. Python indexes strings by code point, so
// length, subscripts and slices go through code point offsets. Case mapping is Unicode's full
// mapping (ICU, root locale), as Python's str.upper/lower/title/capitalize do.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace glimpse::io::jinja {

// Byte offsets of each code point start, plus the total size at the end. Invalid UTF-8 throws
// Error (kInvalidArgument) naming the byte offset.
std::vector<size_t> code_point_offsets(std::string_view text);
size_t code_point_count(std::string_view text);
void append_utf8(std::string& out, uint32_t code_point);
// Decodes the code point at text[*pos] and advances *pos; invalid UTF-8 throws.
uint32_t next_code_point(std::string_view text, size_t* pos);
// Python str.isspace for one code point (ASCII whitespace and the Unicode separators).
bool is_python_space(uint32_t code_point);

std::string unicode_upper(std::string_view text);
std::string unicode_lower(std::string_view text);
std::string python_title(std::string_view text);       // str.title
std::string python_capitalize(std::string_view text);  // str.capitalize

// str.strip/lstrip/rstrip; `chars` nullopt strips whitespace.
std::string python_strip(std::string_view text, const std::optional<std::string>& chars, bool left,
                         bool right);
// str.split(sep, maxsplit) / str.rsplit; sep nullopt splits on whitespace runs.
std::vector<std::string> python_split(std::string_view text, const std::optional<std::string>& sep,
                                      int64_t maxsplit, bool from_right);
std::vector<std::string> python_splitlines(std::string_view text);
// str.replace(old, new, count); count < 0 replaces all.
std::string python_replace(std::string_view text, std::string_view old_text,
                           std::string_view new_text, int64_t count);

}  // namespace glimpse::io::jinja
