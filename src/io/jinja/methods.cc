// The str and dict methods templates call (`content.split('</think>')`, `message.get('x')`).
// Mutating methods (list.append, dict.update, ...) are absent: transformers' sandbox forbids
// them too.
#include <algorithm>

#include "core/error.h"
#include "io/jinja/builtins.h"
#include "io/jinja/text.h"

namespace glimpse::io::jinja {
namespace {

Value string_list(const std::vector<std::string>& parts, Budget& budget) {
  budget.charge_size(parts.size());
  Json out = Json::array();
  for (const std::string& part : parts) out.push_back(part);
  return Value(std::move(out));
}

std::optional<std::string> optional_chars(const ArgBinder& b, size_t index, std::string_view what) {
  if (!b.get(index) || is_none(*b.get(index))) return std::nullopt;
  return as_string(*b.get(index), what);
}

// startswith/endswith accept one string or a tuple (a list here) of strings.
bool affix_matches(const std::string& text, const Value& affixes, bool prefix,
                   std::string_view what) {
  std::vector<std::string> candidates;
  if (is_list(affixes)) {
    for (const Value& item : iterate(affixes)) candidates.push_back(as_string(item, what));
  } else {
    candidates.push_back(as_string(affixes, what));
  }
  return std::any_of(candidates.begin(), candidates.end(), [&](const std::string& affix) {
    if (affix.size() > text.size()) return false;
    return prefix ? text.compare(0, affix.size(), affix) == 0
                  : text.compare(text.size() - affix.size(), affix.size(), affix) == 0;
  });
}

// Python's str.find returns a code point index.
int64_t code_point_index(const std::string& text, size_t byte_offset) {
  if (byte_offset == std::string::npos) return -1;
  return static_cast<int64_t>(code_point_count(std::string_view(text).substr(0, byte_offset)));
}

Value string_method(const std::string& text, std::string_view name, const Args& args,
                    Budget& budget) {
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    ArgBinder b(name, args, {"chars"});
    return Value(Json(python_strip(text, optional_chars(b, 0, "strip() chars"), name != "rstrip",
                                   name != "lstrip")));
  }
  if (name == "split" || name == "rsplit") {
    ArgBinder b(name, args, {"sep", "maxsplit"});
    return string_list(
        python_split(text, optional_chars(b, 0, "split() sep"), b.int_or(1, -1), name == "rsplit"),
        budget);
  }
  if (name == "splitlines") {
    ArgBinder b(name, args, {});
    return string_list(python_splitlines(text), budget);
  }
  if (name == "startswith" || name == "endswith") {
    ArgBinder b(name, args, {name == "startswith" ? "prefix" : "suffix"});
    return Value(affix_matches(text, b.required(0), name == "startswith", name));
  }
  if (name == "replace") {
    ArgBinder b(name, args, {"old", "new", "count"});
    const std::string& old_text = as_string(b.required(0), "replace() old");
    const std::string& new_text = as_string(b.required(1), "replace() new");
    const size_t occurrences =
        old_text.empty() ? code_point_count(text) + 1 : text.size() / old_text.size();
    budget.charge_size(text.size() + occurrences * new_text.size());
    return Value(Json(python_replace(text, old_text, new_text, b.int_or(2, -1))));
  }
  if (name == "upper" || name == "lower" || name == "title" || name == "capitalize") {
    ArgBinder b(name, args, {});
    if (name == "upper") return Value(Json(unicode_upper(text)));
    if (name == "lower") return Value(Json(unicode_lower(text)));
    if (name == "title") return Value(Json(python_title(text)));
    return Value(Json(python_capitalize(text)));
  }
  if (name == "find" || name == "rfind") {
    ArgBinder b(name, args, {"sub"});
    const std::string& sub = as_string(b.required(0), "find() sub");
    return Value(code_point_index(text, name == "find" ? text.find(sub) : text.rfind(sub)));
  }
  if (name == "count") {
    ArgBinder b(name, args, {"sub"});
    const std::string& sub = as_string(b.required(0), "count() sub");
    if (sub.empty()) return Value(static_cast<int64_t>(code_point_count(text) + 1));
    int64_t count = 0;
    for (size_t at = text.find(sub); at != std::string::npos; at = text.find(sub, at + sub.size()))
      ++count;
    return Value(count);
  }
  if (name == "join") {
    ArgBinder b(name, args, {"iterable"});
    std::string out;
    bool first = true;
    for (const Value& item : iterate(b.required(0))) {
      if (!first) out += text;
      first = false;
      out += as_string(item, "join() item");
      budget.check_size(out.size());
    }
    budget.charge_size(out.size());
    return Value(Json(std::move(out)));
  }
  if (name == "isdigit" || name == "isspace" || name == "isalpha" || name == "isalnum") {
    ArgBinder b(name, args, {});
    if (text.empty()) return Value(false);
    const std::vector<Value> chars = iterate(Value(Json(text)));
    return Value(std::all_of(chars.begin(), chars.end(), [&](const Value& c) {
      const std::string& s = c.json().get_ref<const std::string&>();
      size_t pos = 0;
      const uint32_t cp = next_code_point(s, &pos);
      if (name == "isspace") return is_python_space(cp);
      const bool digit = cp >= '0' && cp <= '9';
      const bool alpha = (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
      if (name == "isdigit") return digit;
      if (name == "isalpha") return alpha;
      return digit || alpha;
    }));
  }
  if (name == "format")
    fail(ErrorKind::kUnsupported, "str.format() is not supported; use ~ to build strings");
  return Value();
}

Value dict_method(const Value& dict, std::string_view name, const Args& args, Budget& budget) {
  const Json& j = dict.json();
  if (name == "items" || name == "keys" || name == "values") {
    ArgBinder b(name, args, {});
    budget.charge_size(j.size());
    Json out = Json::array();
    for (const auto& [key, item] : j.items()) {
      if (name == "items")
        out.push_back(Json::array({key, item}));
      else if (name == "keys")
        out.push_back(key);
      else
        out.push_back(item);
    }
    return Value(std::move(out));
  }
  if (name == "get") {
    ArgBinder b(name, args, {"key", "default"});
    const Value& key = b.required(0);
    if (is_string(key)) {
      const auto it = j.find(key.json().get_ref<const std::string&>());
      if (it != j.end()) return Value(std::shared_ptr<const Json>(dict.json_ptr(), &*it));
    }
    return b.get(1) ? *b.get(1) : Value(Json(nullptr));
  }
  return Value();
}

}  // namespace

Value call_method(const Value& receiver, std::string_view name, const Args& args, Budget& budget) {
  if (is_string(receiver))
    return string_method(receiver.json().get_ref<const std::string&>(), name, args, budget);
  if (is_mapping(receiver)) return dict_method(receiver, name, args, budget);
  return Value();
}

}  // namespace glimpse::io::jinja
