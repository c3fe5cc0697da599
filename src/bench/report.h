// What a `glimpse bench` run found, in every output form: the terminal table (IPython's wording
// for the timeit lines), JSON (with the raw samples, so `bench compare` can bootstrap), CSV,
// Markdown, and the SLA metric names.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/runner.h"
#include "bench/stats.h"

namespace glimpse::bench {

struct RunInfo {
  std::string mode;     // "in-process" or "http"
  std::string target;   // model directory or URL
  std::string command;  // the command line
  std::string date;     // UTC, ISO 8601
  std::string machine;  // CPU model, cores
  double timer_overhead_ns = 0;
  std::optional<double> load_ms;  // in-process: model load (never inside any loop)
  // In-process on a GPU: the allocator's high-water mark over the whole run (weights, KV pool,
  // activations, caches), and what it had reserved from the driver at the end.
  std::optional<double> peak_gpu_mib, reserved_gpu_mib;
  nlohmann::json settings;        // prompt, max tokens, cache mode, ...
};

// Per-request metrics by name, in milliseconds (output_tokens in tokens). TPOT leaves out
// single-token answers; ITL pools every gap of every request.
std::vector<double> metric_samples(const PointResult& point, const std::string& metric);
extern const std::vector<std::string> kLatencyMetrics;  // ttft_ms, tpot_ms, itl_ms, e2e_ms, ...

// Largest |sum of stages - e2e| / e2e over the point's requests (stages: preprocess, queue,
// vision, prefill, other, decode).
double stage_sum_error(const PointResult& point);

// SLA lookup for one point: "<metric>_<stat>" (ttft, tpot, itl, e2e, preprocess, vision, prefill,
// queue, decode; stat p50/p90/p95/p99/mean/min/max) in seconds, plus rps and tok_s.
std::optional<double> sla_metric(const PointResult& point, const std::string& name);

nlohmann::ordered_json report_json(const RunInfo& info, const std::vector<PointResult>& points);
std::string terminal_report(const RunInfo& info, const std::vector<PointResult>& points);
std::string markdown_report(const RunInfo& info, const std::vector<PointResult>& points);
std::string csv_report(const std::vector<PointResult>& points);

}  // namespace glimpse::bench
