// Every golden case (tests/golden/manifest.json, rendered by transformers 5.17's processor
// before image-token expansion) renders to the identical prompt with the model directory's own
// template, and the image URLs come out in prompt order. Missing goldens fail the test.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "io/chat_template.h"
#include "io/messages.h"

namespace glimpse::io {
namespace {

using Json = nlohmann::ordered_json;

const std::string kGolden = std::string(GLIMPSE_SOURCE_DIR) + "/tests/golden/";

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

TEST(ChatTemplateGolden, RendersEveryCaseLikeTransformers) {
  const Json manifest = Json::parse(read_text(kGolden + "manifest.json"));
  const Json& cases = manifest.at("cases");
  ASSERT_GE(cases.size(), 10u);
  bool saw_two_images = false;
  bool saw_system_multiturn = false;
  for (const Json& c : cases) {
    const std::string id = c.at("id");
    SCOPED_TRACE(id);
    const ChatTemplate chat = ChatTemplate::from_model_dir(
        kGolden + manifest.at("models").at(c.at("model").get<std::string>()).get<std::string>());
    std::vector<std::string> image_urls;
    const Json messages = to_template_messages(
        Json::parse(read_text(kGolden + c.at("messages").get<std::string>())), &image_urls);
    TemplateOptions options;
    options.add_generation_prompt = c.at("add_generation_prompt");
    if (!c.at("enable_thinking").is_null())
      options.extra["enable_thinking"] = c.at("enable_thinking");
    EXPECT_EQ(chat.render(messages, options),
              read_text(kGolden + c.at("files").at("rendered").get<std::string>()));
    EXPECT_EQ(Json(image_urls), c.at("images"));
    saw_two_images |= image_urls.size() == 2;
    bool has_system = false;
    for (const Json& m : messages) has_system |= m.at("role") == "system";
    saw_system_multiturn |= has_system && messages.size() >= 4;
  }
  EXPECT_TRUE(saw_two_images) << "the goldens must include a two-image prompt";
  EXPECT_TRUE(saw_system_multiturn)
      << "the goldens must include a multi-turn chat with a system message";
}

}  // namespace
}  // namespace glimpse::io
