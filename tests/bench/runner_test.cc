// The request-level %timeit discipline with a scripted backend (no model): cold call kept apart,
// warm-up thrown away, loops x repeats x concurrency timed, Poisson arrivals, stage sums.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "bench/report.h"
#include "bench/runner.h"
#include "core/error.h"

namespace glimpse::bench {
namespace {

// Every request "takes" a scripted time: the first one sent to a point is slow (cold).
class ScriptedBackend : public Backend {
 public:
  explicit ScriptedBackend(double warm_ms, double cold_ms) : warm_ms_(warm_ms), cold_ms_(cold_ms) {}
  void begin_point(const PointSpec&) override { points_++; }
  std::function<RequestSample()> prepare(int64_t index) override {
    prepared_++;
    return [this, index] {
      running_++;
      max_running_ = std::max(max_running_.load(), running_.load());
      const double e2e = index == 0 ? cold_ms_ : warm_ms_;
      std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(e2e));
      running_--;
      RequestSample s;
      s.queue_ms = 1, s.vision_ms = 2, s.prefill_ms = 3;
      s.ttft_ms = 0.4 * e2e;
      s.e2e_ms = e2e;
      s.output_tokens = 5;
      s.itl_ms = {1, 2, 3, 4};
      return s;
    };
  }
  int points_ = 0;
  std::atomic<int64_t> prepared_{0}, running_{0}, max_running_{0};

