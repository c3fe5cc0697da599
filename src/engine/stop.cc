#include "engine/stop.h"

#include <algorithm>
#include <utility>

#include "core/error.h"

namespace glimpse::engine {

const char* to_string(FinishReason reason) {
  return reason == FinishReason::kStop ? "stop" : "length";
}

void check_prompt_fits(int64_t prompt_tokens, int64_t context_limit) {
  if (prompt_tokens >= context_limit)
    fail(ErrorKind::kLimitExceeded,
         "prompt: {} tokens (image tokens included) leave no room in the model's context of {} "
         "tokens",
         prompt_tokens, context_limit);
}

StopStringMatcher::StopStringMatcher(std::vector<std::string> stop_strings)
    : stop_strings_(std::move(stop_strings)) {
  for (size_t i = 0; i < stop_strings_.size(); ++i)
    if (stop_strings_[i].empty()) fail(ErrorKind::kInvalidArgument, "stop[{}]: empty string", i);
}

StopStringMatcher::Result StopStringMatcher::push(std::string_view text) {
  held_.append(text);
  size_t earliest = std::string::npos;
  for (const auto& stop : stop_strings_) earliest = std::min(earliest, held_.find(stop));
  if (earliest != std::string::npos) {
    Result result{held_.substr(0, earliest), true};
    held_.clear();
    return result;
  }
  const size_t emit = held_.size() - hold_length();
  Result result{held_.substr(0, emit), false};
  held_.erase(0, emit);
  return result;
}

std::string StopStringMatcher::flush() {
  return std::exchange(held_, {});
}

size_t StopStringMatcher::hold_length() const {
  size_t longest = 0;
  for (const auto& stop : stop_strings_) {
    // Tails longer than the stop string minus one cannot be a proper prefix of it.
    for (size_t n = std::min(held_.size(), stop.size() - 1); n > longest; --n) {
      if (std::string_view(held_).substr(held_.size() - n) == std::string_view(stop).substr(0, n)) {
        longest = n;
        break;
      }
    }
  }
  return longest;
}

StopChecker::StopChecker(const io::Tokenizer& tokenizer, StopConditions conditions,
                         int64_t prompt_tokens)
    : tokenizer_(&tokenizer),
      conditions_(std::move(conditions)),
      prompt_tokens_(prompt_tokens),
      detokenizer_(tokenizer, /*skip_special_tokens=*/true),
      matcher_(conditions_.stop_strings) {
  if (conditions_.max_tokens < 1)
    fail(ErrorKind::kInvalidArgument, "max_tokens: {} (must be at least 1)",
         conditions_.max_tokens);
  check_prompt_fits(prompt_tokens, conditions_.context_limit);
}

StopChecker::Step StopChecker::accept(int32_t token_id) {
  GLIMPSE_ASSERT(!finished_);
  ++generated_;
  Step step;
  const auto& eos = conditions_.eos_token_ids;
  if (!conditions_.ignore_eos && std::find(eos.begin(), eos.end(), token_id) != eos.end()) {
    // eos itself shows nothing; a held tail that never completed a stop string is shown.
    auto tail = matcher_.push(detokenizer_.finish());
    step.text = std::move(tail.text) + matcher_.flush();
    step.finish = FinishReason::kStop;
  } else {
    // Ids past the tokenizer (padded embedding rows) decode to nothing, as in HF tokenizers.
    const bool known = token_id >= 0 && token_id < tokenizer_->vocab_size();
    auto pushed = matcher_.push(known ? detokenizer_.push(token_id) : std::string());
    step.text = std::move(pushed.text);
    if (pushed.matched) {
      step.finish = FinishReason::kStop;
    } else if (generated_ >= conditions_.max_tokens ||
               prompt_tokens_ + generated_ >= conditions_.context_limit) {
      auto tail = matcher_.push(detokenizer_.finish());
      step.text += tail.text;
      if (tail.matched) {
        step.finish = FinishReason::kStop;
      } else {
        step.text += matcher_.flush();
        step.finish = FinishReason::kLength;
      }
    }
  }
  finished_ = step.finish.has_value();
  return step;
}

}  // namespace glimpse::engine
