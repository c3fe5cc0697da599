#include "ops/elementwise.h"

#include <gtest/gtest.h>

#include <cmath>

#include "ops_test_util.h"

namespace glimpse::ops {
namespace {

using testing::random_tensor;
using testing::relative_l2;

constexpr double kTolerance = 1e-6;  // one f32 rounding per element against double

double silu(double v) {
  return v / (1 + std::exp(-v));
}
double gelu(double v) {
  return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
}

TEST(Elementwise, ActivationsMatchReference) {
  const Tensor x = random_tensor({3, 50}, 1, 4.0f);
  std::vector<double> expected_silu, expected_gelu;
  for (int64_t i = 0; i < x.numel(); ++i) {
    expected_silu.push_back(silu(x.data<float>()[i]));
    expected_gelu.push_back(gelu(x.data<float>()[i]));
  }
  EXPECT_LT(relative_l2(activation(x, Activation::kSilu), expected_silu), kTolerance);
  EXPECT_LT(relative_l2(activation(x, Activation::kGelu), expected_gelu), kTolerance);
}

TEST(Elementwise, GatedActivationIsActOfGateTimesUp) {
  const Tensor gate_up = random_tensor({4, 2 * 33}, 2, 3.0f);
  for (Activation act : {Activation::kSilu, Activation::kGelu}) {
    std::vector<double> expected;
    for (int64_t r = 0; r < 4; ++r)
      for (int64_t c = 0; c < 33; ++c) {
        const double g = gate_up.data<float>()[r * 66 + c],
                     u = gate_up.data<float>()[r * 66 + 33 + c];
        expected.push_back((act == Activation::kSilu ? silu(g) : gelu(g)) * u);
      }
    const Tensor y = gated_activation(gate_up, act);
    EXPECT_EQ(y.shape(), (Shape{4, 33}));
    EXPECT_LT(relative_l2(y, expected), kTolerance);
  }
}

TEST(Elementwise, AddInPlace) {
  Tensor x = random_tensor({70000}, 3);
  const Tensor y = random_tensor({70000}, 4);
  std::vector<double> expected;
  for (int64_t i = 0; i < x.numel(); ++i)
    expected.push_back(double(x.data<float>()[i]) + y.data<float>()[i]);
  add_inplace(x, y);
  EXPECT_LT(relative_l2(x, expected), kTolerance);
  Tensor wrong = random_tensor({69999}, 5);
  EXPECT_THROW(add_inplace(x, wrong), Error);
}

TEST(Elementwise, ParseActivationNamesTheUnknown) {
  EXPECT_EQ(parse_activation("silu", "cfg"), Activation::kSilu);
  EXPECT_EQ(parse_activation("gelu", "cfg"), Activation::kGelu);
  try {
    parse_activation("relu6", "text_config.hidden_act");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("text_config.hidden_act"), std::string::npos);
  }
}

}  // namespace
}  // namespace glimpse::ops
