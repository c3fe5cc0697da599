#include "bench/stats.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "core/error.h"

namespace glimpse::bench {

double percentile_sorted(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const double pos = q / 100.0 * double(sorted.size() - 1);
  const size_t lo = size_t(std::floor(pos));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - double(lo));
}

Summary summarize(std::vector<double> samples) {
  Summary s;
  s.count = samples.size();
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  s.min = samples.front();
  s.max = samples.back();
  s.mean = std::accumulate(samples.begin(), samples.end(), 0.0) / double(s.count);
  double var = 0;
  for (double x : samples) var += (x - s.mean) * (x - s.mean);
  s.stddev = std::sqrt(var / double(s.count));
  s.p50 = percentile_sorted(samples, 50);
  s.p90 = percentile_sorted(samples, 90);
  s.p95 = percentile_sorted(samples, 95);
  s.p99 = percentile_sorted(samples, 99);
  return s;
}

int64_t choose_loops(const std::function<double(int64_t)>& time_loops, double min_seconds) {
  for (int64_t scale = 1;; scale *= 10) {
    for (int64_t step : {1, 2, 5}) {
      const int64_t loops = step * scale;
      if (time_loops(loops) >= min_seconds || loops >= 1'000'000'000) return loops;
    }
  }
}

double TimeitResult::best_per_loop() const {
  GLIMPSE_ASSERT(!repeat_seconds.empty());
  return *std::min_element(repeat_seconds.begin(), repeat_seconds.end()) / double(loops);
}

double TimeitResult::worst_per_loop() const {
  GLIMPSE_ASSERT(!repeat_seconds.empty());
  return *std::max_element(repeat_seconds.begin(), repeat_seconds.end()) / double(loops);
}

double TimeitResult::mean_per_loop() const {
  GLIMPSE_ASSERT(!repeat_seconds.empty());
  return std::accumulate(repeat_seconds.begin(), repeat_seconds.end(), 0.0) /
         double(repeat_seconds.size()) / double(loops);
}

double TimeitResult::stddev_per_loop() const {
  const double mean = mean_per_loop();
  double var = 0;
  for (double r : repeat_seconds) var += (r / double(loops) - mean) * (r / double(loops) - mean);
  return std::sqrt(var / double(repeat_seconds.size()));
}

std::string format_duration(double seconds, int precision) {
  if (seconds >= 60.0) {  // IPython's human form: "1min 5s", "2h 3min 1s"
    static const std::pair<const char*, double> kParts[] = {
        {"d", 86400}, {"h", 3600}, {"min", 60}, {"s", 1}};
    std::string out;
    double left = seconds;
    for (const auto& [suffix, length] : kParts) {
      const auto value = int64_t(left / length);
      if (value > 0) {
        left = std::fmod(left, length);
        out += fmt::format("{}{}{}", out.empty() ? "" : " ", value, suffix);
      }
      if (left < 1) break;
    }
    return out;
  }
  static const char* kUnits[] = {"s", "ms", "\u00b5s", "ns"};
  int order = 3;
  if (seconds > 0) order = std::min(-int(std::floor(std::floor(std::log10(seconds)) / 3.0)), 3);
  order = std::max(order, 0);
  return fmt::format("{:.{}g} {}", seconds * std::pow(1000.0, order), precision, kUnits[order]);
}

std::string TimeitResult::ipython_line() const {
  const size_t runs = repeat_seconds.size();
  return fmt::format("{} \u00b1 {} per loop (mean \u00b1 std. dev. of {} run{}, {} loop{} each)",
                     format_duration(mean_per_loop()), format_duration(stddev_per_loop()), runs,
                     runs == 1 ? "" : "s", loops, loops == 1 ? "" : "s");
}

std::string TimeitResult::best_line() const {
  return fmt::format("best of {}: {} per loop", repeat_seconds.size(),
                     format_duration(best_per_loop()));
}

std::string TimeitResult::caching_warning() const {
  const double best = best_per_loop(), worst = worst_per_loop();
  if (best > 0 && worst > 4 * best && worst > 1e-6)
    return fmt::format(
        "The slowest run took {:.2f} times longer than the fastest. This could mean that an "
        "intermediate result is being cached.",
        worst / best);
  return "";
}

RatioInterval bootstrap_ratio(const std::vector<double>& a, const std::vector<double>& b,
                              double confidence, int resamples, uint64_t seed) {
  if (a.empty() || b.empty())
    fail(ErrorKind::kInvalidArgument, "bootstrap needs samples on both sides");
  auto mean = [](const std::vector<double>& v) {
    return std::accumulate(v.begin(), v.end(), 0.0) / double(v.size());
  };
  RatioInterval out;
  out.ratio = mean(b) / mean(a);
  std::mt19937_64 rng(seed);
  std::vector<double> ratios;
  ratios.reserve(size_t(resamples));
  auto resample_mean = [&](const std::vector<double>& v) {
    std::uniform_int_distribution<size_t> pick(0, v.size() - 1);
    double sum = 0;
    for (size_t i = 0; i < v.size(); ++i) sum += v[pick(rng)];
    return sum / double(v.size());
  };
  for (int i = 0; i < resamples; ++i) ratios.push_back(resample_mean(b) / resample_mean(a));
  std::sort(ratios.begin(), ratios.end());
  const double tail = (1.0 - confidence) / 2.0 * 100.0;
  out.low = percentile_sorted(ratios, tail);
  out.high = percentile_sorted(ratios, 100.0 - tail);
  return out;
}

}  // namespace glimpse::bench
