#include "engine/scheduler.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <unordered_map>

#include "core/device_copy.h"
#include "engine/token_stream.h"
#include "io/tokenizer.h"

namespace glimpse::engine {
namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

int64_t blocks_for(int64_t tokens, int64_t block_size) {
  return (tokens + block_size - 1) / block_size;
}

SchedulerOptions with_step_budget(SchedulerOptions options, Device device) {
  if (options.max_step_tokens <= 0) options.max_step_tokens = device == Device::kCUDA ? 2048 : 512;
  return options;
}

}  // namespace

struct Scheduler::Sequence {
  uint64_t id = 0;
  io::Prompt prompt;
  GenerationParams params;
  RequestCallbacks callbacks;
  double preprocess_ms = 0;
  Clock::time_point arrival;
  std::optional<Clock::time_point> admitted, prefill_start, first_token, prompt_done;
  double vision_ms = 0;

  std::vector<model::ImageGrid> grids;
  std::vector<ImageSpan> image_spans;
  std::vector<int64_t> image_tokens_before;  // image tokens in ids[0, i), for i in [0, prompt]
  Tensor image_embeds;
  bool images_encoded = false;
  model::MropePositions rope;
  std::vector<uint64_t> prompt_block_hashes;

  std::unique_ptr<TokenStream> stream;
  std::vector<int32_t> generated;  // ids fed back as decode inputs
  std::vector<int32_t> blocks;
  int64_t computed = 0;  // tokens whose keys/values are in the blocks
  int64_t max_new = 0;   // generated tokens allowed (max_tokens within the context)
  bool cancelled = false;

  int64_t prompt_tokens() const { return int64_t(prompt.ids.size()); }
  int64_t known_tokens() const { return prompt_tokens() + int64_t(generated.size()); }
  int32_t token_at(int64_t i) const {
    return i < prompt_tokens() ? prompt.ids[size_t(i)] : generated[size_t(i - prompt_tokens())];
  }
};

