// Prometheus text-format metrics (exposition format 0.0.4): counters, gauges and histograms,
// thread-safe, rendered for GET /metrics.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace glimpse::server {

class Metrics {
 public:
  using Labels = std::map<std::string, std::string>;

  // Declares a metric before first use, so /metrics lists it (with HELP and TYPE) even at zero.
  void declare_counter(const std::string& name, const std::string& help);
  void declare_gauge(const std::string& name, const std::string& help);
  void declare_histogram(const std::string& name, const std::string& help,
                         std::vector<double> bounds);

  void add(const std::string& counter, double value = 1, const Labels& labels = {});
  void set(const std::string& name, double value,
           const Labels& labels = {});  // gauges, mirrored counters
  void observe(const std::string& histogram, double value, const Labels& labels = {});

  double value(const std::string& name, const Labels& labels = {}) const;  // counters and gauges
  uint64_t count(const std::string& histogram, const Labels& labels = {}) const;
  std::string render() const;

 private:
  enum class Kind { kCounter, kGauge, kHistogram };
  struct Histogram {
    std::vector<uint64_t> buckets;  // cumulative at render time; per-bucket counts here
    uint64_t count = 0;
    double sum = 0;
  };
  struct Family {
    Kind kind;
    std::string help;
    std::vector<double> bounds;
    std::map<Labels, double> values;
    std::map<Labels, Histogram> histograms;
  };
  Family& family(const std::string& name, Kind kind);

  mutable std::mutex mutex_;
  std::map<std::string, Family> families_;
};

// Latency buckets in seconds, from 1 ms to 60 s.
std::vector<double> latency_buckets();

}  // namespace glimpse::server
