#include "bench/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace glimpse::bench {
namespace {

using Json = nlohmann::ordered_json;

const std::vector<std::string> kStages = {"preprocess_ms", "queue_ms", "vision_ms",
                                          "prefill_ms",    "other_ms", "decode_ms"};

Json summary_json(const Summary& s) {
  return Json{{"count", s.count}, {"min", s.min}, {"mean", s.mean},
              {"std", s.stddev},  {"p50", s.p50}, {"p90", s.p90},
              {"p95", s.p95},     {"p99", s.p99}, {"max", s.max}};
}

Json sample_json(const RequestSample& s) {
  Json j{{"ttft_ms", s.ttft_ms},
         {"e2e_ms", s.e2e_ms},
         {"output_tokens", s.output_tokens},
         {"preprocess_ms", s.preprocess_ms},
         {"queue_ms", s.queue_ms},
         {"vision_ms", s.vision_ms},
         {"prefill_ms", s.prefill_ms},
         {"other_ms", s.other_ms()},
         {"decode_ms", s.decode_ms()}};
  const auto tpot = s.tpot_ms();
  j["tpot_ms"] = tpot ? Json(*tpot) : Json(nullptr);
  j["sent_at_s"] = s.sent_at_s;
  return j;
}

int64_t usage_mismatches(const PointResult& p) {
  return std::count_if(p.samples.begin(), p.samples.end(),
                       [](const RequestSample& s) { return !s.usage_matches; });
}

std::string mib(std::optional<int64_t> bytes) {
  return bytes ? fmt::format("{:.0f} MiB", double(*bytes) / (1 << 20)) : "n/a";
}

std::string ms(double value) {
  return format_duration(value / 1e3);
}

}  // namespace

const std::vector<std::string> kLatencyMetrics = {
    "ttft_ms",   "tpot_ms",    "itl_ms",   "e2e_ms",    "preprocess_ms", "queue_ms",
    "vision_ms", "prefill_ms", "other_ms", "decode_ms", "output_tokens"};

std::vector<double> metric_samples(const PointResult& point, const std::string& metric) {
  std::vector<double> out;
  for (const auto& s : point.samples) {
    if (metric == "itl_ms") {
      out.insert(out.end(), s.itl_ms.begin(), s.itl_ms.end());
    } else if (metric == "tpot_ms") {
      if (auto t = s.tpot_ms()) out.push_back(*t);
    } else {
      out.push_back(sample_json(s).at(metric).get<double>());
    }
  }
  return out;
}

double stage_sum_error(const PointResult& point) {
  double worst = 0;
  for (const auto& s : point.samples) {
    const Json j = sample_json(s);
    double sum = 0;
    for (const auto& stage : kStages) sum += j.at(stage).get<double>();
    // `other` is the remainder of TTFT, so it can only go negative when the engine's stages claim
    // more time than the request took: count that as the error.
    const double over = std::max(0.0, -s.other_ms());
    if (s.e2e_ms > 0) worst = std::max(worst, (std::abs(sum - s.e2e_ms) + over) / s.e2e_ms);
  }
  return worst;
}

std::optional<double> sla_metric(const PointResult& point, const std::string& name) {
  if (name == "rps") return point.requests_per_second();
  if (name == "tok_s") return point.tokens_per_second();
  const size_t cut = name.rfind('_');
  if (cut == std::string::npos) return std::nullopt;
  const std::string metric = name.substr(0, cut) + "_ms", stat = name.substr(cut + 1);
  if (std::find(kLatencyMetrics.begin(), kLatencyMetrics.end(), metric) == kLatencyMetrics.end())
    return std::nullopt;
  const Json s = summary_json(summarize(metric_samples(point, metric)));
  if (!s.contains(stat) || stat == "count" || s["count"].get<size_t>() == 0) return std::nullopt;
  return s[stat].get<double>() / 1e3;  // SLA durations are in seconds
}

