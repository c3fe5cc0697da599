#include "io/tokenizer_pretokenizer.h"

#include <string>

namespace glimpse::io {

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
  split(step_index, piece, on_word);
}

// The text alternates non-matching and matching parts (empty matches included); the behavior
// says which parts are dropped or joined to a neighbour, as HF's NormalizedString::split does.
// Parts stream straight from the regex so a long text needs no match list.
void PreTokenizer::split(size_t step_index, std::string_view piece,
                         const std::function<void(std::string_view)>& on_word) const {
  const PreTokenizerStep& step = steps_[step_index];
  const auto emit = [&](Span span) {
    if (span.end > span.begin)
      apply(step_index + 1, piece.substr(span.begin, span.end - span.begin), on_word);
  };
  // The piece that a following part may still extend (a plain flag: GCC 12 misreads optional).
  Span pending{0, 0};
  bool has_pending = false;
  bool previous_match = false;
  const auto take = [&](Span part, bool is_match) {
    switch (step.behavior) {
      case SplitBehavior::kIsolated:
        emit(part);
        break;
      case SplitBehavior::kRemoved:
        if (!is_match) emit(part);
        break;
      case SplitBehavior::kContiguous:
      case SplitBehavior::kMergedWithPrevious: {
        const bool joins = step.behavior == SplitBehavior::kContiguous
                               ? is_match == previous_match
                               : is_match && !previous_match;
        if (has_pending && joins) {
          pending.end = part.end;
        } else {
          if (has_pending) emit(pending);
          pending = part;
          has_pending = true;
        }
        break;
      }
      case SplitBehavior::kMergedWithNext:  // pending holds a match waiting for what follows
        if (has_pending && !is_match) {
          emit({pending.begin, part.end});
          has_pending = false;
          break;
        }
        if (has_pending) emit(pending);
        has_pending = is_match;
        if (is_match) {
          pending = part;
        } else {
          emit(part);
        }
        break;
    }
    previous_match = is_match;
  };

  TokenizerRegex::Cursor cursor;
  Span match{};
  size_t previous_end = 0;
  while (step.regex->find_next(piece, cursor, match)) {
    if (previous_end != match.begin) take({previous_end, match.begin}, step.invert);
    take(match, !step.invert);
    previous_end = match.end;
  }
  if (previous_end != piece.size()) take({previous_end, piece.size()}, step.invert);
  if (has_pending) emit(pending);
}

}  // namespace glimpse::io
