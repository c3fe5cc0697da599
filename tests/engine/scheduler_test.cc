// Continuous batching on the golden tiny-a model: requests batched together (with chunked
// prefill, prefix and image caches, and preemption under a small KV pool) produce the tokens they
// produce alone; cancellation frees KV blocks at once; a full queue refuses.
#include "engine/scheduler.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "golden_compare.h"
#include "io/tokenizer.h"

namespace glimpse::engine {
namespace {

using engine::testing::golden_dir;
using engine::testing::read_json_file;

class SchedulerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string dir = (golden_dir() / "models" / "tiny-a").string();
    model_ = model::Glm4vModel::load(dir).release();
    prompts_ = new io::PromptBuilder(dir);
  }
  static void TearDownTestSuite() {
    delete model_;
    delete prompts_;
  }

  // The golden cases of tiny-a, as prompts (images included).
  static std::vector<io::Prompt> golden_prompts() {
    const auto manifest = read_json_file(golden_dir() / "manifest.json");
    io::MediaPolicy media;
    media.base_dir = golden_dir().string();
    media.allow_local_paths = true;
    std::vector<io::Prompt> prompts;
    for (const auto& c : manifest["cases"]) {
      if (c["model"] != "tiny-a") continue;
      io::PromptRequest request;
      request.messages = read_json_file(golden_dir() / c["messages"].get<std::string>());
      if (!c["enable_thinking"].is_null())
        request.template_kwargs["enable_thinking"] = c["enable_thinking"];
      prompts.push_back(prompts_->build(request, media));
    }
    return prompts;
  }

  static GenerationParams greedy(int64_t tokens) {
    GenerationParams p;
    p.sampling.temperature = 0;
    p.sampling.logprobs = 2;
    p.max_tokens = tokens;
    p.ignore_eos = true;
    return p;
  }

  // Collects finished results by request index.
  struct Collector {
    std::mutex mutex;
    std::condition_variable done;
    std::map<size_t, GenerationResult> results;
    std::vector<std::string> errors;

    RequestCallbacks callbacks(size_t index) {
      RequestCallbacks cb;
      cb.on_finish = [this, index](GenerationResult&& r) {
        std::lock_guard lock(mutex);
        results[index] = std::move(r);
        done.notify_all();
      };
      cb.on_error = [this](const Error& e) {
        std::lock_guard lock(mutex);
        errors.push_back(e.what());
        done.notify_all();
      };
      return cb;
    }
    void wait_for(size_t count) {
      std::unique_lock lock(mutex);
      ASSERT_TRUE(done.wait_for(lock, std::chrono::seconds(120),
                                [&] { return results.size() + errors.size() >= count; }));
    }
  };

  static model::Glm4vModel* model_;
  static io::PromptBuilder* prompts_;
};
model::Glm4vModel* SchedulerTest::model_ = nullptr;
io::PromptBuilder* SchedulerTest::prompts_ = nullptr;

// Batched tokens must equal the lone run's, except after a near-tie: a different summation order
// may flip an argmax whose top-1/top-2 logprob margin is below float noise (1e-4 here).
void expect_same_tokens(const GenerationResult& alone, const GenerationResult& batched,
                        const std::string& what) {
  ASSERT_EQ(alone.tokens.size(), batched.tokens.size()) << what;
  for (size_t i = 0; i < alone.tokens.size(); ++i) {
    if (alone.tokens[i].token_id == batched.tokens[i].token_id) continue;
    const auto& top = alone.tokens[i].logprobs->top;
    ASSERT_GE(top.size(), 2u);
    EXPECT_LT(top[0].logprob - top[1].logprob, 1e-4)
        << what << ": token " << i << " differs without a near-tie";
    return;  // texts legitimately diverge after a tie
  }
}

