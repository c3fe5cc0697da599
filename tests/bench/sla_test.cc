#include "bench/sla.h"

#include <gtest/gtest.h>

#include <map>

#include "core/error.h"

namespace glimpse::bench {
namespace {

TEST(Sla, ParsesClausesWithUnits) {
  auto clauses = parse_sla("ttft_p90<100ms, tpot_p50<=20ms,rps>=50,e2e_p99 < 1.5s");
  ASSERT_EQ(clauses.size(), 4u);
  EXPECT_EQ(clauses[0].metric, "ttft_p90");
  EXPECT_EQ(clauses[0].op, "<");
  EXPECT_DOUBLE_EQ(clauses[0].value, 0.1);
  EXPECT_EQ(clauses[1].op, "<=");
  EXPECT_DOUBLE_EQ(clauses[1].value, 0.02);
  EXPECT_EQ(clauses[2].metric, "rps");
  EXPECT_DOUBLE_EQ(clauses[2].value, 50);
  EXPECT_DOUBLE_EQ(clauses[3].value, 1.5);
}

TEST(Sla, RejectsMalformedClausesClearly) {
  for (const char* bad : {"ttft_p90", "ttft_p90<", "<100ms", "ttft_p90<100 parsecs", "a<1,,b<2"}) {
    try {
      parse_sla(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find("SLA"), std::string::npos) << e.what();
    }
  }
}

TEST(Sla, EvaluatesPassFailAndMissingMetrics) {
  std::map<std::string, double> measured{{"ttft_p90", 0.080}, {"rps", 40}};
  auto lookup = [&](const std::string& m) -> std::optional<double> {
    auto it = measured.find(m);
    if (it == measured.end()) return std::nullopt;
    return it->second;
  };
  auto verdicts = evaluate_sla(parse_sla("ttft_p90<100ms,rps>=50,tpot_p50<20ms"), lookup);
  ASSERT_EQ(verdicts.size(), 3u);
  EXPECT_TRUE(verdicts[0].pass);
  EXPECT_FALSE(verdicts[1].pass);
  EXPECT_FALSE(verdicts[2].pass);
  EXPECT_FALSE(verdicts[2].measured.has_value());
}

}  // namespace
}  // namespace glimpse::bench
