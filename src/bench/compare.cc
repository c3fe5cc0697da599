#include "bench/compare.h"

#include <fmt/format.h>

#include <numeric>

#include "core/error.h"

namespace glimpse::bench {
namespace {

using Json = nlohmann::json;

const Json& points_of(const Json& report, const char* side) {
  if (!report.is_object() || !report.contains("glimpse_bench") || !report.contains("points") ||
      !report["points"].is_array())
    fail(ErrorKind::kInvalidArgument, "compare: {} is not a `glimpse bench --json` report", side);
  return report["points"];
}

std::string point_key(const Json& p) {
  return fmt::format("{} @ {}", p.at("label").get<std::string>(),
                     p.at("concurrency").get<int64_t>());
}

std::vector<double> per_loop_seconds(const Json& p) {
  std::vector<double> out;
  if (!p.contains("timeit")) return out;
  const double loops = p["timeit"].at("loops").get<double>();
  for (double r : p["timeit"].at("repeat_seconds").get<std::vector<double>>())
    out.push_back(r / loops);
  return out;
}

double mean(const std::vector<double>& v) {
  return std::accumulate(v.begin(), v.end(), 0.0) / double(v.size());
}

}  // namespace

std::vector<MetricComparison> compare_reports(const Json& a, const Json& b) {
  const Json& pa = points_of(a, "the first file");
  const Json& pb = points_of(b, "the second file");
  std::vector<MetricComparison> rows;
  for (const auto& x : pa)
    for (const auto& y : pb) {
      if (point_key(x) != point_key(y)) continue;
      auto add = [&](const std::string& metric, const std::vector<double>& va,
                     const std::vector<double>& vb) {
        if (va.empty() || vb.empty()) return;
        rows.push_back({point_key(x), metric, va.size(), vb.size(), mean(va), mean(vb),
                        bootstrap_ratio(va, vb)});
      };
      for (const char* metric : {"ttft_ms", "tpot_ms", "itl_ms", "e2e_ms"})
        add(metric, x.at("samples").at(metric).get<std::vector<double>>(),
            y.at("samples").at(metric).get<std::vector<double>>());
      add("per_loop_s", per_loop_seconds(x), per_loop_seconds(y));
    }
  if (rows.empty())
    fail(ErrorKind::kInvalidArgument,
         "compare: the two reports share no point (same image label and concurrency)");
  return rows;
}

std::string comparison_table(const std::vector<MetricComparison>& rows, const std::string& name_a,
                             const std::string& name_b) {
  std::string out = fmt::format("A = {}\nB = {}\nratio = mean(B) / mean(A), bootstrap 95 % CI\n\n",
                                name_a, name_b);
  out += fmt::format("{:<22}{:<12}{:>12}{:>12}{:>9}{:>22}  {}\n", "point", "metric", "mean A",
                     "mean B", "ratio", "95 % CI", "verdict");
  for (const auto& r : rows) {
    const double scale = r.metric == "per_loop_s" ? 1.0 : 1e-3;
    const std::string verdict =
        r.ratio.within_noise() ? "within noise" : (r.ratio.ratio < 1 ? "B faster" : "B slower");
    out += fmt::format("{:<22}{:<12}{:>12}{:>12}{:>9.3f}{:>22}  {}\n", r.point, r.metric,
                       format_duration(r.mean_a * scale), format_duration(r.mean_b * scale),
                       r.ratio.ratio, fmt::format("[{:.3f}, {:.3f}]", r.ratio.low, r.ratio.high),
                       verdict);
  }
  return out;
}

}  // namespace glimpse::bench
