// When a request stops, and what text it shows: eos tokens, stop strings (never emitted, even when
// they span several tokens, so text that may begin one is held back until it is decided), the
// max_tokens budget and the model's context. One StopChecker per request.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "io/tokenizer.h"

namespace glimpse::engine {

enum class FinishReason { kStop, kLength };
const char* to_string(FinishReason reason);  // "stop" / "length", as OpenAI names them

struct StopConditions {
  std::vector<int32_t> eos_token_ids;     // generation_config's eos_token_id
  bool ignore_eos = false;                // keep going past eos (benchmarks, parity tests)
  std::vector<std::string> stop_strings;  // non-empty UTF-8
  int64_t max_tokens = 0;                 // generated tokens, at least 1
  int64_t context_limit = 0;              // prompt + generated tokens (the KV cache's size)
};

// Throws Error(kLimitExceeded) when a prompt of `prompt_tokens` leaves no room to generate.
void check_prompt_fits(int64_t prompt_tokens, int64_t context_limit);

// Streams text through a set of stop strings. Everything before the earliest stop string is
// emitted; a tail that could still grow into one is held back.
class StopStringMatcher {
 public:
  explicit StopStringMatcher(std::vector<std::string> stop_strings);

  struct Result {
    std::string text;      // safe to show now
    bool matched = false;  // a stop string completed: text ends right before it
  };
  Result push(std::string_view text);
  std::string flush();  // the held-back tail, once the output ends without a match

 private:
  size_t hold_length() const;  // longest tail of held_ that is a proper prefix of a stop string
  std::vector<std::string> stop_strings_;
  std::string held_;
};

// Detokenises one request's generated tokens and decides when it finishes.
class StopChecker {
 public:
  StopChecker(const io::Tokenizer& tokenizer, StopConditions conditions, int64_t prompt_tokens);

  struct Step {
    std::string text;                    // new visible text (may be empty while held back)
    std::optional<FinishReason> finish;  // set on the request's last token
  };
  // Takes the next generated token. Not to be called after a Step with `finish`.
  Step accept(int32_t token_id);

  int64_t generated() const { return generated_; }

 private:
  const io::Tokenizer* tokenizer_;
  StopConditions conditions_;
  int64_t prompt_tokens_;
  int64_t generated_ = 0;
  bool finished_ = false;
  io::StreamingDetokenizer detokenizer_;
  StopStringMatcher matcher_;
};

}  // namespace glimpse::engine
