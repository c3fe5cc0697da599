// UTF-8 helpers for the tokenizer: validation of input text and lossy decoding of byte-level
// token bytes with exactly the replacement rule of Rust's String::from_utf8_lossy (what HF's
// ByteLevel decoder uses): each maximal invalid subpart becomes one U+FFFD.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace glimpse::io::utf8 {

inline constexpr size_t kValid = std::string_view::npos;

// Byte offset of the first byte that is not part of a well-formed UTF-8 sequence, or kValid.
size_t find_invalid(std::string_view text);

// Appends bytes to out, replacing invalid subparts by U+FFFD, but stops before a trailing
// sequence that is incomplete yet could still become valid with more bytes. Returns how many
// bytes were consumed; the rest (0..3 bytes) is that incomplete tail.
size_t append_lossy_complete(std::string_view bytes, std::string& out);

// Appends all bytes, an incomplete tail included (as one U+FFFD), like from_utf8_lossy.
void append_lossy(std::string_view bytes, std::string& out);

// The code point starting at text[pos] (text must be valid UTF-8); advances pos past it.
char32_t next_code_point(std::string_view text, size_t& pos);

// The code point ending just before text[end] (text must be valid UTF-8, end > 0).
char32_t previous_code_point(std::string_view text, size_t end);

// Appends the UTF-8 encoding of a code point (at most U+10FFFF).
void append_code_point(char32_t cp, std::string& out);

}  // namespace glimpse::io::utf8