Scheduler::Scheduler(const model::Glm4vModel& model, const io::Tokenizer& tokenizer,
                     SchedulerOptions options)
    : model_(model),
      tokenizer_(tokenizer),
      options_(with_step_budget(options, model.device())),
      blocks_(std::max<int64_t>(1, int64_t(options.kv_cache_bytes /
                                           (model::KvBlockPool::bytes_per_token(model.config()) *
                                            size_t(options.kv_block_size)))),
              options.kv_block_size, options.prefix_caching),
      image_cache_(options.image_cache_bytes),
      trace_steps_(std::getenv("GLIMPSE_TRACE_STEPS") != nullptr) {
  const auto& ids = model.config().generation.eos_token_ids;
  eos_ids_.assign(ids.begin(), ids.end());
  pool_ = std::make_unique<model::KvBlockPool>(model.config(), blocks_.total_blocks(),
                                               options.kv_block_size, model.device());
  thread_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    accepting_ = false;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

int64_t Scheduler::context_limit() const {
  return model_.config().text.max_position_embeddings;
}

std::optional<uint64_t> Scheduler::submit(io::Prompt prompt, GenerationParams params,
                                          RequestCallbacks callbacks, double preprocess_ms) {
  validate(params.sampling);
  auto seq = std::make_unique<Sequence>();
  seq->arrival = Clock::now();
  const int64_t prompt_tokens = int64_t(prompt.ids.size());
  if (prompt_tokens == 0) fail(ErrorKind::kInvalidArgument, "prompt: no tokens");
  check_prompt_fits(prompt_tokens, context_limit());
  if (blocks_for(prompt_tokens + 1, options_.kv_block_size) > blocks_.total_blocks())
    fail(ErrorKind::kLimitExceeded, "prompt of {} tokens does not fit the KV cache ({} tokens)",
         prompt_tokens, blocks_.total_blocks() * options_.kv_block_size);
  if (params.max_tokens && *params.max_tokens < 1)
    fail(ErrorKind::kInvalidArgument, "max_tokens: {} (must be at least 1)", *params.max_tokens);

  // Image bookkeeping: grids, where each image's tokens sit, and rope positions.
  const int32_t image_token = int32_t(model_.config().image_token_id);
  int64_t expected = 0;
  for (const auto& image : prompt.images) {
    seq->grids.push_back({image.t, image.h, image.w});
    expected += image.num_tokens;
  }
  seq->image_tokens_before.assign(size_t(prompt_tokens) + 1, 0);
  size_t image = 0;
  for (int64_t i = 0; i < prompt_tokens; ++i) {
    const bool is_image = prompt.ids[size_t(i)] == image_token;
    seq->image_tokens_before[size_t(i) + 1] =
        seq->image_tokens_before[size_t(i)] + (is_image ? 1 : 0);
    if (is_image && (i == 0 || prompt.ids[size_t(i) - 1] != image_token) &&
        image < prompt.images.size()) {
      seq->image_spans.push_back(
          {i, prompt.images[image].num_tokens, prompt.images[image].content_hash});
      ++image;
    }
  }
  if (seq->image_tokens_before.back() != expected)
    fail(ErrorKind::kInvalidArgument, "prompt: {} image tokens for {} image(s) of {} tokens",
         seq->image_tokens_before.back(), prompt.images.size(), expected);
  seq->rope = model_.rope_positions(prompt.ids, seq->grids);
  seq->prompt_block_hashes =
      prefix_block_hashes(prompt.ids, seq->image_spans, options_.kv_block_size);

  seq->max_new =
      std::min(params.max_tokens.value_or(context_limit()), context_limit() - prompt_tokens);
  seq->stream = std::make_unique<TokenStream>(
      tokenizer_, params, prompt.ids, model_.config().text.vocab_size,
      StopConditions{eos_ids_, params.ignore_eos, params.stop, seq->max_new, context_limit()});
  seq->stream->result().image_tokens = expected;
  seq->prompt = std::move(prompt);
  seq->params = std::move(params);
  seq->callbacks = std::move(callbacks);
  seq->preprocess_ms = preprocess_ms;

  std::lock_guard lock(mutex_);
  if (!accepting_ || stats_.waiting + int64_t(incoming_.size()) >= options_.max_waiting)
    return std::nullopt;
  seq->id = next_id_++;
  const uint64_t id = seq->id;
  incoming_.push_back(std::move(seq));
  wake_.notify_one();
  return id;
}

void Scheduler::cancel(uint64_t id) {
  std::lock_guard lock(mutex_);
  cancels_.push_back(id);
  wake_.notify_one();
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void Scheduler::drain(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  accepting_ = false;
  idle_.wait_for(lock, timeout,
                 [&] { return incoming_.empty() && stats_.running == 0 && stats_.waiting == 0; });
  stopping_ = true;
  lock.unlock();
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Scheduler::refresh_stats() {
  int64_t running = 0;
  for (const auto& s : running_)
    if (s && !s->cancelled && !s->stream->finished()) ++running;
  std::lock_guard lock(mutex_);
  stats_.running = running;
  stats_.waiting = int64_t(waiting_.size());
  stats_.kv_blocks_total = blocks_.total_blocks();
  stats_.kv_blocks_held = blocks_.held_blocks();
  stats_.kv_block_size = options_.kv_block_size;
}

void Scheduler::take_incoming() {
  std::vector<uint64_t> cancels;
  {
    std::lock_guard lock(mutex_);
    while (!incoming_.empty()) {
      waiting_.push_back(std::move(incoming_.front()));
      incoming_.pop_front();
    }
    cancels.swap(cancels_);
  }
  for (uint64_t id : cancels) {
    for (auto& s : waiting_)
      if (s->id == id) s->cancelled = true;
    for (auto& s : running_)
      if (s->id == id) s->cancelled = true;
  }
  auto drop = [&](auto& list) {
    for (auto it = list.begin(); it != list.end();) {
      if ((*it)->cancelled) {
        blocks_.release((*it)->blocks);
        it = list.erase(it);
        std::lock_guard lock(mutex_);
        ++stats_.cancelled;
      } else {
        ++it;
      }
    }
  };
  drop(waiting_);
  drop(running_);
  refresh_stats();
}

void Scheduler::admit() {
  while (!waiting_.empty() && int64_t(running_.size()) < options_.max_running) {
    Sequence& seq = *waiting_.front();
    // Reuse cached blocks of the prompt, but always compute its last token (its logits are needed).
    const size_t reusable = size_t((seq.prompt_tokens() - 1) / options_.kv_block_size);
    const std::span<const uint64_t> hashes(seq.prompt_block_hashes.data(),
                                           std::min(reusable, seq.prompt_block_hashes.size()));
    std::vector<int32_t> matched = blocks_.match_prefix(hashes);
    const int64_t need =
        blocks_for(seq.known_tokens() + 1, options_.kv_block_size) - int64_t(matched.size());
    auto fresh = blocks_.allocate(need);
    if (!fresh) {
      blocks_.release(matched);
      break;  // first come, first served: wait until blocks free up
    }
    seq.blocks = std::move(matched);
    seq.computed = int64_t(seq.blocks.size()) * options_.kv_block_size;
    {
      std::lock_guard lock(mutex_);
      stats_.prefix_cache_hit_tokens += uint64_t(seq.computed);
    }
    seq.blocks.insert(seq.blocks.end(), fresh->begin(), fresh->end());
    if (!seq.admitted) seq.admitted = Clock::now();
    running_.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
  }
}

bool Scheduler::ensure_blocks(Sequence& seq, int64_t tokens) {
  const int64_t need = blocks_for(tokens, options_.kv_block_size) - int64_t(seq.blocks.size());
  if (need <= 0) return true;
  auto fresh = blocks_.allocate(need);
  if (!fresh) return false;
  seq.blocks.insert(seq.blocks.end(), fresh->begin(), fresh->end());
  return true;
}

void Scheduler::preempt(Sequence& seq) {
  blocks_.release(seq.blocks);
  seq.blocks.clear();
  seq.computed = 0;  // recomputed when admitted again; generated tokens are kept
  std::lock_guard lock(mutex_);
  ++stats_.preemptions;
}

void Scheduler::encode_images(std::span<Sequence* const> seqs) {
  // Every image of these sequences that the cache does not hold goes through the vision tower in
  // few calls, so the tower's GEMMs see all the step's patches at once. With the cache on, an
  // image sent twice in one step is encoded once; with it off (--image-cache-mib 0) nothing is
  // reused, not even within a step.
  struct Missing {
    const io::PreparedImage* image;
    model::ImageGrid grid;
    std::vector<Tensor*> slots;  // where its embeddings go
  };
  std::vector<Sequence*> todo;
  for (Sequence* seq : seqs)
    if (!seq->images_encoded && !seq->prompt.images.empty()) todo.push_back(seq);
  if (todo.empty()) return;
  const auto start = Clock::now();
  std::vector<std::vector<Tensor>> parts(todo.size());
  std::vector<Missing> missing;
  std::unordered_map<std::string, size_t> missing_by_hash;
  const bool reuse = options_.image_cache_bytes > 0;
  for (size_t s = 0; s < todo.size(); ++s) {
    const Sequence& seq = *todo[s];
    parts[s].resize(seq.prompt.images.size());
    for (size_t i = 0; i < seq.prompt.images.size(); ++i) {
      const io::PreparedImage& image = seq.prompt.images[i];
      if (auto it = missing_by_hash.find(image.content_hash);
          reuse && it != missing_by_hash.end()) {
        missing[it->second].slots.push_back(&parts[s][i]);
        image_cache_.count_shared_hit();
      } else if (auto cached = image_cache_.find(image.content_hash)) {
        parts[s][i] = *cached;
      } else {
        missing_by_hash[image.content_hash] = missing.size();
        missing.push_back({&image, seq.grids[i], {&parts[s][i]}});
      }
    }
  }
  for (size_t first = 0; first < missing.size();) {
    // Calls bounded by patches, so a burst of large images cannot exhaust activation memory.
    std::vector<model::ImageInput> inputs;
    int64_t patches = 0;
    size_t last = first;
    while (last < missing.size() && (inputs.empty() || patches + missing[last].image->patches() <=
                                                           kMaxPatchesPerVisionCall)) {
      const io::PreparedImage& image = *missing[last].image;
      inputs.push_back(
          {image.pixel_values, missing[last].grid, image.pixel_bytes, image.pixel_levels});
      patches += image.patches();
      ++last;
    }
    const Tensor fresh = model_.encode_images(inputs);
    for (int64_t row = 0; first < last; ++first) {
      const io::PreparedImage& image = *missing[first].image;
      // Own copy per image, so the cache can keep one image without the whole batch.
      Tensor own = Tensor::empty({image.num_tokens, fresh.size(1)}, DType::kF32, fresh.device());
      copy_into(own, fresh.slice_rows(row, row + image.num_tokens));
      image_cache_.insert(image.content_hash, own);
      for (Tensor* slot : missing[first].slots) *slot = own;
      row += image.num_tokens;
    }
  }
  const int64_t hidden = model_.config().text.hidden_size;
  for (size_t s = 0; s < todo.size(); ++s) {
    Sequence& seq = *todo[s];
    seq.image_embeds =
        Tensor::empty({seq.image_tokens_before.back(), hidden}, DType::kF32, model_.device());
    int64_t row = 0;
    for (const Tensor& part : parts[s]) {
      copy_into(seq.image_embeds.slice_rows(row, row + part.size(0)), part);
      row += part.size(0);
    }
    seq.images_encoded = true;
  }
  // vision_ms counts the GPU's work, not only its queueing; every sequence of the call waited for
  // all of it.
  if (model_.device() == Device::kCUDA) synchronize_device();
  const double elapsed = ms_between(start, Clock::now());
  for (Sequence* seq : todo) seq->vision_ms += elapsed;
  std::lock_guard lock(mutex_);
  stats_.image_cache_hits = image_cache_.hits();
  stats_.image_cache_misses = image_cache_.misses();
}

void Scheduler::finish(Sequence& seq) {
  const auto end = Clock::now();
  GenerationResult& result = seq.stream->result();
  Timings& t = result.timings;
  t.preprocess_ms = seq.preprocess_ms;
  t.queue_ms = seq.admitted ? ms_between(seq.arrival, *seq.admitted) : 0;
  t.vision_ms = seq.vision_ms;
  t.prefill_ms =
      seq.prompt_done && seq.prefill_start ? ms_between(*seq.prefill_start, *seq.prompt_done) : 0;
  t.ttft_ms = seq.preprocess_ms + ms_between(seq.arrival, *seq.first_token);
  t.decode_ms = ms_between(*seq.first_token, end);
  t.decode_tokens = int64_t(result.tokens.size()) - 1;
  t.total_ms = seq.preprocess_ms + ms_between(seq.arrival, end);
  blocks_.release(seq.blocks);
  seq.blocks.clear();
  {
    std::lock_guard lock(mutex_);
    ++stats_.finished;
  }
  refresh_stats();  // a caller woken by on_finish sees its blocks freed
  if (seq.callbacks.on_finish) seq.callbacks.on_finish(std::move(result));
}

void Scheduler::fail_sequence(Sequence& seq, const Error& error) {
  blocks_.release(seq.blocks);
  seq.blocks.clear();
  {
    std::lock_guard lock(mutex_);
    ++stats_.failed;
  }
  refresh_stats();
  if (seq.callbacks.on_error) seq.callbacks.on_error(error);
}

void Scheduler::step() {
  // Decoding sequences first (one token each), then prefill chunks within the token budget.
  std::stable_partition(running_.begin(), running_.end(),
                        [](const auto& s) { return s->known_tokens() - s->computed == 1; });
  struct Planned {
    Sequence* seq;
    int64_t begin, end;
  };
  std::vector<Planned> plan;
  int64_t budget = options_.max_step_tokens;
  for (size_t i = 0; i < running_.size() && budget > 0; ++i) {
    Sequence& seq = *running_[i];
    if (seq.blocks.empty()) continue;  // preempted earlier in this step
    // Prompt chunks end at the prompt: only prompt tokens take image embeddings (a recomputed
    // sequence's generated tokens follow in their own chunk).
    const int64_t until =
        seq.computed < seq.prompt_tokens() ? seq.prompt_tokens() : seq.known_tokens();
    const int64_t take = std::min(until - seq.computed, budget);
    if (take <= 0) continue;
    while (!ensure_blocks(seq, seq.computed + take)) {
      // Out of blocks: preempt the most recently admitted other request, or wait if none.
      auto victim = std::find_if(running_.rbegin(), running_.rend(), [&](const auto& s) {
        return s.get() != &seq && !s->blocks.empty() &&
               std::none_of(plan.begin(), plan.end(),
                            [&](const Planned& p) { return p.seq == s.get(); });
      });
      if (victim == running_.rend()) break;
      preempt(**victim);
    }
    if (int64_t(seq.blocks.size()) * options_.kv_block_size < seq.computed + take) continue;
    plan.push_back({&seq, seq.computed, seq.computed + take});
    budget -= take;
  }
  // Preempted requests go back to the front of the queue, oldest first.
  for (auto it = running_.rbegin(); it != running_.rend(); ++it)
    if ((*it)->blocks.empty()) waiting_.push_front(std::move(*it));
  running_.erase(std::remove(running_.begin(), running_.end(), nullptr), running_.end());
  if (plan.empty()) return;

  // A failed step fails the requests in it (their callbacks are done, so they are removed below).
  auto fail_planned = [&](const Error& error) {
    for (const auto& p : plan) {
      fail_sequence(*p.seq, error);
      p.seq->cancelled = true;
    }
  };
  std::vector<model::SequenceChunk> chunks;
  std::vector<std::vector<int32_t>> chunk_ids(plan.size());
  const auto step_start = Clock::now();
  Clock::time_point forward_start, forward_end;
  try {
    std::vector<Sequence*> planned;
    for (const auto& p : plan) planned.push_back(p.seq);
    encode_images(planned);
    for (size_t i = 0; i < plan.size(); ++i) {
      Sequence& seq = *plan[i].seq;
      if (!seq.prefill_start) seq.prefill_start = Clock::now();
      const int64_t n = plan[i].end - plan[i].begin;
      Tensor positions = Tensor::empty({3, n}, DType::kI64);
      for (int64_t k = 0; k < n; ++k) {
        const int64_t p = plan[i].begin + k;
        chunk_ids[i].push_back(seq.token_at(p));
        for (int64_t axis = 0; axis < 3; ++axis) {
          // Prompt tokens take their M-RoPE positions; generated ones continue on all three axes.
          positions.data<int64_t>()[axis * n + k] =
              p < seq.prompt_tokens()
                  ? seq.rope.positions.data<int64_t>()[axis * seq.prompt_tokens() + p]
                  : seq.rope.next_position + (p - seq.prompt_tokens());
        }
      }
      model::SequenceChunk chunk;
      chunk.ids = chunk_ids[i];
      chunk.positions = positions;
      chunk.block_table = seq.blocks;
      chunk.cached_tokens = plan[i].begin;
      if (!seq.prompt.images.empty() && plan[i].begin < seq.prompt_tokens()) {
        chunk.image_embeds = &seq.image_embeds;
        chunk.image_rows_before = seq.image_tokens_before[size_t(plan[i].begin)];
      }
      chunk.want_logits = plan[i].end == seq.known_tokens();
      chunks.push_back(chunk);
    }
    forward_start = Clock::now();
    const Tensor step_logits = model::forward_batch_on_device(model_, chunks, *pool_);
    std::vector<TokenStream*> sampling;
    for (size_t i = 0; i < plan.size(); ++i)
      if (chunks[i].want_logits) sampling.push_back(plan[i].seq->stream.get());
    // One argmax per sequence when greedy picks are all the step needs, else the sampling op;
    // either way the logits stay where they are and only the picks come back.
    std::vector<ops::SampledToken> picked = pick_tokens(step_logits, sampling);
    forward_end = Clock::now();

    {
      std::lock_guard lock(mutex_);
      ++stats_.steps;
      for (const auto& p : plan)
        if (p.begin < p.seq->prompt_tokens())
          stats_.prompt_tokens += uint64_t(std::min(p.end, p.seq->prompt_tokens()) - p.begin);
    }
    size_t row = 0;
    for (size_t i = 0; i < plan.size(); ++i) {
      Sequence& seq = *plan[i].seq;
      seq.computed = plan[i].end;
      // Full prompt blocks just computed become shareable.
      for (int64_t b = plan[i].begin / options_.kv_block_size;
           b < std::min<int64_t>(plan[i].end / options_.kv_block_size,
                                 int64_t(seq.prompt_block_hashes.size()));
           ++b)
        blocks_.publish(seq.blocks[size_t(b)], seq.prompt_block_hashes[size_t(b)]);
      if (!chunks[i].want_logits) continue;
      if (!seq.prompt_done) seq.prompt_done = Clock::now();
      ops::SampledToken& pick = picked[row++];
      TokenEvent event = seq.stream->accept(pick.token_id, std::move(pick.logprobs));
      if (!seq.first_token) seq.first_token = Clock::now();
      seq.generated.push_back(event.token_id);
      {
        std::lock_guard lock(mutex_);  // counted before any callback can observe the token
        ++stats_.generated_tokens;
      }
      if (seq.callbacks.on_token) seq.callbacks.on_token(event);
      if (seq.stream->finished()) finish(seq);
    }
    if (trace_steps_) trace_step(chunks, step_start, forward_start, forward_end);
  } catch (const Error& e) {
    fail_planned(e);
  } catch (const std::exception& e) {
    fail_planned(Error(ErrorKind::kInternal, e.what()));
  }
  running_.erase(
      std::remove_if(running_.begin(), running_.end(),
                     [](const auto& s) { return s->cancelled || s->stream->finished(); }),
      running_.end());
}

void Scheduler::trace_step(std::span<const model::SequenceChunk> chunks,
                           Clock::time_point start, Clock::time_point forward_start,
                           Clock::time_point forward_end) const {
  int64_t tokens = 0, decoding = 0;
  for (const auto& chunk : chunks) {
    tokens += int64_t(chunk.ids.size());
    decoding += chunk.ids.size() == 1;
  }
  std::fprintf(stderr,
               "glimpse step: %zu sequences (%lld decoding), %lld tokens | prepare %.3f ms | "
               "forward+pick %.3f ms | emit %.3f ms\n",
               chunks.size(), static_cast<long long>(decoding), static_cast<long long>(tokens),
               ms_between(start, forward_start), ms_between(forward_start, forward_end),
               ms_between(forward_end, Clock::now()));
}

void Scheduler::loop() {
  for (;;) {
    refresh_stats();
    {
      std::unique_lock lock(mutex_);
      if (running_.empty() && waiting_.empty() && incoming_.empty()) idle_.notify_all();
      wake_.wait(lock, [&] {
        return stopping_ || !incoming_.empty() || !cancels_.empty() || !running_.empty() ||
               !waiting_.empty();
      });
      if (stopping_) break;
    }
    take_incoming();
    admit();
    step();
  }
  // Shutdown: whatever is left fails with a clear message.
  const Error stopped(ErrorKind::kUnsupported, "the server is shutting down");
  take_incoming();
  for (auto& s : running_) fail_sequence(*s, stopped);
  for (auto& s : waiting_) fail_sequence(*s, stopped);
  running_.clear();
  waiting_.clear();
}

}  // namespace glimpse::engine
