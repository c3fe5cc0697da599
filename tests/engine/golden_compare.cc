#include "golden_compare.h"

#include <fstream>

#include "core/npy.h"
#include "core/tensor.h"

namespace glimpse::engine::testing {

std::filesystem::path golden_dir() {
  return std::filesystem::path(GLIMPSE_SOURCE_DIR) / "tests" / "golden";
}

nlohmann::json read_json_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("missing golden file " + path.string());
  return nlohmann::json::parse(in);
}

std::vector<int64_t> read_int64_npy(const std::filesystem::path& path) {
  const Tensor t = read_npy(path.string());
  if (t.dtype() != DType::kI64) throw std::runtime_error(path.string() + ": expected int64");
  return {t.data<int64_t>(), t.data<int64_t>() + t.numel()};
}

int expect_matches_reference(const nlohmann::json& greedy, const std::vector<OurStep>& ours,
                             const std::string& what) {
  const auto& steps = greedy.at("steps");
  EXPECT_EQ(int(steps.size()), kGoldenSteps) << what;
  EXPECT_EQ(ours.size(), steps.size()) << what << ": generated a different number of tokens";
  int compared = 0;
  for (size_t i = 0; i < steps.size() && i < ours.size(); ++i) {
    const auto& top5 = steps[i].at("top5");
    const double margin = top5[0][1].get<double>() - top5[1][1].get<double>();
    for (const auto& entry : top5) {
      const auto id = entry[0].get<int32_t>();
      const auto reference = entry[1].get<double>();
      auto it = ours[i].logprobs.find(id);
      if (it == ours[i].logprobs.end()) {
        ADD_FAILURE() << what << " step " << i << ": reference top-5 token " << id
                      << " is not among our top " << kAlternatives;
        continue;
      }
      EXPECT_NEAR(it->second, reference, kLogprobTolerance)
          << what << " step " << i << " token " << id;
    }
    ++compared;
    if (margin < kMarginFloor) break;  // a near-tie: either token is right, and texts part here
    EXPECT_EQ(ours[i].token_id, steps[i].at("token").get<int32_t>())
        << what << " step " << i << " (reference margin " << margin << ")";
    if (ours[i].token_id != steps[i].at("token").get<int32_t>()) break;
  }
  return compared;
}

}  // namespace glimpse::engine::testing