 private:
  double warm_ms_, cold_ms_;
};

TEST(RunPoint, KeepsTheColdCallApartAndCountsLoopsRepeatsAndConcurrency) {
  ScriptedBackend backend(2, 30);
  PointSpec spec;
  spec.label = "scripted";
  spec.concurrency = 4;
  Discipline d;
  d.loops = 2;
  d.repeats = 3;
  d.warmup = 1;
  const PointResult r = run_point(backend, spec, d, nullptr);
  EXPECT_EQ(backend.points_, 1);
  EXPECT_DOUBLE_EQ(r.cold.e2e_ms, 30);
  EXPECT_EQ(r.samples.size(), 2u * 3u * 4u);
  for (const auto& s : r.samples) EXPECT_DOUBLE_EQ(s.e2e_ms, 2);  // the cold call is not mixed in
  EXPECT_EQ(backend.prepared_, 1 + 4 + 24);                       // cold + warm-up + timed
  EXPECT_EQ(backend.max_running_, 4);
  EXPECT_EQ(r.timeit.loops, 2);
  ASSERT_EQ(r.timeit.repeat_seconds.size(), 3u);
  for (double s : r.timeit.repeat_seconds) EXPECT_GE(s, 2 * 2e-3);
  EXPECT_NEAR(r.requests_per_second(), 24 / r.measured_seconds, 1e-9);
  EXPECT_NEAR(r.tokens_per_second(), 5 * 24 / r.measured_seconds, 1e-9);
}

TEST(RunPoint, ChoosesLoopsLikeIPythonWhenNotGiven) {
  // 20 ms a batch: 1, 2, 5 (100 ms), 10 (200 ms >= 0.2 s; sleeps never end early, and 5 would
  // need 100 ms of oversleeping to be chosen).
  ScriptedBackend backend(20, 20);
  PointSpec spec;
  Discipline d;
  d.repeats = 1;
  d.warmup = 0;
  const PointResult r = run_point(backend, spec, d, nullptr);
  EXPECT_EQ(r.timeit.loops, 10);
  EXPECT_EQ(r.samples.size(), 10u);  // samples from the loop search are not kept
}

TEST(RunPoint, PoissonArrivalsFollowTheRequestedRate) {
  ScriptedBackend backend(1, 1);
  PointSpec spec;
  Discipline d;
  d.warmup = 0;
  d.request_rate = 200;
  d.duration_s = 0.5;
  const PointResult r = run_point(backend, spec, d, nullptr);
  EXPECT_TRUE(r.timeit.repeat_seconds.empty());
  EXPECT_NEAR(double(r.samples.size()), 100, 35);  // Poisson(100): within ~3.5 sigma
  EXPECT_NEAR(r.requests_per_second(), 200, 80);
  EXPECT_DOUBLE_EQ(r.offered_rate, 200);
}

TEST(RunPoint, RejectsNonsenseDisciplines) {
  ScriptedBackend backend(1, 1);
  PointSpec spec;
  Discipline d;
  d.repeats = 0;
  EXPECT_THROW(run_point(backend, spec, d, nullptr), Error);
  d.repeats = 1;
  d.loops = 0;
  EXPECT_THROW(run_point(backend, spec, d, nullptr), Error);
  spec.concurrency = 0;
  d.loops = 1;
  EXPECT_THROW(run_point(backend, spec, d, nullptr), Error);
}

TEST(Report, StagesAddUpAndNegativeRemaindersCount) {
  PointResult p;
  RequestSample s;
  s.preprocess_ms = 1, s.queue_ms = 2, s.vision_ms = 3, s.prefill_ms = 4;
  s.ttft_ms = 12;  // other = 2
  s.e2e_ms = 40;   // decode = 28
  s.output_tokens = 8;
  p.samples = {s};
  EXPECT_DOUBLE_EQ(s.other_ms(), 2);
  EXPECT_DOUBLE_EQ(*s.tpot_ms(), 4);
  EXPECT_NEAR(stage_sum_error(p), 0, 1e-12);
  p.samples[0].ttft_ms = 8;  // the engine claims 10 ms of a TTFT of 8: 2 ms over, 5 % of 40
  EXPECT_NEAR(stage_sum_error(p), 0.05, 1e-12);
}

TEST(Report, SlaMetricsInSecondsAndThroughput) {
  PointResult p;
  for (double ttft : {10.0, 20.0, 30.0, 40.0, 50.0}) {
    RequestSample s;
    s.ttft_ms = ttft;
    s.e2e_ms = ttft + 10;
    s.output_tokens = 3;
    s.itl_ms = {5, 5};
    p.samples.push_back(s);
  }
  p.measured_seconds = 2;
  EXPECT_NEAR(*sla_metric(p, "ttft_p50"), 0.030, 1e-12);
  EXPECT_NEAR(*sla_metric(p, "ttft_p90"), 0.046, 1e-12);
  EXPECT_NEAR(*sla_metric(p, "tpot_mean"), 0.005, 1e-12);
  EXPECT_NEAR(*sla_metric(p, "itl_max"), 0.005, 1e-12);
  EXPECT_DOUBLE_EQ(*sla_metric(p, "rps"), 2.5);
  EXPECT_DOUBLE_EQ(*sla_metric(p, "tok_s"), 7.5);
  EXPECT_FALSE(sla_metric(p, "ttft_p42"));
  EXPECT_FALSE(sla_metric(p, "bogus_p50"));
  EXPECT_FALSE(sla_metric(p, "rpm"));
}

TEST(Report, JsonKeepsRawSamplesAndTheTimeitWording) {
  PointResult p;
  p.spec.label = "512x512";
  p.spec.concurrency = 2;
  p.timeit.loops = 5;
  p.timeit.repeat_seconds = {0.5, 0.45, 0.55};
  RequestSample s;
  s.ttft_ms = 10, s.e2e_ms = 30, s.output_tokens = 3, s.itl_ms = {9, 11};
  p.samples = {s, s};
  p.measured_seconds = 1.5;
  RunInfo info;
  info.mode = "in-process";
  const auto j = report_json(info, {p});
  const auto& point = j["points"][0];
  EXPECT_EQ(point["samples"]["itl_ms"].size(), 4u);
  EXPECT_EQ(point["metrics"]["ttft_ms"]["count"], 2);
  EXPECT_EQ(point["timeit"]["line"],
            "100 ms \u00b1 8.16 ms per loop (mean \u00b1 std. dev. of 3 runs, 5 loops each)");
  EXPECT_EQ(point["timeit"]["best"], "best of 3: 90 ms per loop");
  const std::string text = terminal_report(info, {p});
  EXPECT_NE(text.find("best of 3: 90 ms per loop"), std::string::npos);
  EXPECT_NE(csv_report({p}).find("\"512x512\",0,0,2,itl_ms,4,9,10,1,"), std::string::npos);
}

}  // namespace
}  // namespace glimpse::bench
