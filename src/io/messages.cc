#include "io/messages.h"

#include <algorithm>
#include <string_view>

#include "core/error.h"

namespace glimpse::io {
namespace {

// {"type": "image_url", "image_url": {"url": U}} or {"type": "image_url", "image_url": U}.
std::string image_url_of(const nlohmann::ordered_json& part, const std::string& where) {
  const auto it = part.find("image_url");
  if (it == part.end()) fail(ErrorKind::kInvalidArgument, "{}: missing \"image_url\"", where);
  if (it->is_string()) return it->get<std::string>();
  if (!it->is_object())
    fail(ErrorKind::kInvalidArgument, "{}.image_url: expected an object or a string", where);
  const auto url = it->find("url");
  if (url == it->end() || !url->is_string())
    fail(ErrorKind::kInvalidArgument, "{}.image_url.url: expected a string", where);
  return url->get<std::string>();
}

nlohmann::ordered_json convert_part(const nlohmann::ordered_json& part, const std::string& where,
                                    std::vector<std::string>* image_urls) {
  if (!part.is_object()) fail(ErrorKind::kInvalidArgument, "{}: expected an object", where);
  const auto type = part.find("type");
  if (type == part.end() || !type->is_string())
    fail(ErrorKind::kInvalidArgument, "{}.type: expected a string", where);
  const std::string& kind = type->get_ref<const std::string&>();
  if (kind == "image_url") {
    std::string url = image_url_of(part, where);
    if (image_urls) image_urls->push_back(url);
    // transformers' processor keeps only the type and the url.
    return nlohmann::ordered_json{{"type", "image"}, {"url", std::move(url)}};
  }
  if (kind == "text") {
    const auto text = part.find("text");
    if (text == part.end() || !text->is_string())
      fail(ErrorKind::kInvalidArgument, "{}.text: expected a string", where);
    return part;
  }
  fail(ErrorKind::kInvalidArgument,
       "{}.type: unsupported content part type \"{}\" (expected \"text\" or \"image_url\")", where,
       kind);
}

}  // namespace

nlohmann::ordered_json to_template_messages(const nlohmann::ordered_json& openai_messages,
                                            std::vector<std::string>* image_urls) {
  if (!openai_messages.is_array()) fail(ErrorKind::kInvalidArgument, "messages: expected a list");
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  for (size_t i = 0; i < openai_messages.size(); ++i) {
    const auto& message = openai_messages[i];
    const std::string where = fmt::format("messages[{}]", i);
    if (!message.is_object()) fail(ErrorKind::kInvalidArgument, "{}: expected an object", where);
    const auto role = message.find("role");
    if (role == message.end() || !role->is_string())
      fail(ErrorKind::kInvalidArgument, "{}.role: expected a string", where);
    static constexpr std::string_view kRoles[] = {"system", "developer", "user", "assistant",
                                                  "tool"};
    if (std::find(std::begin(kRoles), std::end(kRoles), role->get_ref<const std::string&>()) ==
        std::end(kRoles))
      fail(ErrorKind::kInvalidArgument,
           "{}.role: unknown role \"{}\" (expected system, developer, user, assistant or tool)",
           where, role->get<std::string>());
    const auto content = message.find("content");
    if (content == message.end() || content->is_string() || content->is_null()) {
      messages.push_back(message);
      continue;
    }
    if (!content->is_array())
      fail(ErrorKind::kInvalidArgument, "{}.content: expected a string, null or a list of parts",
           where);
    nlohmann::ordered_json converted = message;
    nlohmann::ordered_json& parts = converted["content"];
    for (size_t p = 0; p < content->size(); ++p)
      parts[p] = convert_part((*content)[p], fmt::format("{}.content[{}]", where, p), image_urls);
    messages.push_back(std::move(converted));
  }
  return messages;
}

}  // namespace glimpse::io
