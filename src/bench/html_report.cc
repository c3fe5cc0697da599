#include "bench/html_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

namespace glimpse::bench {
namespace {

const char* kColors[] = {"#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2"};
constexpr double kW = 520, kH = 300, kLeft = 64, kRight = 16, kTop = 34, kBottom = 46;

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else if (c == '"')
      out += "&quot;";
    else
      out += c;
  }
  return out;
}

struct Series {
  std::string name;
  std::vector<std::pair<double, double>> points;  // x, y
};

struct Axis {
  double lo, hi;
  double at(double v, double from, double to) const {
    return hi > lo ? from + (v - lo) / (hi - lo) * (to - from) : (from + to) / 2;
  }
};

Axis padded_axis(double lo, double hi, bool from_zero) {
  if (from_zero) lo = std::min(lo, 0.0);
  if (hi <= lo) hi = lo + 1;
  return {lo, hi + (hi - lo) * 0.05};
}

std::string frame(const std::string& id, const std::string& title, const std::string& x_label,
                  const std::string& y_label, const Axis& x, const Axis& y) {
  std::string out = fmt::format(
      "<svg id=\"{}\" class=\"chart\" viewBox=\"0 0 {} {}\" width=\"{}\" height=\"{}\" "
      "xmlns=\"http://www.w3.org/2000/svg\"><text x=\"{}\" y=\"20\" class=\"title\">{}</text>",
      id, kW, kH, kW, kH, kLeft, escape(title));
  for (int i = 0; i <= 4; ++i) {
    const double yv = y.lo + (y.hi - y.lo) * i / 4, py = y.at(yv, kH - kBottom, kTop);
    const double xv = x.lo + (x.hi - x.lo) * i / 4, px = x.at(xv, kLeft, kW - kRight);
    out += fmt::format(
        "<line x1=\"{0}\" x2=\"{1}\" y1=\"{2:.1f}\" y2=\"{2:.1f}\" class=\"grid\"/>"
        "<text x=\"{3}\" y=\"{4:.1f}\" class=\"tick\" text-anchor=\"end\">{5:.4g}</text>"
        "<text x=\"{6:.1f}\" y=\"{7}\" class=\"tick\" text-anchor=\"middle\">{8:.4g}</text>",
        kLeft, kW - kRight, py, kLeft - 6, py + 4, yv, px, kH - kBottom + 16, xv);
  }
  out += fmt::format(
      "<text x=\"{}\" y=\"{}\" class=\"label\" text-anchor=\"middle\">{}</text>"
      "<text transform=\"translate(14 {}) rotate(-90)\" class=\"label\" "
      "text-anchor=\"middle\">{}</text>",
      (kLeft + kW - kRight) / 2, kH - 8, escape(x_label), (kTop + kH - kBottom) / 2,
      escape(y_label));
  return out;
}

std::string line_chart(const std::string& id, const std::string& title, const std::string& x_label,
                       const std::string& y_label, const std::vector<Series>& series) {
  double x_lo = 1e300, x_hi = -1e300, y_hi = 0;
  for (const auto& s : series)
    for (auto [x, y] : s.points) {
      x_lo = std::min(x_lo, x), x_hi = std::max(x_hi, x), y_hi = std::max(y_hi, y);
    }
  if (x_lo > x_hi) x_lo = 0, x_hi = 1;
  const Axis x = padded_axis(x_lo, x_hi, false), y = padded_axis(0, y_hi, true);
  std::string out = frame(id, title, x_label, y_label, x, y);
  for (size_t i = 0; i < series.size(); ++i) {
    const char* color = kColors[i % std::size(kColors)];
    std::string path;
    for (auto [xv, yv] : series[i].points)
      path += fmt::format("{}{:.1f},{:.1f}", path.empty() ? "M" : " L",
                          x.at(xv, kLeft, kW - kRight), y.at(yv, kH - kBottom, kTop));
    out += fmt::format(
        "<path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\" class=\"series\"/>", path,
        color);
    for (auto [xv, yv] : series[i].points)
      out += fmt::format(
          "<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"4\" fill=\"{}\" class=\"point\"><title>{}: "
          "{:.4g}, {:.4g}</title></circle>",
          x.at(xv, kLeft, kW - kRight), y.at(yv, kH - kBottom, kTop), color, escape(series[i].name),
          xv, yv);
    out +=
        fmt::format("<text x=\"{}\" y=\"{}\" fill=\"{}\" class=\"legend\">{}</text>",
                    kW - kRight - 150, kTop + 14 + 16 * double(i), color, escape(series[i].name));
  }
  return out + "</svg>";
}

std::string histogram(const std::string& id, const std::string& title,
                      const std::vector<double>& values) {
  const auto [lo_it, hi_it] = std::minmax_element(values.begin(), values.end());
  const double lo = values.empty() ? 0 : *lo_it, hi = values.empty() ? 1 : *hi_it;
  const size_t bins = std::clamp<size_t>(size_t(std::sqrt(double(values.size()))) + 1, 5, 40);
  const double width = hi > lo ? (hi - lo) / double(bins) : 1;
  std::vector<int64_t> counts(bins, 0);
  for (double v : values) counts[std::min(bins - 1, size_t((v - lo) / width))]++;
  const Axis x = padded_axis(lo, lo + width * double(bins), false);
  const Axis y = padded_axis(0, double(*std::max_element(counts.begin(), counts.end())), true);
  std::string out = frame(id, title, "end-to-end latency (ms)", "requests", x, y);
  for (size_t b = 0; b < bins; ++b) {
    const double x0 = x.at(lo + width * double(b), kLeft, kW - kRight);
    const double x1 = x.at(lo + width * double(b + 1), kLeft, kW - kRight);
    const double top = y.at(double(counts[b]), kH - kBottom, kTop);
    out += fmt::format(
        "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" "
        "class=\"bar\"><title>{:.4g}-{:.4g} ms: "
        "{}</title></rect>",
        x0, top, std::max(0.5, x1 - x0 - 1), kH - kBottom - top, lo + width * double(b),
        lo + width * double(b + 1), counts[b]);
  }
  return out + "</svg>";
}

