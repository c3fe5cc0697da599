// Continuous batching for serving: every step runs one decode token for each running request and
// prefill chunks of newly admitted ones, over a paged KV cache. New requests join between steps;
// a long image prompt is prefilled in chunks so it never stalls running decodes. Requests are
// admitted in arrival order when the blocks for their prompt are free; when decode runs out of
// blocks, the most recently admitted request is preempted and later recomputed (its prompt blocks
// usually come back from the prefix cache).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <vector>

#include "core/error.h"
#include "engine/block_manager.h"
#include "engine/generator.h"
#include "engine/image_cache.h"
#include "io/prompt.h"
#include "model/batch.h"
#include "model/glm4v.h"

namespace glimpse::engine {

struct SchedulerOptions {
  int64_t kv_block_size = 16;               // tokens per KV block
  size_t kv_cache_bytes = size_t(1) << 30;  // pool size; blocks = bytes / block bytes
  // Tokens per step: decode tokens + prefill chunks. 0 picks by device: 512 on the CPU, where a
  // step's time grows with its tokens from the first; 2048 on the GPU, whose GEMMs reach their
  // rate only at thousands of rows (H100, 4096² bf16 GEMM: ≈ 40 % of the rate at 512 rows, ≈ 95 %
  // at 2048), at the price of decode tokens waiting longer behind a chunk.
  int64_t max_step_tokens = 0;
  int64_t max_running = 64;   // requests decoding at once
  int64_t max_waiting = 256;  // queued beyond this: submit() refuses (HTTP 429)
  bool prefix_caching = true;
  size_t image_cache_bytes = size_t(64) << 20;  // 0 turns the image-embedding cache off
};

struct RequestCallbacks {
  TokenCallback on_token;                             // every generated token
  std::function<void(GenerationResult&&)> on_finish;  // the request completed
  std::function<void(const Error&)> on_error;         // it failed or was dropped at shutdown
};

struct SchedulerStats {
  int64_t running = 0, waiting = 0;
  int64_t kv_blocks_total = 0, kv_blocks_held = 0, kv_block_size = 0;
  uint64_t image_cache_hits = 0, image_cache_misses = 0;
  uint64_t prefix_cache_hit_tokens = 0;
  uint64_t preemptions = 0, steps = 0, prompt_tokens = 0, generated_tokens = 0;
  uint64_t finished = 0, cancelled = 0, failed = 0;
};

class Scheduler {
 public:
  // `model` and `tokenizer` must outlive the scheduler. Starts the engine thread.
  Scheduler(const model::Glm4vModel& model, const io::Tokenizer& tokenizer,
            SchedulerOptions options);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a request whose prompt was built on the caller's thread; callbacks run on the engine
  // thread and must not block. Returns nullopt when the waiting queue is full or the scheduler is
  // draining. Throws Error for a request that can never run (kInvalidArgument, or
  // kLimitExceeded when its prompt alone exceeds the context or the whole KV cache).
  std::optional<uint64_t> submit(io::Prompt prompt, GenerationParams params,
                                 RequestCallbacks callbacks, double preprocess_ms = 0);
  // Drops a request (e.g. its client went away): its blocks are freed at the next step and no
  // callback follows.
  void cancel(uint64_t id);
  SchedulerStats stats() const;
  int64_t context_limit() const;

  // Stops admitting, lets in-flight requests finish until `timeout`, then fails the rest
  // (on_error) and stops the engine thread.
  void drain(std::chrono::milliseconds timeout);

  struct Sequence;

 private:
  void loop();
  void refresh_stats();  // engine thread: running/waiting/blocks into stats_
  void take_incoming();
  void admit();
  bool ensure_blocks(Sequence& seq, int64_t tokens);
  void preempt(Sequence& seq);
  void step();
  void finish(Sequence& seq);
  void fail_sequence(Sequence& seq, const Error& error);
  // The vision tower for the sequences' images not yet encoded, batched into few calls of at most
  // kMaxPatchesPerVisionCall patches.
  void encode_images(std::span<Sequence* const> seqs);
  static constexpr int64_t kMaxPatchesPerVisionCall = 65536;
  void trace_step(std::span<const model::SequenceChunk> chunks,
                  std::chrono::steady_clock::time_point start,
                  std::chrono::steady_clock::time_point forward_start,
                  std::chrono::steady_clock::time_point forward_end) const;

  const model::Glm4vModel& model_;
  const io::Tokenizer& tokenizer_;
  SchedulerOptions options_;
  std::vector<int32_t> eos_ids_;
  std::unique_ptr<model::KvBlockPool> pool_;
  BlockManager blocks_;
  ImageEmbeddingCache image_cache_;
  // GLIMPSE_TRACE_STEPS set: one stderr line per step: its sizes, then the times to prepare, to
  // run the model and pick the tokens, and to emit them.
  const bool trace_steps_;

  mutable std::mutex mutex_;
  std::condition_variable wake_, idle_;
  std::deque<std::unique_ptr<Sequence>> incoming_;  // submitted, not yet seen by the engine thread
  std::vector<uint64_t> cancels_;
  bool accepting_ = true, stopping_ = false;
  uint64_t next_id_ = 1;
  SchedulerStats stats_;

  // Engine-thread state.
  std::deque<std::unique_ptr<Sequence>> waiting_;
  std::vector<std::unique_ptr<Sequence>> running_;

  std::thread thread_;
};

}  // namespace glimpse::engine
