#include "engine/generator.h"

#include <algorithm>
#include <chrono>

#include "core/device_copy.h"
#include "core/error.h"
#include "engine/stop.h"
#include "engine/token_stream.h"
#include "io/tokenizer.h"

namespace glimpse::engine {
namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

Tensor decode_position(int64_t position) {
  Tensor positions = Tensor::empty({3, 1}, DType::kI64);
  std::fill_n(positions.data<int64_t>(), 3, position);
  return positions;
}

}  // namespace

SamplingParams default_sampling(const model::GenerationDefaults& defaults) {
  SamplingParams params;
  if (!defaults.do_sample.value_or(false)) {
    params.temperature = 0.0;
    return params;
  }
  // transformers' GenerationConfig defaults where generation_config.json is silent.
  params.temperature = defaults.temperature.value_or(1.0);
  params.top_p = defaults.top_p.value_or(1.0);
  params.top_k = defaults.top_k.value_or(50);
  return params;
}

io::PixelForm pixel_form_for(const model::Glm4vModel& model) {
  return model.device() == Device::kCUDA ? io::PixelForm::kSamples : io::PixelForm::kRows;
}

Generator::Generator(const model::Glm4vModel& model, const io::PromptBuilder& prompts)
    : model_(&model), prompts_(&prompts) {
  const auto& config = model.config();
  if (config.image_token_id != prompts.image_token_id())
    fail(ErrorKind::kInvalidArgument,
         "model and prompt builder disagree on the image token ({} in config.json, {} in the "
         "tokenizer)",
         config.image_token_id, prompts.image_token_id());
  if (config.text.max_position_embeddings <= 0)
    fail(ErrorKind::kUnsupported, "config.json: text_config.max_position_embeddings is {}",
         config.text.max_position_embeddings);
}

int64_t Generator::context_limit() const {
  return model_->config().text.max_position_embeddings;
}

std::vector<int32_t> Generator::eos_token_ids() const {
  const auto& ids = model_->config().generation.eos_token_ids;
  return {ids.begin(), ids.end()};
}

GenerationResult Generator::generate(const io::PromptRequest& request, const io::MediaPolicy& media,
                                     const GenerationParams& params,
                                     const TokenCallback& on_token) const {
  const auto start = Clock::now();
  validate(params.sampling);  // before the costly part, so a bad request fails fast
  const io::Prompt prompt = prompts_->build(request, media);
  return generate(prompt, params, on_token, ms_between(start, Clock::now()));
}

GenerationResult Generator::generate(const io::Prompt& prompt, const GenerationParams& params,
                                     const TokenCallback& on_token, double preprocess_ms) const {
  const auto start = Clock::now();
  const auto& config = model_->config();
  const auto prompt_tokens = int64_t(prompt.ids.size());
  if (prompt_tokens == 0) fail(ErrorKind::kInvalidArgument, "prompt: no tokens");
  const int64_t context = context_limit();
  check_prompt_fits(prompt_tokens, context);
  if (params.max_tokens && *params.max_tokens < 1)
    fail(ErrorKind::kInvalidArgument, "max_tokens: {} (must be at least 1)", *params.max_tokens);
  const int64_t max_tokens = std::min(params.max_tokens.value_or(context), context - prompt_tokens);

  const int64_t image_tokens =
      std::count(prompt.ids.begin(), prompt.ids.end(), config.image_token_id);
  int64_t expected_image_tokens = 0;
  for (const auto& image : prompt.images) expected_image_tokens += image.num_tokens;
  if (image_tokens != expected_image_tokens)
    fail(ErrorKind::kInvalidArgument, "prompt: {} image tokens for {} image(s) of {} tokens",
         image_tokens, prompt.images.size(), expected_image_tokens);

  TokenStream stream(
      prompts_->tokenizer(), params, prompt.ids, config.text.vocab_size,
      StopConditions{eos_token_ids(), params.ignore_eos, params.stop, max_tokens, context});

  std::vector<model::ImageInput> images;
  std::vector<model::ImageGrid> grids;
  for (const auto& image : prompt.images) {
    grids.push_back({image.t, image.h, image.w});
    images.push_back({image.pixel_values, grids.back(), image.pixel_bytes, image.pixel_levels});
  }
  const auto vision_start = Clock::now();
  Tensor image_embeds;
  if (!images.empty()) image_embeds = model_->encode_images(images);
  // vision_ms counts the GPU's work, not only its queueing.
  if (model_->device() == Device::kCUDA) synchronize_device();
  const auto prefill_start = Clock::now();
  const model::MropePositions rope = model_->rope_positions(prompt.ids, grids);
  model::KvCache cache = model_->new_cache(prompt_tokens + max_tokens);
  // The logits stay on the model's device; only the pick (and its logprobs) comes back.
  Tensor logits = model_->forward_on_device(prompt.ids, rope.positions,
                                            images.empty() ? nullptr : &image_embeds, cache);
  if (model_->device() == Device::kCUDA) synchronize_device();  // prefill_ms: the GPU's work too
  const auto prefill_end = Clock::now();

  Clock::time_point first_token_at;
  TokenStream* const streams[] = {&stream};
  for (;;) {
    ops::SampledToken pick = std::move(pick_tokens(logits, streams)[0]);
    const TokenEvent event = stream.accept(pick.token_id, std::move(pick.logprobs));
    if (event.index == 0) first_token_at = Clock::now();
    if (on_token) on_token(event);
    if (stream.finished()) break;
    // Generated tokens continue every M-RoPE axis together from the prompt's next position.
    const int32_t fed[1] = {event.token_id};
    logits = model_->forward_on_device(fed, decode_position(rope.next_position + event.index),
                                       nullptr, cache);
  }
  const auto end = Clock::now();

  GenerationResult result = std::move(stream.result());
  result.image_tokens = image_tokens;
  Timings& t = result.timings;
  t.preprocess_ms = preprocess_ms;
  t.vision_ms = ms_between(vision_start, prefill_start);
  t.prefill_ms = ms_between(prefill_start, prefill_end);
  t.ttft_ms = preprocess_ms + ms_between(start, first_token_at);
  t.decode_ms = ms_between(first_token_at, end);
  t.decode_tokens = int64_t(result.tokens.size()) - 1;
  t.total_ms = preprocess_ms + ms_between(start, end);
  return result;
}

}  // namespace glimpse::engine
