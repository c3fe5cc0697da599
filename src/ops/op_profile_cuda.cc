// OpTimer and op_profile_report (ops/dispatch.h): CUDA events around every dispatched CUDA op when
// GLIMPSE_PROFILE_OPS=1. Events are recorded on the calling thread's stream and read back only by
// the report, so profiling adds two event records per op and no host synchronisation.
#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#include "ops/dispatch.h"

namespace glimpse::ops {
namespace {

bool profiling() {
  static const bool on = [] {
    const char* value = std::getenv("GLIMPSE_PROFILE_OPS");
    return value != nullptr && std::strcmp(value, "0") != 0;
  }();
  return on;
}

// Rows of an op's first tensor, in buckets that separate decode, prefill and vision shapes.
const char* rows_bucket(int64_t rows) {
  return rows <= 1 ? "1" : rows <= 8 ? "2-8" : rows <= 64 ? "9-64" : rows <= 512 ? "65-512"
         : rows <= 4096 ? "513-4096" : ">4096";
}

struct Record {
  const char* op;
  const char* rows;
  cudaEvent_t start, stop;
};

struct Totals {
  int64_t calls = 0;
  double ms = 0;
};

struct Profile {
  std::mutex mutex;
  std::vector<Record> records;
  std::vector<cudaEvent_t> spare;
  std::map<std::pair<std::string, std::string>, Totals> totals;

  cudaEvent_t event() {
    if (spare.empty()) {
      cudaEvent_t e = nullptr;
      if (cudaEventCreate(&e) != cudaSuccess) return nullptr;
      return e;
    }
    cudaEvent_t e = spare.back();
    spare.pop_back();
    return e;
  }

  // Waits for the GPU and folds every finished record into the totals.
  void collect_locked() {
    if (records.empty()) return;
    cudaDeviceSynchronize();
    for (const Record& r : records) {
      float ms = 0;
      if (r.stop && cudaEventElapsedTime(&ms, r.start, r.stop) == cudaSuccess) {
        Totals& t = totals[{r.op, r.rows}];
        ++t.calls;
        t.ms += ms;
      }
      spare.push_back(r.start);
      if (r.stop) spare.push_back(r.stop);
    }
    records.clear();
    (void)cudaGetLastError();
  }
};

Profile& profile() {
  static auto* instance = new Profile();  // never destroyed: events outlive static teardown
  return *instance;
}

bool capturing() {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  return cudaStreamIsCapturing(cudaStreamPerThread, &status) != cudaSuccess ||
         status != cudaStreamCaptureStatusNone;
}

}  // namespace

OpTimer::OpTimer(const char* op, const Tensor& first) {
  if (!profiling() || capturing()) return;
  Profile& p = profile();
  std::lock_guard lock(p.mutex);
  const cudaEvent_t start = p.event();
  if (!start || cudaEventRecord(start, cudaStreamPerThread) != cudaSuccess) return;
  record_ = int64_t(p.records.size());
  p.records.push_back({op, rows_bucket(first.dim() > 0 ? first.size(0) : 1), start, nullptr});
}

OpTimer::~OpTimer() {
  if (record_ < 0) return;
  Profile& p = profile();
  std::lock_guard lock(p.mutex);
  if (size_t(record_) >= p.records.size()) return;  // the report collected in between
  const cudaEvent_t stop = p.event();
  if (stop && cudaEventRecord(stop, cudaStreamPerThread) == cudaSuccess)
    p.records[size_t(record_)].stop = stop;
}

std::string op_profile_report() {
  if (!profiling()) return {};
  Profile& p = profile();
  std::lock_guard lock(p.mutex);
  p.collect_locked();
  std::vector<std::tuple<double, std::string, std::string, int64_t>> rows;
  double total = 0;
  for (const auto& [key, t] : p.totals) {
    rows.emplace_back(t.ms, key.first, key.second, t.calls);
    total += t.ms;
  }
  std::sort(rows.rbegin(), rows.rend());
  std::string out = fmt::format("GPU time per op (GLIMPSE_PROFILE_OPS; nested ops count twice)\n"
                                "{:<24} {:>9} {:>8} {:>11} {:>9} {:>6}\n",
                                "op", "rows", "calls", "total ms", "mean us", "share");
  for (const auto& [ms, op, bucket, calls] : rows)
    out += fmt::format("{:<24} {:>9} {:>8} {:>11.3f} {:>9.1f} {:>5.1f}%\n", op, bucket, calls, ms,
                       1e3 * ms / double(calls), total > 0 ? 100 * ms / total : 0.0);
  return out;
}

}  // namespace glimpse::ops
