// Broken or hostile templates fail with a clear Error naming line and column, and every kind of
// runaway work (loops, recursion, growth, nesting) stops at a bound instead of hanging or
// crashing.
#include <gtest/gtest.h>

#include <string>

#include "core/error.h"
#include "io/jinja/template.h"

namespace glimpse::io::jinja {
namespace {

// Renders `source` and returns the error message; fails the test if it renders.
std::string error_of(const std::string& source, const Json& variables = Json::object(),
                     const Limits& limits = {}, ErrorKind* kind = nullptr) {
  try {
    const Template parsed(source, limits);
    const std::string output = parsed.render(variables);
    ADD_FAILURE() << "rendered without error: " << output.substr(0, 200);
  } catch (const Error& e) {
    if (kind) *kind = e.kind();
    return e.what();
  }
  return "";
}

TEST(JinjaErrors, SyntaxErrorsNameLineAndColumn) {
  EXPECT_EQ(error_of("line one\n  {% if x %}\n  {% endfor %}"),
            "line 3, column 6: unknown tag 'endfor'");
  EXPECT_EQ(error_of("{{ 1 + }}"), "line 1, column 8: unexpected '}}'");
  EXPECT_EQ(error_of("{% for x in %}{% endfor %}"),
            "line 1, column 13: expected an expression, got '%}'");
  EXPECT_EQ(error_of("ok\n{{ 'unterminated }}"), "line 2, column 4: unterminated string");
  EXPECT_EQ(error_of("{# never closed"), "line 1, column 1: missing end of comment tag");
  EXPECT_EQ(error_of("{% if true %}x"),
            "line 1, column 15: unexpected end of template, expected 'elif'");
  EXPECT_EQ(error_of("{{ (1, 2 }}"), "line 1, column 10: unexpected '}', expected ')'");
  EXPECT_EQ(error_of("{{ x ? y }}"), "line 1, column 6: unexpected character '?'");
  EXPECT_EQ(error_of("{% break %}"), "line 1, column 4: 'break' outside of a loop");
}

TEST(JinjaErrors, UnsupportedFeaturesSaySo) {
  ErrorKind kind{};
  EXPECT_EQ(error_of("{% include 'x.jinja' %}", Json::object(), {}, &kind),
            "line 1, column 4: the 'include' tag is not supported");
  EXPECT_EQ(kind, ErrorKind::kUnsupported);
  EXPECT_EQ(error_of("{{ '%s' % 1 }}"),
            "line 1, column 4: printf-style string formatting ('...' % x) is not supported");
}

TEST(JinjaErrors, RuntimeErrorsNameTheInnermostExpression) {
  EXPECT_EQ(error_of("a\n  {{ messages[0].content.missing.deeper }}",
                     Json{{"messages", Json::array({Json{{"content", Json::object()}}})}}),
            "line 2, column 33: 'dict object' has no attribute 'missing'");
  EXPECT_EQ(error_of("{% set n = 1 %}{{ n ~ (n + 'x') }}"),
            "line 1, column 24: unsupported operand type(s) for +: 'int' and 'str'");
  EXPECT_EQ(error_of("{{ raise_exception('roles must alternate') }}"),
            "line 1, column 4: roles must alternate");
  EXPECT_EQ(error_of("{{ x | no_such_filter }}"),
            "line 1, column 8: no filter named 'no_such_filter'");
  EXPECT_EQ(error_of("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}"),
            "line 1, column 34: macro 'm' takes not more than 1 argument(s)");
  EXPECT_EQ(error_of("{{ 1 // 0 }}"), "line 1, column 4: division by zero");
  EXPECT_EQ(error_of("{{ 9223372036854775807 + 1 }}"),
            "line 1, column 4: integer overflow (Python would use a big integer)");
}

TEST(JinjaErrors, InvalidUtf8IsRejectedWithItsPosition) {
  EXPECT_EQ(error_of("ab\ncd\xff"), "line 2, column 3: invalid UTF-8");
}

TEST(JinjaLimits, RecursionStops) {
  ErrorKind kind{};
  const std::string message =
      error_of("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", Json::object(), {}, &kind);
  EXPECT_EQ(kind, ErrorKind::kLimitExceeded);
  EXPECT_NE(message.find("nesting or recursion deeper than"), std::string::npos) << message;
}

TEST(JinjaLimits, EndlessWorkStops) {
  Limits limits;
  limits.max_steps = 200'000;
  ErrorKind kind{};
  const std::string message =
      error_of("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
               Json::object(), limits, &kind);
  EXPECT_EQ(kind, ErrorKind::kLimitExceeded);
  EXPECT_NE(message.find("work budget of 200000 steps"), std::string::npos) << message;
}

TEST(JinjaLimits, ExponentialGrowthStops) {
  Limits limits;
  limits.max_bytes = 1 << 20;
  ErrorKind kind{};
  const std::string message = error_of(
      "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% "
      "endfor %}",
      Json::object(), limits, &kind);
  EXPECT_EQ(kind, ErrorKind::kLimitExceeded);
  EXPECT_NE(message.find("over the limit of 1048576"), std::string::npos) << message;
  EXPECT_EQ(
      error_of("{{ 'x' * 10000000000 }}", Json::object(), limits, &kind).find("line 1, column 4"),
      0u);
  EXPECT_EQ(kind, ErrorKind::kLimitExceeded);
}

TEST(JinjaLimits, OutputSizeStops) {
  Limits limits;
  limits.max_bytes = 1000;
  ErrorKind kind{};
  const std::string message =
      error_of("{% for i in range(1000) %}0123456789{% endfor %}", Json::object(), limits, &kind);
  EXPECT_EQ(kind, ErrorKind::kLimitExceeded);
  EXPECT_NE(message.find("output exceeds 1000 bytes"), std::string::npos) << message;
}

TEST(JinjaLimits, DeepNestingInTheSourceStops) {
  ErrorKind kind{};
  const std::string message =
      error_of("{{ " + std::string(100000, '(') + "1" + std::string(100000, ')') + " }}",
               Json::object(), {}, &kind);
  EXPECT_EQ(kind, ErrorKind::kLimitExceeded);
  EXPECT_NE(message.find("nested deeper than"), std::string::npos) << message;
  const std::string negations = "{{ " + std::string(100000, '-') + "1 }}";
  EXPECT_NE(error_of(negations, Json::object(), {}, &kind).find("nested deeper than"),
            std::string::npos);
  std::string blocks;
  for (int i = 0; i < 10000; ++i) blocks += "{% if true %}";
  EXPECT_NE(error_of(blocks, Json::object(), {}, &kind).find("nested deeper than"),
            std::string::npos);
}

}  // namespace
}  // namespace glimpse::io::jinja
