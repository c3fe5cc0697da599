#include "io/tokenizer_pretokenizer.h"

#include <algorithm>
#include <string>

namespace glimpse::io {
namespace {

struct Part {
  Span span;
  bool is_match;
};

}  // namespace

void split_by_behavior(std::string_view text, const std::vector<Span>& matches,
                       SplitBehavior behavior, bool invert, std::vector<Span>& pieces) {
  pieces.clear();
  // The text as alternating non-match / match parts (an empty text is one empty part).
  std::vector<Part> parts;
  parts.reserve(2 * matches.size() + 1);
  size_t previous = 0;
  for (const Span& m : matches) {
    if (previous != m.begin) parts.push_back({{previous, m.begin}, invert});
    parts.push_back({m, !invert});
    previous = m.end;
  }
  if (previous != text.size() || text.empty()) parts.push_back({{previous, text.size()}, invert});

  switch (behavior) {
    case SplitBehavior::kIsolated:
      for (const Part& part : parts) pieces.push_back(part.span);
      return;
    case SplitBehavior::kRemoved:
      for (const Part& part : parts)
        if (!part.is_match) pieces.push_back(part.span);
      return;
    case SplitBehavior::kContiguous: {
      bool previous_match = false;
      for (const Part& part : parts) {
        if (part.is_match == previous_match && !pieces.empty()) {
          pieces.back().end = part.span.end;
        } else {
          pieces.push_back(part.span);
        }
        previous_match = part.is_match;
      }
      return;
    }
    case SplitBehavior::kMergedWithPrevious: {
      bool previous_match = false;
      for (const Part& part : parts) {
        if (part.is_match && !previous_match && !pieces.empty()) {
          pieces.back().end = part.span.end;
        } else {
          pieces.push_back(part.span);
        }
        previous_match = part.is_match;
      }
      return;
    }
    case SplitBehavior::kMergedWithNext: {
      bool next_match = false;
      for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
        if (it->is_match && !next_match && !pieces.empty()) {
          pieces.back().begin = it->span.begin;
        } else {
          pieces.push_back(it->span);
        }
        next_match = it->is_match;
      }
      std::reverse(pieces.begin(), pieces.end());
      return;
    }
  }
}

void PreTokenizer::run(std::string_view text,
                       const std::function<void(std::string_view)>& on_word) const {
  if (!text.empty()) apply(0, text, on_word);
}

void PreTokenizer::apply(size_t step_index, std::string_view piece,
                         const std::function<void(std::string_view)>& on_word) const {
  if (step_index == steps_.size()) {
    on_word(piece);
    return;
  }
  const PreTokenizerStep& step = steps_[step_index];
  std::string prefixed;
  if (step.kind == PreTokenizerStep::Kind::kByteLevel) {
    if (step.add_prefix_space && piece.front() != ' ') {
      prefixed.reserve(piece.size() + 1);
      prefixed.append(" ").append(piece);
      piece = prefixed;
    }
    if (!step.use_regex) {
      apply(step_index + 1, piece, on_word);
      return;
    }
  }
  std::vector<Span> matches, pieces;
  step.regex->find_all(piece, matches);
  split_by_behavior(piece, matches, step.behavior, step.invert, pieces);
  for (const Span& span : pieces)
    if (span.end > span.begin)
      apply(step_index + 1, piece.substr(span.begin, span.end - span.begin), on_word);
}

}  // namespace glimpse::io