Json report_json(const RunInfo& info, const std::vector<PointResult>& points) {
  Json run{{"mode", info.mode},
           {"target", info.target},
           {"command", info.command},
           {"date", info.date},
           {"machine", info.machine},
           {"timer_overhead_ns", info.timer_overhead_ns},
           {"load_ms", info.load_ms ? Json(*info.load_ms) : Json(nullptr)},
           {"peak_gpu_mib", info.peak_gpu_mib ? Json(*info.peak_gpu_mib) : Json(nullptr)},
           {"reserved_gpu_mib",
            info.reserved_gpu_mib ? Json(*info.reserved_gpu_mib) : Json(nullptr)},
           {"settings", info.settings}};
  Json list = Json::array();
  for (const auto& p : points) {
    Json point{{"label", p.spec.label},
               {"width", p.spec.width},
               {"height", p.spec.height},
               {"concurrency", p.spec.concurrency},
               {"requests", p.samples.size()},
               {"measured_seconds", p.measured_seconds},
               {"rps", p.requests_per_second()},
               {"tokens_per_s", p.tokens_per_second()},
               {"offered_rate", p.offered_rate},
               {"peak_rss_bytes", p.peak_rss_bytes ? Json(*p.peak_rss_bytes) : Json(nullptr)},
               {"stage_sum_error", stage_sum_error(p)},
               {"usage_mismatches", usage_mismatches(p)},
               {"cold", sample_json(p.cold)}};
    if (!p.timeit.repeat_seconds.empty())
      point["timeit"] = Json{{"loops", p.timeit.loops},
                             {"repeats", p.timeit.repeat_seconds.size()},
                             {"repeat_seconds", p.timeit.repeat_seconds},
                             {"mean_per_loop_s", p.timeit.mean_per_loop()},
                             {"std_per_loop_s", p.timeit.stddev_per_loop()},
                             {"best_per_loop_s", p.timeit.best_per_loop()},
                             {"line", p.timeit.ipython_line()},
                             {"best", p.timeit.best_line()},
                             {"warning", p.timeit.caching_warning()}};
    Json metrics = Json::object(), samples = Json::object();
    for (const auto& m : kLatencyMetrics) {
      auto values = metric_samples(p, m);
      metrics[m] = summary_json(summarize(values));
      samples[m] = std::move(values);
    }
    std::vector<double> sent_at;
    for (const auto& s : p.samples) sent_at.push_back(s.sent_at_s);
    samples["sent_at_s"] = std::move(sent_at);
    point["metrics"] = std::move(metrics);
    point["samples"] = std::move(samples);
    list.push_back(std::move(point));
  }
  return Json{{"glimpse_bench", 1}, {"run", std::move(run)}, {"points", std::move(list)}};
}

namespace {

// "GPU memory peak 20812 MiB (reserved 21004 MiB)" after `separator`, or nothing.
std::string gpu_memory_line(const RunInfo& info, const char* separator) {
  if (!info.peak_gpu_mib) return "";
  return fmt::format("{}GPU memory peak {:.0f} MiB (reserved {:.0f} MiB)", separator,
                     *info.peak_gpu_mib, info.reserved_gpu_mib.value_or(0));
}

}  // namespace

std::string terminal_report(const RunInfo& info, const std::vector<PointResult>& points) {
  std::string out =
      fmt::format("glimpse bench ({}: {}) | timer overhead {:.0f} ns{}{}\n", info.mode, info.target,
                  info.timer_overhead_ns,
                  info.load_ms ? fmt::format(" | model load {}", ms(*info.load_ms)) : "",
                  gpu_memory_line(info, " | "));
  for (const auto& p : points) {
    out += fmt::format(
        "\n{} @ concurrency {}: {} requests in {}, {:.2f} req/s, {:.1f} tok/s, peak RSS {}\n",
        p.spec.label, p.spec.concurrency, p.samples.size(), format_duration(p.measured_seconds),
        p.requests_per_second(), p.tokens_per_second(), mib(p.peak_rss_bytes));
    out += fmt::format("  cold first call: TTFT {}, end-to-end {} ({} tokens)\n",
                       ms(p.cold.ttft_ms), ms(p.cold.e2e_ms), p.cold.output_tokens);
    if (!p.timeit.repeat_seconds.empty()) {
      out += "  " + p.timeit.ipython_line() + "\n  " + p.timeit.best_line() + "\n";
      if (auto w = p.timeit.caching_warning(); !w.empty()) out += "  " + w + "\n";
    } else {
      out += fmt::format("  Poisson arrivals at {:.2f} req/s offered\n", p.offered_rate);
    }
    out += fmt::format("  {:<14}{:>6}{:>11}{:>11}{:>11}{:>11}{:>11}{:>11}{:>11}\n", "metric", "n",
                       "min", "mean", "std", "p50", "p90", "p95", "p99");
    for (const auto& m : kLatencyMetrics) {
      const Summary s = summarize(metric_samples(p, m));
      if (s.count == 0) continue;
      if (m == "output_tokens") {
        out += fmt::format(
            "  {:<14}{:>6}{:>11.0f}{:>11.1f}{:>11.1f}{:>11.0f}{:>11.0f}{:>11.0f}{:>11.0f}\n", m,
            s.count, s.min, s.mean, s.stddev, s.p50, s.p90, s.p95, s.p99);
        continue;
      }
      out += fmt::format("  {:<14}{:>6}{:>11}{:>11}{:>11}{:>11}{:>11}{:>11}{:>11}\n", m, s.count,
                         ms(s.min), ms(s.mean), ms(s.stddev), ms(s.p50), ms(s.p90), ms(s.p95),
                         ms(s.p99));
    }
    const int64_t mismatches = usage_mismatches(p);
    if (mismatches > 0)
      out += fmt::format(
          "  {} requests: the server's usage count is missing or below the chunks received\n",
          mismatches);
    out += fmt::format("  stages add up to end-to-end within {:.2f} %\n", stage_sum_error(p) * 100);
  }
  return out;
}

