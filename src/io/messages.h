// OpenAI chat messages → the messages a chat template sees, as transformers 5.17's processor
// apply_chat_template prepares them.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace glimpse::io {

// Each message must be an object with a string "role" and a "content" that is a string, null, or
// a list of parts. Parts {"type": "image_url", "image_url": {"url": U}} (or "image_url": U)
// become {"type": "image", "url": U}, in order; other parts ({"type": "text", "text": ...}, ...)
// and string content are kept as they are, as are other message fields (tool_calls,
// reasoning_content, ...). Appends each image URL, in order, to *image_urls when it is not null.
// Malformed input throws Error (kInvalidArgument) naming the message index and field, e.g.
// "messages[2].content[1].image_url.url: expected a string".
nlohmann::ordered_json to_template_messages(const nlohmann::ordered_json& openai_messages,
                                            std::vector<std::string>* image_urls);

}  // namespace glimpse::io
