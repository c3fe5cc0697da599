// The statistics behind `glimpse bench` and the notebook magic: %timeit's loop/repeat discipline,
// its wording, and summaries of latency samples.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace glimpse::bench {

struct Summary {
  size_t count = 0;
  double min = 0, max = 0, mean = 0, stddev = 0;  // population std. dev., as IPython reports
  double p50 = 0, p90 = 0, p95 = 0, p99 = 0;      // linear interpolation between order statistics
};

Summary summarize(std::vector<double> samples);
// The q-th percentile (0..100) of sorted samples, interpolated like numpy's default ("linear").
double percentile_sorted(const std::vector<double>& sorted, double q);

// Loops per repeat as IPython chooses them when -n is omitted: 1, 2, 5, 10, 20, 50, ... until one
// repeat of `loops` calls takes at least `min_seconds`. `time_loops(n)` runs n calls, returns
// seconds.
int64_t choose_loops(const std::function<double(int64_t)>& time_loops, double min_seconds = 0.2);

// One %timeit result: per-repeat totals (seconds) of `loops` calls each.
struct TimeitResult {
  int64_t loops = 1;
  std::vector<double> repeat_seconds;

  double best_per_loop() const;
  double worst_per_loop() const;
  double mean_per_loop() const;
  double stddev_per_loop() const;
  // "87.4 ms ± 1.2 ms per loop (mean ± std. dev. of 3 runs, 5 loops each)"
  std::string ipython_line() const;
  // "best of 3: 85.9 ms per loop"
  std::string best_line() const;
  // IPython's caching warning when the slowest repeat took ≥ 4× the fastest, else "".
  std::string caching_warning() const;
};

// IPython's _format_time: 3 significant digits in s, ms, µs or ns ("87.4 ms", "1.23 s").
std::string format_duration(double seconds, int precision = 3);

// Bootstrap confidence interval for mean(b) / mean(a) (resampling both sides).
struct RatioInterval {
  double ratio = 0, low = 0, high = 0;
  bool within_noise() const { return low <= 1.0 && 1.0 <= high; }
};
RatioInterval bootstrap_ratio(const std::vector<double>& a, const std::vector<double>& b,
                              double confidence = 0.95, int resamples = 10000, uint64_t seed = 1);

}  // namespace glimpse::bench
