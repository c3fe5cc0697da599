// What one finished request produced: its tokens (with logprobs when asked), text, why it ended,
// and where the time went. Shared by the generator, the JSON writer and the server.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/sampling.h"
#include "engine/stop.h"

namespace glimpse::engine {

struct GeneratedToken {
  int32_t token_id = 0;
  std::optional<TokenLogprobs> logprobs;  // when the request asked for them
};

// Milliseconds on a monotonic clock, from the moment the request is taken.
struct Timings {
  double queue_ms = 0;       // waiting for the scheduler (0 on the single-request path)
  double preprocess_ms = 0;  // chat template, image decode + preprocessing, tokenisation
  double vision_ms = 0;      // vision tower + merger
  double prefill_ms = 0;     // M-RoPE positions + decoder over the prompt
  double ttft_ms = 0;        // request start to the first generated token
  double decode_ms = 0;      // first token to last token (the tokens after the first)
  double total_ms = 0;
  int64_t decode_tokens = 0;  // tokens timed by decode_ms (generated - 1)

  std::optional<double> decode_ms_per_token() const {
    if (decode_tokens == 0) return std::nullopt;
    return decode_ms / double(decode_tokens);
  }
};

struct GenerationResult {
  std::vector<int32_t> prompt_ids;  // image tokens expanded
  int64_t image_tokens = 0;         // how many of prompt_ids are image tokens
  std::vector<GeneratedToken> tokens;
  std::string text;  // visible text: special tokens skipped, cut before any stop string
  FinishReason finish_reason = FinishReason::kLength;
  Timings timings;
};

}  // namespace glimpse::engine
