#include "server/metrics.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace glimpse::server {
namespace {

TEST(Metrics, RendersPrometheusTextFormat) {
  Metrics m;
  m.declare_counter("glimpse_requests_total", "Requests by status.");
  m.declare_gauge("glimpse_running_requests", "Requests being generated.");
  m.declare_histogram("glimpse_ttft_seconds", "Time to first token.", {0.1, 0.5, 1});
  m.add("glimpse_requests_total", 1, {{"status", "200"}});
  m.add("glimpse_requests_total", 2, {{"status", "200"}});
  m.add("glimpse_requests_total", 1, {{"status", "429"}});
  m.set("glimpse_running_requests", 3);
  for (double v : {0.05, 0.2, 0.3, 2.0}) m.observe("glimpse_ttft_seconds", v);
  const std::string text = m.render();
  EXPECT_NE(text.find("# TYPE glimpse_requests_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("glimpse_requests_total{status=\"200\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("glimpse_requests_total{status=\"429\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("glimpse_running_requests 3\n"), std::string::npos);
  EXPECT_NE(text.find("glimpse_ttft_seconds_bucket{le=\"0.1\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("glimpse_ttft_seconds_bucket{le=\"0.5\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("glimpse_ttft_seconds_bucket{le=\"1\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("glimpse_ttft_seconds_bucket{le=\"+Inf\"} 4\n"), std::string::npos);
  EXPECT_NE(text.find("glimpse_ttft_seconds_count 4\n"), std::string::npos);
  EXPECT_EQ(m.value("glimpse_requests_total", {{"status", "200"}}), 3);
  EXPECT_EQ(m.count("glimpse_ttft_seconds"), 4u);
}

TEST(Metrics, DeclaredMetricsShowAtZeroAndUndeclaredUseIsABug) {
  Metrics m;
  m.declare_counter("glimpse_generated_tokens_total", "Tokens generated.");
  EXPECT_NE(m.render().find("glimpse_generated_tokens_total 0\n"), std::string::npos);
  EXPECT_THROW(m.add("glimpse_nope"), Error);
  m.declare_histogram("glimpse_latency_seconds", "Latency.", {1});
  EXPECT_THROW(m.set("glimpse_latency_seconds", 1), Error);
  EXPECT_THROW(m.observe("glimpse_generated_tokens_total", 1), Error);
}

}  // namespace
}  // namespace glimpse::server
