// A model's chat template (HF `chat_template.jinja`, or `chat_template` in tokenizer_config.json)
// rendered by glimpse's Jinja interpreter (src/io/jinja/) with the same variables and results as
// transformers 5.17's apply_chat_template: messages, tools, documents (none),
// add_generation_prompt, the tokenizer's special tokens (bos_token, eos_token, ...) and any extra
// chat_template_kwargs such as enable_thinking.
//
// JSON values are nlohmann::ordered_json so that objects keep their key order, as Python dicts do
// (a template that prints `tool | tojson` must see the keys in the order the client sent them).
// A plain nlohmann::json converts implicitly, but its keys are already sorted.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

namespace glimpse::io {

namespace jinja {
class Template;  // src/io/jinja/template.h: a parsed template
}

struct TemplateOptions {
  bool add_generation_prompt = true;
  nlohmann::ordered_json tools;                                     // null when none
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();  // chat_template_kwargs
};

class ChatTemplate {
 public:
  // DIR/chat_template.jinja if present, else tokenizer_config.json's "chat_template" (a string, or
  // a list of {"name", "template"} of which "default" is used). Special tokens (bos_token,
  // eos_token, pad_token, ...) come from tokenizer_config.json. Throws Error naming the file.
  static ChatTemplate from_model_dir(const std::string& dir);
  // Parses `source`; a syntax error throws Error (kInvalidArgument) with "line L, column C".
  static ChatTemplate from_string(std::string source, std::string bos_token = "",
                                  std::string eos_token = "");

  // Renders template messages (see to_template_messages in messages.h). `options.extra` entries
  // are template variables and override the special tokens, as kwargs do in transformers. A
  // template error (raise_exception, a type error, a work bound) throws Error with its position.
  std::string render(const nlohmann::ordered_json& template_messages,
                     const TemplateOptions& options) const;

  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;
  ~ChatTemplate();

 private:
  ChatTemplate(std::unique_ptr<jinja::Template> parsed, nlohmann::ordered_json special_tokens);
  std::unique_ptr<jinja::Template> template_;
  nlohmann::ordered_json special_tokens_;  // {"bos_token": "...", ...}
};

}  // namespace glimpse::io