std::string markdown_report(const RunInfo& info, const std::vector<PointResult>& points) {
  std::string out = fmt::format(
      "# glimpse bench: {} ({})\n\n- date: {}\n- machine: {}\n- command: `{}`\n- timer overhead: "
      "{:.0f} ns{}{}\n\n",
      info.target, info.mode, info.date, info.machine, info.command, info.timer_overhead_ns,
      info.load_ms ? fmt::format("\n- model load: {}", ms(*info.load_ms)) : "",
      gpu_memory_line(info, "\n- "));
  out +=
      "| image | conc. | n | TTFT p50 | TTFT p90 | TPOT p50 | ITL p50 | ITL p99 | e2e p50 | e2e "
      "p90 "
      "| req/s | tok/s | peak RSS | cold TTFT "
      "|\n|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n";
  for (const auto& p : points) {
    auto s = [&](const char* m) { return summarize(metric_samples(p, m)); };
    const Summary ttft = s("ttft_ms"), tpot = s("tpot_ms"), itl = s("itl_ms"), e2e = s("e2e_ms");
    out += fmt::format(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2f} | {:.1f} | {} | {} |\n",
        p.spec.label, p.spec.concurrency, p.samples.size(), ms(ttft.p50), ms(ttft.p90),
        tpot.count ? ms(tpot.p50) : "n/a", itl.count ? ms(itl.p50) : "n/a",
        itl.count ? ms(itl.p99) : "n/a", ms(e2e.p50), ms(e2e.p90), p.requests_per_second(),
        p.tokens_per_second(), mib(p.peak_rss_bytes), ms(p.cold.ttft_ms));
  }
  out += "\nMean stage times (they add up to end-to-end):\n\n| image | conc. |";
  for (const auto& st : kStages) out += " " + st.substr(0, st.size() - 3) + " |";
  out += " e2e | timeit |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|---|\n";
  for (const auto& p : points) {
    out += fmt::format("| {} | {} |", p.spec.label, p.spec.concurrency);
    for (const auto& st : kStages) out += " " + ms(summarize(metric_samples(p, st)).mean) + " |";
    out += fmt::format(" {} | {} |\n", ms(summarize(metric_samples(p, "e2e_ms")).mean),
                       p.timeit.repeat_seconds.empty()
                           ? "Poisson arrivals"
                           : p.timeit.ipython_line() + "; " + p.timeit.best_line());
  }
  return out;
}

std::string csv_report(const std::vector<PointResult>& points) {
  std::string out =
      "image,width,height,concurrency,metric,count,min,mean,std,p50,p90,p95,p99,max,rps,tokens_per_"
      "s\n";
  for (const auto& p : points)
    for (const auto& m : kLatencyMetrics) {
      const Summary s = summarize(metric_samples(p, m));
      out += fmt::format("\"{}\",{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n", p.spec.label,
                         p.spec.width, p.spec.height, p.spec.concurrency, m, s.count, s.min, s.mean,
                         s.stddev, s.p50, s.p90, s.p95, s.p99, s.max, p.requests_per_second(),
                         p.tokens_per_second());
    }
  return out;
}

}  // namespace glimpse::bench
