// Python's json.dumps as transformers' tojson filter calls it (ensure_ascii=False by default).
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "io/jinja/builtins.h"
#include "io/jinja/text.h"

namespace glimpse::io::jinja {
namespace {

struct JsonStyle {
  bool pretty = false;  // indent given: newlines between items
  std::string indent;
  std::string item_separator = ", ";
  std::string key_separator = ": ";
  bool ensure_ascii = false;
  bool sort_keys = false;
};

void append_string(std::string& out, const std::string& text, bool ensure_ascii) {
  out += '"';
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t start = pos;
    const uint32_t cp = next_code_point(text, &pos);
    switch (cp) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      case '\b':
        out += "\\b";
        continue;
      case '\f':
        out += "\\f";
        continue;
      default:
        break;
    }
    if (cp < 0x20 || (ensure_ascii && cp > 0x7E)) {
      if (cp >= 0x10000) {
        const uint32_t v = cp - 0x10000;
        out += fmt::format("\\u{:04x}\\u{:04x}", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
      } else {
        out += fmt::format("\\u{:04x}", cp);
      }
    } else {
      out.append(text, start, pos - start);
    }
  }
  out += '"';
}

void append_json(std::string& out, const Json& j, const JsonStyle& style, int level,
                 Budget& budget) {
  budget.check_size(out.size());
  budget.step();
  auto newline = [&](int depth) {
    if (!style.pretty) return;
    const size_t indent_bytes = static_cast<size_t>(depth) * style.indent.size();
    budget.check_size(out.size() + 1 + indent_bytes);
    budget.step(1 + indent_bytes / 64);
    out += '\n';
    for (int i = 0; i < depth; ++i) out += style.indent;
  };
  switch (j.type()) {
    case Json::value_t::null:
      out += "null";
      return;
    case Json::value_t::boolean:
      out += j.get<bool>() ? "true" : "false";
      return;
    case Json::value_t::number_integer:
      out += std::to_string(j.get<int64_t>());
      return;
    case Json::value_t::number_unsigned:
      out += std::to_string(j.get<uint64_t>());
      return;
    case Json::value_t::number_float: {
      const double d = j.get<double>();
      if (std::isnan(d))
        out += "NaN";
      else if (std::isinf(d))
        out += d > 0 ? "Infinity" : "-Infinity";
      else
        out += float_repr(d);
      return;
    }
    case Json::value_t::string:
      append_string(out, j.get_ref<const std::string&>(), style.ensure_ascii);
      return;
    case Json::value_t::array: {
      if (j.empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (size_t i = 0; i < j.size(); ++i) {
        if (i > 0) out += style.item_separator;
        newline(level + 1);
        append_json(out, j[i], style, level + 1, budget);
      }
      newline(level);
      out += ']';
      return;
    }
    case Json::value_t::object: {
      if (j.empty()) {
        out += "{}";
        return;
      }
      std::vector<Json::const_iterator> members;
      for (auto it = j.begin(); it != j.end(); ++it) members.push_back(it);
      if (style.sort_keys)
        std::stable_sort(members.begin(), members.end(),
                         [](const auto& a, const auto& b) { return a.key() < b.key(); });
      out += '{';
      for (size_t i = 0; i < members.size(); ++i) {
        if (i > 0) out += style.item_separator;
        newline(level + 1);
        append_string(out, members[i].key(), style.ensure_ascii);
        out += style.key_separator;
        append_json(out, members[i].value(), style, level + 1, budget);
      }
      newline(level);
      out += '}';
      return;
    }
    default:
      fail(ErrorKind::kInvalidArgument, "Object of type bytes is not JSON serializable");
  }
}

}  // namespace

std::string to_json(const Value& v, const Value* indent, bool ensure_ascii, bool sort_keys,
                    const Value* separators, Budget& budget) {
  if (!v.is_json())
    fail(ErrorKind::kInvalidArgument, "Object of type {} is not JSON serializable", type_name(v));
  JsonStyle style;
  style.ensure_ascii = ensure_ascii;
  style.sort_keys = sort_keys;
  if (indent && !is_none(*indent)) {
    style.pretty = true;
    style.item_separator = ",";
    if (is_string(*indent)) {
      style.indent = indent->json().get<std::string>();
    } else {
      const int64_t width = as_int(*indent, "tojson() indent");
      if (width > 1024) fail(ErrorKind::kLimitExceeded, "tojson() indent {} is too large", width);
      style.indent.assign(static_cast<size_t>(std::max<int64_t>(width, 0)), ' ');
    }
  }
  if (separators && !is_none(*separators)) {
    const std::vector<Value> parts =
        is_list(*separators) ? iterate(*separators) : std::vector<Value>{};
    if (parts.size() != 2)
      fail(ErrorKind::kInvalidArgument, "tojson() separators must be a pair of strings");
    style.item_separator = as_string(parts[0], "tojson() item separator");
    style.key_separator = as_string(parts[1], "tojson() key separator");
  }
  std::string out;
  append_json(out, v.json(), style, 0, budget);
  return out;
}

}  // namespace glimpse::io::jinja
