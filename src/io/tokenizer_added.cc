#include "io/tokenizer_added.h"

#include <unicode/uchar.h>

#include <algorithm>

#include "io/tokenizer_utf8.h"

namespace glimpse::io {

bool is_word_character(char32_t cp) {
  const auto c = static_cast<UChar32>(cp);
  if (u_hasBinaryProperty(c, UCHAR_ALPHABETIC) || u_hasBinaryProperty(c, UCHAR_JOIN_CONTROL))
    return true;
  const int8_t type = u_charType(c);
  return type == U_NON_SPACING_MARK || type == U_ENCLOSING_MARK ||
         type == U_COMBINING_SPACING_MARK || type == U_DECIMAL_DIGIT_NUMBER ||
         type == U_CONNECTOR_PUNCTUATION;
}

bool is_white_space(char32_t cp) {
  return u_isUWhiteSpace(static_cast<UChar32>(cp));
}

AddedTokenMatcher::AddedTokenMatcher(std::vector<AddedToken> tokens,
                                     std::vector<std::string> patterns)
    : tokens_(std::move(tokens)) {
  terminal_.push_back(-1);
  edges_.emplace_back();
  for (size_t t = 0; t < patterns.size(); ++t) {
    const std::string& pattern = patterns[t];
    if (pattern.empty()) continue;  // HF never matches an empty token
    can_start_[static_cast<uint8_t>(pattern[0])] = true;
    int32_t node = 0;
    for (const char c : pattern) {
      const auto byte = static_cast<uint8_t>(c);
      auto& children = edges_[node];
      auto it = std::find_if(children.begin(), children.end(),
                             [byte](const auto& edge) { return edge.first == byte; });
      if (it != children.end()) {
        node = it->second;
        continue;
      }
      const auto child = static_cast<int32_t>(terminal_.size());
      children.emplace_back(byte, child);
      terminal_.push_back(-1);
      edges_.emplace_back();
      node = child;
    }
    // The first of equal patterns wins, as with Aho-Corasick's lowest pattern index.
    if (terminal_[node] < 0) terminal_[node] = static_cast<int32_t>(t);
  }
}

bool AddedTokenMatcher::find_leftmost_longest(std::string_view text, size_t from,
                                              Match& match) const {
  for (size_t begin = from; begin < text.size(); ++begin) {
    if (!can_start_[static_cast<uint8_t>(text[begin])]) continue;
    int32_t node = 0;
    int32_t found = -1;
    size_t found_end = 0;
    for (size_t pos = begin; pos < text.size(); ++pos) {
      const auto byte = static_cast<uint8_t>(text[pos]);
      const auto& children = edges_[node];
      auto it = std::find_if(children.begin(), children.end(),
                             [byte](const auto& edge) { return edge.first == byte; });
      if (it == children.end()) break;
      node = it->second;
      if (terminal_[node] >= 0) {
        found = terminal_[node];
        found_end = pos + 1;
      }
    }
    if (found >= 0) {
      match = {begin, found_end, static_cast<size_t>(found)};
      return true;
    }
  }
  return false;
}

void AddedTokenMatcher::split(std::string_view text, std::vector<TextPiece>& out) const {
  if (text.empty()) return;
  size_t piece_start = 0;  // end of the previous added token (HF's start_offset)
  Match match{};
  for (size_t from = 0; find_leftmost_longest(text, from, match); from = match.end) {
    const AddedToken& token = tokens_[match.token];
    size_t begin = match.begin, end = match.end;
    if (token.single_word) {
      const bool word_before =
          begin > 0 && is_word_character(utf8::previous_code_point(text, begin));
      size_t after = end;
      const bool word_after =
          end < text.size() && is_word_character(utf8::next_code_point(text, after));
      if (word_before || word_after) continue;
    }
    if (token.lstrip) {
      size_t stripped = begin;
      while (stripped > 0 && is_white_space(utf8::previous_code_point(text, stripped))) {
        --stripped;
        while ((static_cast<uint8_t>(text[stripped]) & 0xC0) == 0x80) --stripped;
      }
      begin = std::max(stripped, piece_start);
    }
    if (token.rstrip) {
      size_t pos = end;
      while (pos < text.size()) {
        size_t next = pos;
        if (!is_white_space(utf8::next_code_point(text, next))) break;
        pos = next;
      }
      end = pos;
    }
    if (piece_start < begin) out.push_back({text.substr(piece_start, begin - piece_start), -1});
    out.push_back({text.substr(begin, end - begin), token.id});
    piece_start = end;
  }
  if (piece_start < text.size()) out.push_back({text.substr(piece_start), -1});
}

}  // namespace glimpse::io
