// The Done-when rule for greedy generation against tests/golden (transformers 5.17, fp32 CPU):
// walking the 16 reference steps, our top-5 logprobs must match the reference's within
// kLogprobTolerance at every step, and our token must equal the reference token at every step
// whose reference top-1/top-2 margin is at least kMarginFloor. The walk ends after the first
// step below that margin (a near-tie may break either way, and the texts diverge after it).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace glimpse::engine::testing {

inline constexpr double kLogprobTolerance = 1e-2;
inline constexpr double kMarginFloor = 1e-2;
inline constexpr int kGoldenSteps = 16;
inline constexpr int kAlternatives = 20;  // we ask for 20 so reference top-5 ids can be looked up

struct OurStep {
  int32_t token_id = 0;
  std::map<int32_t, double> logprobs;  // our top alternatives: id -> logprob
};

std::filesystem::path golden_dir();
nlohmann::json read_json_file(const std::filesystem::path& path);
std::vector<int64_t> read_int64_npy(const std::filesystem::path& path);

// Checks `ours` against greedy.json's steps; `what` names the case in failure messages. Returns
// the number of steps compared.
int expect_matches_reference(const nlohmann::json& greedy, const std::vector<OurStep>& ours,
                             const std::string& what);

}  // namespace glimpse::engine::testing
