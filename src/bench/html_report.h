// `glimpse bench --html FILE`: one self-contained offline page (inline SVG and CSS, nothing
// fetched) with the summary table, a latency histogram per point, TTFT and throughput against
// concurrency, and latency against image resolution.
#pragma once

#include <string>
#include <vector>

#include "bench/report.h"

namespace glimpse::bench {

std::string html_report(const RunInfo& info, const std::vector<PointResult>& points);

}  // namespace glimpse::bench
