// Renders every fixture in tests/io/templates/ and compares with what transformers 5.17 rendered
// (expected.json, written by render_expected.py): constructs one by one (cases.json) and
// real-world-style chat templates through ChatTemplate (chat_cases.json).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "core/error.h"
#include "io/chat_template.h"
#include "io/jinja/template.h"
#include "io/messages.h"

namespace glimpse::io {
namespace {

using Json = nlohmann::ordered_json;

const std::string kDir = std::string(GLIMPSE_SOURCE_DIR) + "/tests/io/templates/";

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << "cannot open " << path;
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

Json read_json(const std::string& path) {
  return Json::parse(read_text(path));
}

// Checks one outcome against the expected {"output": ...} or {"error": type}.
template <typename Render>
void check(const std::string& name, const Json& expected, Render render) {
  SCOPED_TRACE(name);
  ASSERT_TRUE(expected.is_object())
      << "no expected outcome for " << name << "; rerun tests/io/templates/render_expected.py";
  if (expected.contains("error")) {
    try {
      const std::string output = render();
      ADD_FAILURE() << "transformers raised " << expected["error"] << " but glimpse rendered:\n"
                    << output;
    } catch (const Error& e) {
      SUCCEED() << e.what();
    }
    return;
  }
  try {
    EXPECT_EQ(render(), expected["output"].get<std::string>());
  } catch (const Error& e) {
    ADD_FAILURE() << "glimpse failed: " << e.what();
  }
}

TEST(JinjaFixtures, ConstructsMatchTransformers) {
  const Json cases = read_json(kDir + "cases.json");
  const Json expected = read_json(kDir + "expected.json")["cases"];
  ASSERT_GE(cases.size(), 50u);
  for (const Json& c : cases) {
    const std::string name = c["name"];
    check(name, expected.value(name, Json()), [&] {
      const jinja::Template parsed(c["source"].get<std::string>());
      return parsed.render(c.value("variables", Json::object()));
    });
  }
}

TEST(JinjaFixtures, ChatTemplatesMatchTransformers) {
  const Json cases = read_json(kDir + "chat_cases.json");
  const Json expected = read_json(kDir + "expected.json")["chat_cases"];
  ASSERT_GE(cases.size(), 10u);
  for (const Json& c : cases) {
    const std::string name = c["name"];
    check(name, expected.value(name, Json()), [&] {
      const ChatTemplate chat =
          ChatTemplate::from_string(read_text(kDir + c["template"].get<std::string>()),
                                    c.value("bos_token", ""), c.value("eos_token", ""));
      TemplateOptions options;
      options.add_generation_prompt = c.value("add_generation_prompt", true);
      options.tools = c.value("tools", Json());
      options.extra = c.value("extra", Json::object());
      return chat.render(to_template_messages(c["messages"], nullptr), options);
    });
  }
}

}  // namespace
}  // namespace glimpse::io
