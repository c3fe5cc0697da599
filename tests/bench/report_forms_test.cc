// Synthetic images, base64, `bench compare` on reports with a known difference, and the HTML
// report's charts.
#include <gtest/gtest.h>

#include <random>

#include "bench/compare.h"
#include "bench/html_report.h"
#include "bench/report.h"
#include "bench/synthetic_image.h"
#include "core/error.h"
#include "io/image_decode.h"

namespace glimpse::bench {
namespace {

TEST(SyntheticImage, DecodesToTheRequestedSizeAndVariantsDiffer) {
  const auto png = synthetic_png(64, 48);
  const io::RgbImage image = io::decode_image(png, io::ImageLimits{});
  EXPECT_EQ(image.width, 64);
  EXPECT_EQ(image.height, 48);
  EXPECT_EQ(image.pixels[3 * 63], 251);  // red ramps across: x * 255 / width
  EXPECT_NE(synthetic_png(64, 48, 1), png);
  EXPECT_EQ(synthetic_png(64, 48, 1), synthetic_png(64, 48, 1));
  EXPECT_THROW(synthetic_png(0, 5), Error);
}

TEST(SyntheticImage, ParsesResolutionsAndNamesBadOnes) {
  EXPECT_EQ(parse_resolution("1920x1080"), std::make_pair(1920, 1080));
  for (const char* bad : {"1920", "x1080", "1920x", "19a0x1080", "0x10", "-5x5", "10x10x10"}) {
    try {
      parse_resolution(bad);
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
}

TEST(Base64, MatchesRfc4648Vectors) {
  auto b64 = [](std::string s) { return base64_encode(std::vector<uint8_t>(s.begin(), s.end())); };
  EXPECT_EQ(b64(""), "");
  EXPECT_EQ(b64("f"), "Zg==");
  EXPECT_EQ(b64("fo"), "Zm8=");
  EXPECT_EQ(b64("foo"), "Zm9v");
  EXPECT_EQ(b64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(data_url({0xff, 0xfe}, "image/png"), "data:image/png;base64,//4=");
}

PointResult synthetic_point(double ttft_mean, uint64_t seed, int64_t concurrency) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(0, 2);
  PointResult p;
  p.spec.label = "512x512";
  p.spec.concurrency = concurrency;
  for (int i = 0; i < 200; ++i) {
    RequestSample s;
    s.ttft_ms = ttft_mean + noise(rng);
    s.e2e_ms = s.ttft_ms + 100 + noise(rng);
    s.output_tokens = 11;
    for (int t = 0; t < 10; ++t) s.itl_ms.push_back(10 + noise(rng) / 4);
    p.samples.push_back(s);
  }
  p.timeit.loops = 10;
  p.timeit.repeat_seconds = {1.2, 1.21, 1.19};
  p.measured_seconds = 3.6;
  return p;
}

TEST(Compare, FindsAKnownDifferenceAndCallsEqualRunsNoise) {
  RunInfo info;
  const auto a = nlohmann::json::parse(report_json(info, {synthetic_point(50, 1, 1)}).dump());
  const auto b = nlohmann::json::parse(report_json(info, {synthetic_point(60, 2, 1)}).dump());
  const auto rerun = nlohmann::json::parse(report_json(info, {synthetic_point(50, 3, 1)}).dump());
  const auto rows = compare_reports(a, b);
  ASSERT_EQ(rows.size(), 5u);  // ttft, tpot, itl, e2e, per loop
  EXPECT_EQ(rows[0].metric, "ttft_ms");
  EXPECT_NEAR(rows[0].ratio.ratio, 1.2, 0.01);
  EXPECT_FALSE(rows[0].ratio.within_noise());
  EXPECT_GT(rows[0].ratio.low, 1.15);
  for (const auto& r : compare_reports(a, a)) EXPECT_TRUE(r.ratio.within_noise()) << r.metric;
  // Another draw from the same distribution: TTFT differs only by noise (seeded, so stable).
  EXPECT_TRUE(compare_reports(a, rerun)[0].ratio.within_noise());
  const std::string table = comparison_table(rows, "a.json", "b.json");
  EXPECT_NE(table.find("B slower"), std::string::npos);
  EXPECT_NE(table.find("within noise"), std::string::npos);  // per loop: identical repeats
}

TEST(Compare, RejectsForeignFilesAndDisjointPoints) {
  RunInfo info;
  const auto a = nlohmann::json::parse(report_json(info, {synthetic_point(50, 1, 1)}).dump());
  const auto other = nlohmann::json::parse(report_json(info, {synthetic_point(50, 1, 4)}).dump());
  EXPECT_THROW(compare_reports(a, other), Error);
  EXPECT_THROW(compare_reports(a, nlohmann::json{{"points", 1}}), Error);
}

TEST(HtmlReport, HasEveryChartAndNoExternalResources) {
  RunInfo info;
  info.target = "models/<demo>";
  std::vector<PointResult> points = {synthetic_point(50, 1, 1), synthetic_point(70, 2, 4)};
  points[1].spec.label = "1024x1024";
  points[1].spec.width = points[1].spec.height = 1024;
  const std::string html = html_report(info, points);
  for (const char* id :
       {"id=\"summary\"", "id=\"histogram-0\"", "id=\"histogram-1\"", "id=\"ttft-vs-concurrency\"",
        "id=\"throughput-vs-concurrency\"", "id=\"latency-vs-resolution\""})
    EXPECT_NE(html.find(id), std::string::npos) << id;
  EXPECT_NE(html.find("models/&lt;demo&gt;"), std::string::npos);
  EXPECT_EQ(html.find("src=\"http"), std::string::npos);
  EXPECT_EQ(html.find("<script src"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
}

}  // namespace
}  // namespace glimpse::bench
