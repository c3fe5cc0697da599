#include "server/metrics.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.h"

namespace glimpse::server {
namespace {

std::string escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string label_text(const Metrics::Labels& labels, const std::string& extra = "") {
  std::string out;
  for (const auto& [k, v] : labels)
    out += fmt::format("{}{}=\"{}\"", out.empty() ? "" : ",", k, escape(v));
  if (!extra.empty()) out += (out.empty() ? "" : ",") + extra;
  return out.empty() ? "" : "{" + out + "}";
}

std::string number(double v) {
  if (v == double(int64_t(v)) && std::abs(v) < 1e15) return fmt::format("{}", int64_t(v));
  return fmt::format("{}", v);
}

}  // namespace

std::vector<double> latency_buckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

Metrics::Family& Metrics::family(const std::string& name, Kind kind) {
  auto it = families_.find(name);
  if (it == families_.end())
    fail(ErrorKind::kInternal, "metric '{}' used before it was declared", name);
  if (it->second.kind != kind)
    fail(ErrorKind::kInternal, "metric '{}' used as the wrong type", name);
  return it->second;
}

void Metrics::declare_counter(const std::string& name, const std::string& help) {
  std::lock_guard lock(mutex_);
  families_.try_emplace(name, Family{Kind::kCounter, help, {}, {}, {}});
}

void Metrics::declare_gauge(const std::string& name, const std::string& help) {
  std::lock_guard lock(mutex_);
  families_.try_emplace(name, Family{Kind::kGauge, help, {}, {}, {}});
}

void Metrics::declare_histogram(const std::string& name, const std::string& help,
                                std::vector<double> bounds) {
  std::sort(bounds.begin(), bounds.end());
  std::lock_guard lock(mutex_);
  families_.try_emplace(name, Family{Kind::kHistogram, help, std::move(bounds), {}, {}});
}

void Metrics::add(const std::string& counter, double value, const Labels& labels) {
  std::lock_guard lock(mutex_);
  family(counter, Kind::kCounter).values[labels] += value;
}

void Metrics::set(const std::string& name, double value, const Labels& labels) {
  std::lock_guard lock(mutex_);
  auto it = families_.find(name);
  // Counters may be set too: some mirror totals the engine keeps itself.
  if (it == families_.end() || it->second.kind == Kind::kHistogram)
    fail(ErrorKind::kInternal, "metric '{}' is not a declared counter or gauge", name);
  it->second.values[labels] = value;
}

void Metrics::observe(const std::string& histogram, double value, const Labels& labels) {
  std::lock_guard lock(mutex_);
  Family& f = family(histogram, Kind::kHistogram);
  Histogram& h = f.histograms[labels];
  if (h.buckets.empty()) h.buckets.assign(f.bounds.size(), 0);
  const auto bucket = std::lower_bound(f.bounds.begin(), f.bounds.end(), value) - f.bounds.begin();
  if (size_t(bucket) < h.buckets.size()) h.buckets[size_t(bucket)]++;
  h.count++;
  h.sum += value;
}

double Metrics::value(const std::string& name, const Labels& labels) const {
  std::lock_guard lock(mutex_);
  auto it = families_.find(name);
  if (it == families_.end()) return 0;
  auto v = it->second.values.find(labels);
  return v == it->second.values.end() ? 0 : v->second;
}

uint64_t Metrics::count(const std::string& histogram, const Labels& labels) const {
  std::lock_guard lock(mutex_);
  auto it = families_.find(histogram);
  if (it == families_.end()) return 0;
  auto h = it->second.histograms.find(labels);
  return h == it->second.histograms.end() ? 0 : h->second.count;
}

std::string Metrics::render() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& [name, f] : families_) {
    const char* type = f.kind == Kind::kCounter ? "counter"
                       : f.kind == Kind::kGauge ? "gauge"
                                                : "histogram";
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, f.help, name, type);
    if (f.kind != Kind::kHistogram) {
      if (f.values.empty()) out += fmt::format("{} 0\n", name);
      for (const auto& [labels, v] : f.values)
        out += fmt::format("{}{} {}\n", name, label_text(labels), number(v));
      continue;
    }
    for (const auto& [labels, h] : f.histograms) {
      uint64_t cumulative = 0;
      for (size_t i = 0; i < f.bounds.size(); ++i) {
        cumulative += h.buckets[i];
        out += fmt::format("{}_bucket{} {}\n", name,
                           label_text(labels, fmt::format("le=\"{}\"", f.bounds[i])), cumulative);
      }
      out += fmt::format("{}_bucket{} {}\n", name, label_text(labels, "le=\"+Inf\""), h.count);
      out += fmt::format("{}_sum{} {}\n{}_count{} {}\n", name, label_text(labels), h.sum, name,
                         label_text(labels), h.count);
    }
  }
  return out;
}

}  // namespace glimpse::server
