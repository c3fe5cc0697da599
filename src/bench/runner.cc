#include "bench/runner.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <random>
#include <string>
#include <thread>

#include "core/error.h"

namespace glimpse::bench {
namespace {

using Clock = std::chrono::steady_clock;
using Call = std::function<RequestSample()>;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::vector<Call> prepare_batch(Backend& backend, int64_t size, int64_t& next_index) {
  std::vector<Call> calls;
  for (int64_t i = 0; i < size; ++i) calls.push_back(backend.prepare(next_index++));
  return calls;
}

// Sends every call at once (one thread each) and returns the batch's wall time in seconds.
double run_batch(const std::vector<Call>& calls, std::vector<RequestSample>& out) {
  std::vector<RequestSample> samples(calls.size());
  const auto start = Clock::now();
  if (calls.size() == 1) {
    samples[0] = calls[0]();
  } else {
    std::vector<std::thread> threads;
    std::vector<std::exception_ptr> errors(calls.size());
    for (size_t i = 0; i < calls.size(); ++i)
      threads.emplace_back([&, i] {
        try {
          samples[i] = calls[i]();
        } catch (...) {
          errors[i] = std::current_exception();
        }
      });
    for (auto& t : threads) t.join();
    for (auto& e : errors)
      if (e) std::rethrow_exception(e);
  }
  const double seconds = seconds_since(start);
  out.insert(out.end(), samples.begin(), samples.end());
  return seconds;
}

void run_poisson(Backend& backend, const Discipline& d, int64_t& next_index, PointResult& result,
                 const Progress& progress) {
  std::mt19937_64 rng(d.seed);
  std::exponential_distribution<double> gap(d.request_rate);
  std::vector<double> arrivals;
  for (double t = gap(rng); t < d.duration_s; t += gap(rng)) arrivals.push_back(t);
  if (arrivals.empty())
    fail(ErrorKind::kInvalidArgument,
         "--request-rate {} over --duration {} s draws no arrivals; raise either", d.request_rate,
         d.duration_s);
  const std::vector<Call> calls = prepare_batch(backend, int64_t(arrivals.size()), next_index);
  std::vector<RequestSample> samples(calls.size());
  std::vector<std::exception_ptr> errors(calls.size());
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  for (size_t i = 0; i < calls.size(); ++i) {
    std::this_thread::sleep_until(start + std::chrono::duration_cast<Clock::duration>(
                                              std::chrono::duration<double>(arrivals[i])));
    threads.emplace_back([&, i] {
      try {
        samples[i] = calls[i]();
      } catch (...) {
        errors[i] = std::current_exception();
      }
    });
    if (progress) progress(int64_t(i + 1), int64_t(calls.size()));
  }
  for (auto& t : threads) t.join();
  result.measured_seconds = seconds_since(start);
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  result.samples = std::move(samples);
  result.offered_rate = d.request_rate;
}

}  // namespace

std::optional<double> RequestSample::tpot_ms() const {
  if (output_tokens < 2) return std::nullopt;
  return decode_ms() / double(output_tokens - 1);
}

double PointResult::requests_per_second() const {
  return measured_seconds > 0 ? double(samples.size()) / measured_seconds : 0;
}

double PointResult::tokens_per_second() const {
  int64_t tokens = 0;
  for (const auto& s : samples) tokens += s.output_tokens;
  return measured_seconds > 0 ? double(tokens) / measured_seconds : 0;
}

PointResult run_point(Backend& backend, PointSpec spec, const Discipline& d,
                      const Progress& progress) {
  if (spec.concurrency < 1)
    fail(ErrorKind::kInvalidArgument, "concurrency {} must be at least 1", spec.concurrency);
  if (d.repeats < 1) fail(ErrorKind::kInvalidArgument, "-r {} must be at least 1", d.repeats);
  if (d.loops && *d.loops < 1)
    fail(ErrorKind::kInvalidArgument, "-n {} must be at least 1", *d.loops);
  backend.begin_point(spec);
  reset_peak_rss();
  PointResult result;
  int64_t next_index = 0;

  std::vector<RequestSample> discarded;
  run_batch(prepare_batch(backend, 1, next_index), discarded);  // the cold first call
  result.cold = discarded.front();
  for (int64_t i = 0; i < d.warmup; ++i)
    run_batch(prepare_batch(backend, spec.concurrency, next_index), discarded);

  if (d.request_rate > 0) {
    run_poisson(backend, d, next_index, result, progress);
  } else {
    auto time_loops = [&](int64_t loops, std::vector<RequestSample>& out, int64_t done_before,
                          int64_t total) {
      double seconds = 0;
      for (int64_t l = 0; l < loops; ++l) {
        seconds += run_batch(prepare_batch(backend, spec.concurrency, next_index), out);
        if (progress && total > 0) progress(done_before + (l + 1) * spec.concurrency, total);
      }
      return seconds;
    };
    result.timeit.loops = d.loops ? *d.loops : choose_loops([&](int64_t loops) {
      std::vector<RequestSample> thrown_away;
      return time_loops(loops, thrown_away, 0, 0);
    });
    const int64_t total = result.timeit.loops * d.repeats * spec.concurrency;
    for (int64_t r = 0; r < d.repeats; ++r) {
      const double seconds = time_loops(result.timeit.loops, result.samples,
                                        r * result.timeit.loops * spec.concurrency, total);
      result.timeit.repeat_seconds.push_back(seconds);
      result.measured_seconds += seconds;
    }
  }
  result.peak_rss_bytes = peak_rss_bytes();
  spec.image.clear();
  spec.image.shrink_to_fit();
  result.spec = std::move(spec);
  return result;
}

double timer_overhead_ns() {
  std::vector<double> minima;
  for (int block = 0; block < 21; ++block) {
    double best = 1e18;
    for (int i = 0; i < 1000; ++i) {
      const auto a = Clock::now();
      const auto b = Clock::now();
      best = std::min(best, std::chrono::duration<double, std::nano>(b - a).count());
    }
    minima.push_back(best);
  }
  std::sort(minima.begin(), minima.end());
  return minima[minima.size() / 2];
}

std::optional<int64_t> peak_rss_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return int64_t(std::stoll(line.substr(6))) * 1024;  // kB
  return std::nullopt;
}

void reset_peak_rss() {
  // Linux: writing 5 to clear_refs resets VmHWM to the current RSS, so each point's peak is its
  // own.
  std::ofstream("/proc/self/clear_refs") << "5";
}

}  // namespace glimpse::bench
