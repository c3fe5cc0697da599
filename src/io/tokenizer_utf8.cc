#include "io/tokenizer_utf8.h"

#include <cstdint>

namespace glimpse::io::utf8 {
namespace {

enum class Scan { kValid, kInvalid, kIncomplete };

struct Sequence {
  Scan scan;
  size_t length;  // bytes of the character, of the invalid subpart, or of the incomplete prefix
};

// Classifies the sequence at bytes[pos] following the Unicode "maximal subpart" practice: the
// second byte's range depends on the lead byte (no overlongs, surrogates or > U+10FFFF).
Sequence scan_at(std::string_view bytes, size_t pos) {
  const auto lead = static_cast<uint8_t>(bytes[pos]);
  if (lead < 0x80) return {Scan::kValid, 1};
  size_t continuation = 0;
  uint8_t second_lo = 0x80, second_hi = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    continuation = 1;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    continuation = 2;
    if (lead == 0xE0) second_lo = 0xA0;
    if (lead == 0xED) second_hi = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    continuation = 3;
    if (lead == 0xF0) second_lo = 0x90;
    if (lead == 0xF4) second_hi = 0x8F;
  } else {
    return {Scan::kInvalid, 1};
  }
  for (size_t k = 1; k <= continuation; ++k) {
    if (pos + k >= bytes.size()) return {Scan::kIncomplete, k};
    const auto byte = static_cast<uint8_t>(bytes[pos + k]);
    const uint8_t lo = k == 1 ? second_lo : 0x80;
    const uint8_t hi = k == 1 ? second_hi : 0xBF;
    if (byte < lo || byte > hi) return {Scan::kInvalid, k};
  }
  return {Scan::kValid, continuation + 1};
}

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

}  // namespace

size_t find_invalid(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    // ASCII fast path: eight bytes at a time while none has the high bit set.
    while (pos + 8 <= text.size()) {
      uint64_t word = 0;
      for (size_t k = 0; k < 8; ++k)
        word |= uint64_t{static_cast<uint8_t>(text[pos + k])} << (8 * k);
      if (word & 0x8080808080808080ULL) break;
      pos += 8;
    }
    if (pos >= text.size()) break;
    const Sequence seq = scan_at(text, pos);
    if (seq.scan != Scan::kValid) return pos;
    pos += seq.length;
  }
  return kValid;
}

size_t append_lossy_complete(std::string_view bytes, std::string& out) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    const Sequence seq = scan_at(bytes, pos);
    if (seq.scan == Scan::kIncomplete) return pos;
    if (seq.scan == Scan::kValid) {
      out.append(bytes.substr(pos, seq.length));
    } else {
      out.append(kReplacement);
    }
    pos += seq.length;
  }
  return pos;
}

void append_lossy(std::string_view bytes, std::string& out) {
  const size_t consumed = append_lossy_complete(bytes, out);
  if (consumed < bytes.size()) out.append(kReplacement);
}

char32_t next_code_point(std::string_view text, size_t& pos) {
  const auto lead = static_cast<uint8_t>(text[pos]);
  size_t length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
  char32_t cp = length == 1   ? lead
                : length == 2 ? lead & 0x1F
                : length == 3 ? lead & 0x0F
                              : lead & 0x07;
  for (size_t k = 1; k < length; ++k) cp = (cp << 6) | (static_cast<uint8_t>(text[pos + k]) & 0x3F);
  pos += length;
  return cp;
}

char32_t previous_code_point(std::string_view text, size_t end) {
  size_t start = end - 1;
  while (start > 0 && (static_cast<uint8_t>(text[start]) & 0xC0) == 0x80) --start;
  return next_code_point(text, start);
}

void append_code_point(char32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace glimpse::io::utf8
