// `glimpse bench --url http://host:port`: streaming OpenAI chat completions against a running
// server. TTFT is request sent -> first content chunk received; inter-token gaps are between
// content chunks; the server's usage chunk (stream_options.include_usage) gives the token count,
// which is checked against the chunks that arrived, and its `timings` give the stage breakdown.
#pragma once

#include <cstdint>
#include <string>

#include "bench/inprocess_backend.h"
#include "bench/runner.h"

namespace glimpse::bench {

class HttpBackend : public Backend {
 public:
  HttpBackend(std::string url, RequestShape shape);

  void begin_point(const PointSpec& point) override;
  std::function<RequestSample()> prepare(int64_t index) override;

 private:
  std::string body_for(int64_t index) const;

  std::string url_;
  RequestShape shape_;
  PointSpec point_;
  std::string warm_body_;  // the same request every time when caches may stay warm
  uint64_t run_nonce_;     // cold: makes this run's requests unlike any earlier run's
  int64_t cold_requests_ = 0;
};

}  // namespace glimpse::bench
