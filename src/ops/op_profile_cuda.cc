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
  const char* stage;
  const char* op;
  const char* rows;
  cudaEvent_t start, stop;
};

using GroupKey = std::tuple<std::string, std::string, std::string>;  // stage, op, rows

struct Profile {
  std::mutex mutex;
  std::vector<Record> records;
  std::vector<cudaEvent_t> spare;
  std::map<GroupKey, std::vector<float>> times;  // ms of each call

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

  // Waits for the GPU and files every finished record under its group.
  void collect_locked() {
    if (records.empty()) return;
    cudaDeviceSynchronize();
    for (const Record& r : records) {
      float ms = 0;
      if (r.stop && cudaEventElapsedTime(&ms, r.start, r.stop) == cudaSuccess)
        times[{r.stage, r.op, r.rows}].push_back(ms);
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
  p.records.push_back(
      {op_profile_stage(), op, rows_bucket(first.dim() > 0 ? first.size(0) : 1), start, nullptr});
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
  struct Row {
    double ms;
    std::string stage, op, bucket;
    size_t calls;
    double median_ms;
  };
  std::vector<Row> rows;
  double total = 0;
  for (auto& [key, times] : p.times) {
    double ms = 0;
    for (const float t : times) ms += t;
    std::nth_element(times.begin(), times.begin() + ptrdiff_t(times.size() / 2), times.end());
    rows.push_back({ms, std::get<0>(key), std::get<1>(key), std::get<2>(key), times.size(),
                    times[times.size() / 2]});
    total += ms;
  }
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.ms > b.ms; });
  std::string out = fmt::format("GPU time per op (GLIMPSE_PROFILE_OPS; nested ops count twice)\n"
                                "{:<7} {:<22} {:>9} {:>7} {:>10} {:>9} {:>10} {:>6}\n", "stage",
                                "op", "rows", "calls", "total ms", "mean us", "median us",
                                "share");
  for (const Row& r : rows)
    out += fmt::format("{:<7} {:<22} {:>9} {:>7} {:>10.3f} {:>9.1f} {:>10.1f} {:>5.1f}%\n",
                       r.stage, r.op, r.bucket, r.calls, r.ms, 1e3 * r.ms / double(r.calls),
                       1e3 * r.median_ms, total > 0 ? 100 * r.ms / total : 0.0);
  return out;
}

}  // namespace glimpse::ops
