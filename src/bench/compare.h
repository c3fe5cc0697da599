// `glimpse bench compare A.json B.json`: for every point both runs measured (same image label and
// concurrency) and every latency metric, the ratio of means B / A with a bootstrap 95 % interval.
// An interval that contains 1 is reported as "within noise".
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/stats.h"

namespace glimpse::bench {

struct MetricComparison {
  std::string point;   // "512x512 @ 4"
  std::string metric;  // "ttft_ms", ..., "per_loop_s"
  size_t count_a = 0, count_b = 0;
  double mean_a = 0, mean_b = 0;
  RatioInterval ratio;
};

// Throws Error(kInvalidArgument) when a file is not a `glimpse bench --json` report or the two
// share no point.
std::vector<MetricComparison> compare_reports(const nlohmann::json& a, const nlohmann::json& b);
std::string comparison_table(const std::vector<MetricComparison>& rows, const std::string& name_a,
                             const std::string& name_b);

}  // namespace glimpse::bench
