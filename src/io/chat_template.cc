#include "io/chat_template.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "io/jinja/template.h"

namespace glimpse::io {
namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::kIo, "{}: cannot open", path.string());
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) fail(ErrorKind::kIo, "{}: read failed", path.string());
  return buffer.str();
}

// tokenizer_config.json's special tokens are strings or AddedToken objects {"content": ...}.
void collect_special_tokens(const nlohmann::ordered_json& config, nlohmann::ordered_json& tokens) {
  static constexpr const char* kSpecialTokens[] = {
      "bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"};
  for (const char* name : kSpecialTokens) {
    const auto it = config.find(name);
    if (it == config.end() || it->is_null()) continue;
    if (it->is_string()) {
      tokens[name] = *it;
    } else if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
      tokens[name] = (*it)["content"];
    } else {
      fail(ErrorKind::kCorrupt, "\"{}\" must be a string or an object with \"content\"", name);
    }
  }
}

// "chat_template" is a string, or a list of {"name", "template"} where "default" is used.
std::string template_from_config(const nlohmann::ordered_json& config) {
  const auto it = config.find("chat_template");
  if (it == config.end() || it->is_null()) fail(ErrorKind::kNotFound, "no \"chat_template\"");
  if (it->is_string()) return it->get<std::string>();
  if (!it->is_array()) fail(ErrorKind::kCorrupt, "\"chat_template\" must be a string or a list");
  for (size_t i = 0; i < it->size(); ++i) {
    const auto& entry = (*it)[i];
    if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string() ||
        !entry.contains("template") || !entry["template"].is_string())
      fail(ErrorKind::kCorrupt,
           "\"chat_template\"[{}] must be {{\"name\": str, \"template\": str}}", i);
    if (entry["name"] == "default") return entry["template"].get<std::string>();
  }
  fail(ErrorKind::kNotFound, "\"chat_template\" has no template named \"default\"");
}

// Deeply nested JSON would recurse deeply when printed; real messages nest a few levels.
void check_depth(const nlohmann::ordered_json& value, int depth, const char* what) {
  constexpr int kMaxDepth = 64;
  if (depth > kMaxDepth)
    fail(ErrorKind::kLimitExceeded, "{} nested deeper than {} levels", what, kMaxDepth);
  if (value.is_array() || value.is_object())
    for (const auto& item : value) check_depth(item, depth + 1, what);
}

}  // namespace

ChatTemplate::ChatTemplate(std::unique_ptr<jinja::Template> parsed,
                           nlohmann::ordered_json special_tokens)
    : template_(std::move(parsed)), special_tokens_(std::move(special_tokens)) {}
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;
ChatTemplate::~ChatTemplate() = default;

ChatTemplate ChatTemplate::from_string(std::string source, std::string bos_token,
                                       std::string eos_token) {
  auto parsed =
      with_context("chat template", [&] { return std::make_unique<jinja::Template>(source); });
  nlohmann::ordered_json tokens = nlohmann::ordered_json::object();
  tokens["bos_token"] = std::move(bos_token);
  tokens["eos_token"] = std::move(eos_token);
  return ChatTemplate(std::move(parsed), std::move(tokens));
}

ChatTemplate ChatTemplate::from_model_dir(const std::string& dir) {
  const std::filesystem::path root(dir);
  const std::filesystem::path config_path = root / "tokenizer_config.json";
  nlohmann::ordered_json config = nlohmann::ordered_json::object();
  if (std::filesystem::exists(config_path)) {
    try {
      config = nlohmann::ordered_json::parse(read_file(config_path));
    } catch (const nlohmann::json::exception& e) {
      fail(ErrorKind::kCorrupt, "{}: {}", config_path.string(), e.what());
    }
    if (!config.is_object())
      fail(ErrorKind::kCorrupt, "{}: not a JSON object", config_path.string());
  }
  nlohmann::ordered_json tokens = nlohmann::ordered_json::object();
  with_context(config_path.string(), [&] { collect_special_tokens(config, tokens); });

  const std::filesystem::path jinja_path = root / "chat_template.jinja";
  std::string source;
  std::string origin;
  if (std::filesystem::exists(jinja_path)) {
    source = read_file(jinja_path);
    origin = jinja_path.string();
  } else if (std::filesystem::exists(config_path)) {
    origin = config_path.string();
    source = with_context(origin, [&] { return template_from_config(config); });
  } else {
    fail(ErrorKind::kNotFound, "{}: no chat_template.jinja or tokenizer_config.json", dir);
  }
  auto parsed = with_context(origin, [&] { return std::make_unique<jinja::Template>(source); });
  return ChatTemplate(std::move(parsed), std::move(tokens));
}

std::string ChatTemplate::render(const nlohmann::ordered_json& template_messages,
                                 const TemplateOptions& options) const {
  if (!template_messages.is_array()) fail(ErrorKind::kInvalidArgument, "messages must be a list");
  check_depth(template_messages, 0, "messages");
  check_depth(options.tools, 0, "tools");
  check_depth(options.extra, 0, "chat_template_kwargs");
  if (!options.extra.is_object())
    fail(ErrorKind::kInvalidArgument, "chat_template_kwargs must be an object");
  // The same variables transformers passes: special tokens first, overridden by the kwargs.
  nlohmann::ordered_json variables = special_tokens_;
  variables["messages"] = template_messages;
  variables["tools"] = options.tools;
  variables["documents"] = nullptr;
  variables["add_generation_prompt"] = options.add_generation_prompt;
  for (const auto& [name, value] : options.extra.items()) variables[name] = value;
  return with_context("chat template", [&] { return template_->render(std::move(variables)); });
}

}  // namespace glimpse::io