TEST_F(SchedulerTest, BatchedResultsEqualLoneRuns) {
  const auto prompts = golden_prompts();
  ASSERT_GE(prompts.size(), 4u);
  std::vector<GenerationResult> alone;
  for (const auto& p : prompts)
    alone.push_back(Generator(*model_, *prompts_).generate(p, greedy(12), nullptr));

  SchedulerOptions options;
  options.max_step_tokens = 48;  // forces chunked prefill of the image prompts
  options.kv_block_size = 8;
  Scheduler scheduler(*model_, prompts_->tokenizer(), options);
  Collector collector;
  for (size_t i = 0; i < prompts.size(); ++i)
    ASSERT_TRUE(scheduler.submit(prompts[i], greedy(12), collector.callbacks(i)));
  collector.wait_for(prompts.size());
  ASSERT_TRUE(collector.errors.empty()) << collector.errors.front();
  for (size_t i = 0; i < prompts.size(); ++i)
    expect_same_tokens(alone[i], collector.results[i], "prompt " + std::to_string(i));
  const SchedulerStats stats = scheduler.stats();
  EXPECT_EQ(stats.finished, prompts.size());
  EXPECT_EQ(stats.kv_blocks_held, 0);
  EXPECT_EQ(stats.generated_tokens, 12 * prompts.size());
}

// A step mixing greedy, penalised and seeded sampled requests picks every token in one
// ops::sample_rows call: each request must get its own row's pick, as when it runs alone.
TEST_F(SchedulerTest, MixedSamplingInOneBatchEqualsLoneRuns) {
  const auto prompts = golden_prompts();
  ASSERT_GE(prompts.size(), 4u);
  std::vector<GenerationParams> params(4, greedy(12));
  params[1].sampling.repetition_penalty = 1.3;  // greedy over penalised logits
  params[1].sampling.frequency_penalty = 0.5;
  params[2].sampling.temperature = 0.9;
  params[2].sampling.top_p = 0.9;
  params[2].sampling.seed = 5;
  params[3].sampling.temperature = 1.3;
  params[3].sampling.top_k = 20;
  params[3].sampling.min_p = 0.02;
  params[3].sampling.presence_penalty = 0.8;
  params[3].sampling.seed = 6;
  params[3].sampling.logprobs = 5;
  std::vector<GenerationResult> alone;
  for (size_t i = 0; i < params.size(); ++i)
    alone.push_back(Generator(*model_, *prompts_).generate(prompts[i], params[i], nullptr));

  Scheduler scheduler(*model_, prompts_->tokenizer(), {});
  Collector collector;
  for (size_t i = 0; i < params.size(); ++i)
    ASSERT_TRUE(scheduler.submit(prompts[i], params[i], collector.callbacks(i)));
  collector.wait_for(params.size());
  ASSERT_TRUE(collector.errors.empty()) << collector.errors.front();
  for (size_t i = 0; i < params.size(); ++i) {
    expect_same_tokens(alone[i], collector.results[i], "request " + std::to_string(i));
    EXPECT_EQ(collector.results[i].tokens.back().logprobs->top.size(),
              size_t(*params[i].sampling.logprobs));
  }
}

TEST_F(SchedulerTest, PreemptionUnderASmallPoolKeepsResults) {
  const auto prompts = golden_prompts();
  std::vector<GenerationResult> alone;
  for (const auto& p : prompts)
    alone.push_back(Generator(*model_, *prompts_).generate(p, greedy(24), nullptr));
  int64_t longest = 0;
  for (const auto& p : prompts) longest = std::max<int64_t>(longest, int64_t(p.ids.size()));

  SchedulerOptions options;
  options.kv_block_size = 4;
  // Room for the longest request and little more: decodes must preempt each other.
  options.kv_cache_bytes =
      size_t(longest + 40) * model::KvBlockPool::bytes_per_token(model_->config());
  Scheduler scheduler(*model_, prompts_->tokenizer(), options);
  Collector collector;
  for (size_t i = 0; i < prompts.size(); ++i)
    ASSERT_TRUE(scheduler.submit(prompts[i], greedy(24), collector.callbacks(i)));
  collector.wait_for(prompts.size());
  ASSERT_TRUE(collector.errors.empty()) << collector.errors.front();
  for (size_t i = 0; i < prompts.size(); ++i)
    expect_same_tokens(alone[i], collector.results[i], "prompt " + std::to_string(i));
  EXPECT_GT(scheduler.stats().preemptions, 0u);
  EXPECT_EQ(scheduler.stats().kv_blocks_held, 0);
}

