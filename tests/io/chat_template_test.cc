// ChatTemplate loading (chat_template.jinja, tokenizer_config.json string or named list), the
// variables it passes, and to_template_messages' conversion and validation.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "core/error.h"
#include "io/chat_template.h"
#include "io/messages.h"

namespace glimpse::io {
namespace {

using Json = nlohmann::ordered_json;
namespace fs = std::filesystem;

class ModelDir {
 public:
  ModelDir()
      : path_(fs::temp_directory_path() / ("glimpse_chat_template_" + std::to_string(::getpid()) +
                                           "_" + std::to_string(counter_++))) {
    fs::create_directories(path_);
  }
  ~ModelDir() { fs::remove_all(path_); }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(path_ / name, std::ios::binary) << text;
  }
  std::string path() const { return path_.string(); }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

std::string render(const ChatTemplate& chat, const Json& messages, TemplateOptions options = {}) {
  return chat.render(messages, options);
}

const Json kHello = Json::array({Json{{"role", "user"}, {"content", "hi"}}});

TEST(ChatTemplate, PrefersChatTemplateJinjaAndReadsSpecialTokens) {
  ModelDir dir;
  dir.write("chat_template.jinja",
            "{{ bos_token }}|{{ eos_token }}|{{ pad_token }}|{{ messages[0].content }}\n");
  dir.write("tokenizer_config.json",
            R"({"chat_template": "ignored", "bos_token": {"content": "<s>", "special": true},
                "eos_token": "</s>", "pad_token": null})");
  EXPECT_EQ(render(ChatTemplate::from_model_dir(dir.path()), kHello), "<s>|</s>||hi");
}

TEST(ChatTemplate, ReadsTokenizerConfigStringOrDefaultNamedTemplate) {
  ModelDir plain;
  plain.write("tokenizer_config.json", R"({"chat_template": "plain {{ messages | length }}"})");
  EXPECT_EQ(render(ChatTemplate::from_model_dir(plain.path()), kHello), "plain 1");

  ModelDir named;
  named.write("tokenizer_config.json",
              R"({"chat_template": [{"name": "tool_use", "template": "tools"},
                                    {"name": "default", "template": "default {{ add_generation_prompt }}"}]})");
  EXPECT_EQ(render(ChatTemplate::from_model_dir(named.path()), kHello), "default True");
}

TEST(ChatTemplate, MissingOrBrokenTemplatesNameTheFile) {
  ModelDir empty;
  EXPECT_THROW(ChatTemplate::from_model_dir(empty.path()), Error);

  ModelDir no_default;
  no_default.write("tokenizer_config.json",
                   R"({"chat_template": [{"name": "other", "template": "x"}]})");
  try {
    ChatTemplate::from_model_dir(no_default.path());
    ADD_FAILURE() << "no default template accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
    EXPECT_NE(std::string(e.what()).find(
                  "tokenizer_config.json: \"chat_template\" has no template named \"default\""),
              std::string::npos)
        << e.what();
  }

  ModelDir broken;
  broken.write("chat_template.jinja", "ok\n{% for %}");
  try {
    ChatTemplate::from_model_dir(broken.path());
    ADD_FAILURE() << "broken template accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("chat_template.jinja: line 2, column 8: expected a name"),
              std::string::npos)
        << e.what();
  }
}

TEST(ChatTemplate, PassesTransformersVariables) {
  const ChatTemplate chat = ChatTemplate::from_string(
      "{{ tools is none }}{{ documents is none }}{{ add_generation_prompt }}{{ enable_thinking is "
      "defined }}"
      "{{ bos_token }}{{ eos_token }}",
      "<B>", "<E>");
  EXPECT_EQ(render(chat, kHello), "TrueTrueTrueFalse<B><E>");

  TemplateOptions options;
  options.add_generation_prompt = false;
  options.tools = Json::array({Json{{"name", "f"}}});
  options.extra = Json{{"enable_thinking", false}, {"eos_token", "<override>"}};
  EXPECT_EQ(render(chat, kHello, options), "FalseTrueFalseTrue<B><override>");
}

TEST(ChatTemplate, ToolsKeepTheirKeyOrder) {
  const ChatTemplate chat = ChatTemplate::from_string("{{ tools[0] | tojson }}");
  TemplateOptions options;
  options.tools =
      Json::parse(R"([{"type": "function", "function": {"name": "z", "description": "a"}}])");
  EXPECT_EQ(render(chat, kHello, options),
            R"({"type": "function", "function": {"name": "z", "description": "a"}})");
}

TEST(ChatTemplate, RejectsBadRenderInput) {
  const ChatTemplate chat = ChatTemplate::from_string("x");
  EXPECT_THROW(render(chat, Json::object()), Error);
  Json deep = "leaf";
  for (int i = 0; i < 100; ++i) deep = Json::array({deep});
  EXPECT_THROW(render(chat, Json::array({Json{{"role", "user"}, {"content", deep}}})), Error);
}

TEST(Messages, ImageUrlPartsBecomeImagesInOrder) {
  const Json openai = Json::parse(R"([
    {"role": "system", "content": "sys"},
    {"role": "user", "content": [
      {"type": "text", "text": "look"},
      {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA", "detail": "high"}},
      {"type": "image_url", "image_url": "second.png"}]},
    {"role": "assistant", "content": null, "tool_calls": [{"id": "1"}]}])");
  std::vector<std::string> urls;
  const Json converted = to_template_messages(openai, &urls);
  EXPECT_EQ(urls, (std::vector<std::string>{"data:image/png;base64,AAA", "second.png"}));
  EXPECT_EQ(converted[0], openai[0]);
  EXPECT_EQ(converted[1]["content"], Json::parse(R"([
      {"type": "text", "text": "look"},
      {"type": "image", "url": "data:image/png;base64,AAA"},
      {"type": "image", "url": "second.png"}])"));
  EXPECT_EQ(converted[2], openai[2]);
  EXPECT_NO_THROW(to_template_messages(openai, nullptr));
}

TEST(Messages, MalformedMessagesNameIndexAndField) {
  auto error_of = [](const char* json) -> std::string {
    try {
      to_template_messages(Json::parse(json), nullptr);
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
      return e.what();
    }
    return "no error";
  };
  EXPECT_EQ(error_of(R"({"role": "user"})"), "messages: expected a list");
  EXPECT_EQ(error_of(R"([{"role": "user", "content": "a"}, 5])"),
            "messages[1]: expected an object");
  EXPECT_EQ(error_of(R"([{"content": "a"}])"), "messages[0].role: expected a string");
  EXPECT_EQ(error_of(R"([{"role": "robot", "content": "a"}])"),
            "messages[0].role: unknown role \"robot\" (expected system, developer, user, assistant "
            "or tool)");
  EXPECT_EQ(error_of(R"([{"role": "user", "content": 3}])"),
            "messages[0].content: expected a string, null or a list of parts");
  EXPECT_EQ(error_of(R"([{"role": "user", "content": [{"type": "audio"}]}])"),
            "messages[0].content[0].type: unsupported content part type \"audio\" (expected "
            "\"text\" or \"image_url\")");
  EXPECT_EQ(error_of(R"([{"role": "user", "content": [{"type": "text"}]}])"),
            "messages[0].content[0].text: expected a string");
  EXPECT_EQ(
      error_of(
          R"([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": 1}}]}])"),
      "messages[0].content[0].image_url.url: expected a string");
}

}  // namespace
}  // namespace glimpse::io