double p50(const PointResult& p, const char* metric) {
  return summarize(metric_samples(p, metric)).p50;
}

}  // namespace

std::string html_report(const RunInfo& info, const std::vector<PointResult>& points) {
  std::map<std::string, Series> ttft_by_image, tput_by_image;
  std::map<int64_t, Series> e2e_by_conc, ttft_by_conc;
  for (const auto& p : points) {
    const double megapixels = double(p.spec.width) * double(p.spec.height) / 1e6;
    const int64_t c = p.spec.concurrency;
    auto& t = ttft_by_image[p.spec.label];
    t.name = p.spec.label;
    t.points.emplace_back(double(c), p50(p, "ttft_ms"));
    auto& r = tput_by_image[p.spec.label];
    r.name = p.spec.label;
    r.points.emplace_back(double(c), p.tokens_per_second());
    auto& e = e2e_by_conc[c];
    e.name = fmt::format("e2e p50, conc. {}", c);
    e.points.emplace_back(megapixels, p50(p, "e2e_ms"));
    auto& f = ttft_by_conc[c];
    f.name = fmt::format("TTFT p50, conc. {}", c);
    f.points.emplace_back(megapixels, p50(p, "ttft_ms"));
  }
  auto values = [](auto& map) {
    std::vector<Series> out;
    for (auto& [key, s] : map) {
      std::sort(s.points.begin(), s.points.end());
      out.push_back(s);
    }
    return out;
  };
  std::vector<Series> by_resolution = values(e2e_by_conc), ttft_res = values(ttft_by_conc);
  by_resolution.insert(by_resolution.end(), ttft_res.begin(), ttft_res.end());

  std::string html = fmt::format(
      "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>glimpse bench: "
      "{}</title><style>body{{font:14px system-ui,sans-serif;margin:24px;color:#111}}"
      "table{{border-collapse:collapse;margin:12px 0}}td,th{{border:1px solid #ccc;padding:3px "
      "8px;text-align:right}}th{{background:#f3f4f6}}.chart{{border:1px solid #e5e7eb;margin:6px}}"
      ".grid{{stroke:#e5e7eb}}.tick{{font-size:11px;fill:#555}}.label{{font-size:12px}}"
      ".title{{font-weight:600}}.bar{{fill:#2563eb}}.legend{{font-size:12px}}"
      "code{{background:#f3f4f6;padding:1px 4px}}</style></head><body>"
      "<h1>glimpse bench</h1><p>{} <b>{}</b> &middot; {} &middot; {}<br><code>{}</code></p>",
      escape(info.target), escape(info.mode), escape(info.target), escape(info.date),
      escape(info.machine), escape(info.command));
  html +=
      "<table id=\"summary\"><tr><th>image</th><th>conc.</th><th>n</th><th>TTFT p50</th><th>TTFT "
      "p90</th><th>TPOT p50</th><th>ITL p99</th><th>e2e p50</th><th>e2e p90</th><th>req/s</th>"
      "<th>tok/s</th><th>timeit</th></tr>";
  for (const auto& p : points) {
    const Summary ttft = summarize(metric_samples(p, "ttft_ms")),
                  tpot = summarize(metric_samples(p, "tpot_ms")),
                  itl = summarize(metric_samples(p, "itl_ms")),
                  e2e = summarize(metric_samples(p, "e2e_ms"));
    auto ms = [](double v) { return format_duration(v / 1e3); };
    html += fmt::format(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}"
        "</td><td>{}</td><td>{:.2f}</td><td>{:.1f}</td><td>{}</td></tr>",
        escape(p.spec.label), p.spec.concurrency, p.samples.size(), ms(ttft.p50), ms(ttft.p90),
        tpot.count ? ms(tpot.p50) : "n/a", itl.count ? ms(itl.p99) : "n/a", ms(e2e.p50),
        ms(e2e.p90), p.requests_per_second(), p.tokens_per_second(),
        p.timeit.repeat_seconds.empty() ? "Poisson arrivals" : escape(p.timeit.ipython_line()));
  }
  html += "</table><h2>Latency histograms</h2><div id=\"latency-histograms\">";
  for (size_t i = 0; i < points.size(); ++i)
    html += histogram(
        fmt::format("histogram-{}", i),
        fmt::format("{} @ concurrency {}", points[i].spec.label, points[i].spec.concurrency),
        metric_samples(points[i], "e2e_ms"));
  html += "</div><h2>Against concurrency</h2><div>";
  html += line_chart("ttft-vs-concurrency", "TTFT p50 vs concurrency", "concurrent requests",
                     "TTFT p50 (ms)", values(ttft_by_image));
  html += line_chart("throughput-vs-concurrency", "Throughput vs concurrency",
                     "concurrent requests", "output tokens/s", values(tput_by_image));
  html += "</div><h2>Against image resolution</h2><div>";
  html += line_chart("latency-vs-resolution", "Latency vs resolution", "megapixels",
                     "latency p50 (ms)", by_resolution);
  return html + "</div></body></html>\n";
}

}  // namespace glimpse::bench