TEST_F(SchedulerTest, PrefixAndImageCachesReuseWork) {
  const auto prompts = golden_prompts();
  const io::Prompt* with_image = nullptr;
  for (const auto& p : prompts)
    if (p.images.size() == 1 && p.ids.size() > 40) with_image = &p;
  ASSERT_NE(with_image, nullptr);
  SchedulerOptions options;
  options.kv_block_size = 8;
  Scheduler scheduler(*model_, prompts_->tokenizer(), options);
  Collector collector;
  ASSERT_TRUE(scheduler.submit(*with_image, greedy(6), collector.callbacks(0)));
  collector.wait_for(1);
  ASSERT_TRUE(scheduler.submit(*with_image, greedy(6), collector.callbacks(1)));
  collector.wait_for(2);
  const SchedulerStats stats = scheduler.stats();
  EXPECT_EQ(stats.image_cache_hits, 1u);
  EXPECT_EQ(stats.image_cache_misses, 1u);
  EXPECT_EQ(int64_t(stats.prefix_cache_hit_tokens), (int64_t(with_image->ids.size()) - 1) / 8 * 8);
  expect_same_tokens(collector.results[0], collector.results[1], "cached rerun");
}

TEST_F(SchedulerTest, CancelFreesBlocksAndStopsCallbacks) {
  const auto prompts = golden_prompts();
  Scheduler scheduler(*model_, prompts_->tokenizer(), {});
  std::atomic<int> tokens{0};
  std::atomic<bool> finished{false};
  RequestCallbacks cb;
  cb.on_token = [&](const TokenEvent&) { ++tokens; };
  cb.on_finish = [&](GenerationResult&&) { finished = true; };
  auto id = scheduler.submit(prompts[0], greedy(100000), cb);
  ASSERT_TRUE(id);
  while (tokens < 3) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  scheduler.cancel(*id);
  for (int i = 0; i < 2000 && scheduler.stats().cancelled == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const int after_cancel = tokens;
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(scheduler.stats().cancelled, 1u);
  EXPECT_EQ(scheduler.stats().kv_blocks_held, 0);
  EXPECT_EQ(tokens, after_cancel);
  EXPECT_FALSE(finished);
}

TEST_F(SchedulerTest, RefusesWhenTheQueueIsFullAndRejectsImpossiblePrompts) {
  const auto prompts = golden_prompts();
  SchedulerOptions options;
  options.max_running = 1;
  options.max_waiting = 1;
  Scheduler scheduler(*model_, prompts_->tokenizer(), options);
  Collector collector;
  int accepted = 0, refused = 0;
  for (size_t i = 0; i < 6; ++i)
    (scheduler.submit(prompts[0], greedy(30), collector.callbacks(i)) ? accepted : refused)++;
  EXPECT_GE(refused, 1);
  collector.wait_for(size_t(accepted));

  io::Prompt huge = prompts[0];
  huge.ids.assign(size_t(scheduler.context_limit()), huge.ids[0]);
  EXPECT_THROW(scheduler.submit(huge, greedy(1), {}), Error);
}

TEST_F(SchedulerTest, GeneratedImageTokenIsAnOrdinaryToken) {
  // A model may emit <|image|>; feeding it back must use its own embedding, as transformers' decode
  // steps do, not ask for image embeddings.
  const auto image = int32_t(model_->config().image_token_id);
  const std::vector<int32_t> ids{1, 2, image};
  const model::MropePositions positions = model_->rope_positions(std::vector<int32_t>{1, 2, 3}, {});
  model::KvCache cache = model_->new_cache(8);
  EXPECT_NO_THROW(model_->forward(ids, positions.positions, nullptr, cache));
  model::KvBlockPool pool(model_->config(), 1, 8);
  const std::vector<int32_t> table{0};
  model::SequenceChunk chunk;
  chunk.ids = ids;
  chunk.positions = positions.positions;
  chunk.block_table = table;
  chunk.want_logits = true;
  EXPECT_NO_THROW(model::forward_batch(*model_, std::vector<model::SequenceChunk>{chunk}, pool));
}

}  // namespace
}  // namespace glimpse::engine
