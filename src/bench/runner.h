// The %timeit discipline for whole requests: a cold first call kept apart, warm-up calls thrown
// away, then `repeats` runs of `loops` batches (a batch = `concurrency` requests sent together),
// or Poisson arrivals at a fixed rate. Backends (in-process engine, HTTP server) only run one
// request and report what they saw; everything here is shared between them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bench/stats.h"

namespace glimpse::bench {

// One request as the benchmark saw it. Times are milliseconds on the steady clock, from the moment
// the request was handed to the engine (or the HTTP request was sent).
struct RequestSample {
  double preprocess_ms = 0;  // prompt + image preparation (0 unless it is part of the request)
  double queue_ms = 0, vision_ms = 0, prefill_ms = 0;  // as the engine reports them
  double ttft_ms = 0;                                  // start -> first generated token received
  double e2e_ms = 0;                                   // start -> last token received
  int64_t output_tokens = 0;
  std::vector<double> itl_ms;  // gaps between consecutive tokens (HTTP: content chunks) received
  // HTTP: the server's usage count is consistent with the chunks that arrived (never fewer
  // tokens than chunks; more tokens when text was held back and sent with a later token).
  bool usage_matches = true;
  double sent_at_s = 0;  // steady-clock reading when sent, to line requests up with server logs
  double other_ms() const { return ttft_ms - preprocess_ms - queue_ms - vision_ms - prefill_ms; }
  double decode_ms() const { return e2e_ms - ttft_ms; }
  // Mean time per output token after the first; nullopt for single-token answers.
  std::optional<double> tpot_ms() const;
};

// One measured configuration: an image at one concurrency.
struct PointSpec {
  std::string label;  // "512x512" or the image file name
  int32_t width = 0, height = 0;
  std::vector<uint8_t> image;  // encoded bytes (PNG for synthetic images)
  std::string mime = "image/png";
  bool synthetic = false;  // cold runs make a unique variant per request
  int64_t concurrency = 1;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Called before each point: e.g. a fresh engine scheduler, so caches start empty.
  virtual void begin_point(const PointSpec& point) = 0;
  // Builds request number `index` of the point outside any timed region and returns the call that
  // sends it. The call blocks until the answer is complete; several may run at once.
  virtual std::function<RequestSample()> prepare(int64_t index) = 0;
};

struct Discipline {
  std::optional<int64_t> loops;  // -n; nullopt: chosen like IPython (>= 0.2 s per repeat)
  int64_t repeats = 3;           // -r
  int64_t warmup = 1;
  double request_rate = 0;  // > 0: Poisson arrivals for `duration_s` instead of loops
  double duration_s = 10;
  uint64_t seed = 1;  // Poisson arrival times
};

struct PointResult {
  PointSpec spec;  // image bytes dropped after the run
  RequestSample cold;
  TimeitResult timeit;                 // per loop = one batch; empty repeats under Poisson arrivals
  std::vector<RequestSample> samples;  // every timed request (warm-up and cold excluded)
  double measured_seconds = 0;         // wall time of the timed requests
  double offered_rate = 0;             // Poisson runs: the requested arrival rate
  std::optional<int64_t> peak_rss_bytes;
  double requests_per_second() const;
  double tokens_per_second() const;
};

// Progress on stderr ("\r[#####     ] 12/40 requests"), only when stderr is a terminal.
using Progress = std::function<void(int64_t done, int64_t total)>;

PointResult run_point(Backend& backend, PointSpec spec, const Discipline& discipline,
                      const Progress& progress);

// Smallest cost of one steady_clock::now() reading, in nanoseconds (median of minima over
// blocks of back-to-back readings).
double timer_overhead_ns();

// Peak resident set size of this process since the last reset (Linux: VmHWM); nullopt elsewhere.
std::optional<int64_t> peak_rss_bytes();
void reset_peak_rss();

}  // namespace glimpse::bench
