#include "io/jinja/value.h"

#include <cmath>

#include "core/error.h"

namespace glimpse::io::jinja {

Value Value::element(size_t index) const {
  return Value(std::shared_ptr<const Json>(json_, &(*json_)[index]));
}

Value Value::member(const Json::object_t::const_iterator& it) const {
  return Value(std::shared_ptr<const Json>(json_, &it->second));
}

std::string type_name(const Value& value) {
  if (value.is_undefined()) return "Undefined";
  if (value.is_object()) return value.object()->type_name();
  switch (value.json().type()) {
    case Json::value_t::null:
      return "NoneType";
    case Json::value_t::boolean:
      return "bool";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return "int";
    case Json::value_t::number_float:
      return "float";
    case Json::value_t::string:
      return "str";
    case Json::value_t::array:
      return "list";
    case Json::value_t::object:
      return "dict";
    default:
      return "bytes";
  }
}

bool is_string(const Value& v) {
  return v.is_json() && v.json().is_string();
}
bool is_number(const Value& v) {
  return v.is_json() && (v.json().is_number() || v.json().is_boolean());
}
bool is_mapping(const Value& v) {
  return v.is_json() && v.json().is_object();
}
bool is_list(const Value& v) {
  return v.is_json() && v.json().is_array();
}
bool is_none(const Value& v) {
  return v.is_json() && v.json().is_null();
}

bool truthy(const Value& value) {
  if (value.is_undefined()) return false;
  if (value.is_object()) return true;
  const Json& j = value.json();
  switch (j.type()) {
    case Json::value_t::null:
      return false;
    case Json::value_t::boolean:
      return j.get<bool>();
    case Json::value_t::number_integer:
      return j.get<int64_t>() != 0;
    case Json::value_t::number_unsigned:
      return j.get<uint64_t>() != 0;
    case Json::value_t::number_float:
      return j.get<double>() != 0.0;
    case Json::value_t::string:
      return !j.get_ref<const std::string&>().empty();
    case Json::value_t::array:
    case Json::value_t::object:
      return !j.empty();
    default:
      return true;
  }
}

std::string float_repr(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  // nlohmann writes the shortest round-trip digits with Python's exponent style ("1e+16",
  // "1e-05") and keeps ".0" on integral values, which is exactly Python's float repr.
  return Json(value).dump();
}

namespace {

void append_repr_string(std::string& out, const std::string& text) {
  // Python prefers single quotes, and switches to double quotes when the text has a single
  // quote but no double quote.
  const bool has_single = text.find('\'') != std::string::npos;
  const bool has_double = text.find('"') != std::string::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  out += quote;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == quote || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (byte < 0x20 || byte == 0x7F) {
      out += fmt::format("\\x{:02x}", byte);
    } else {
      out += c;
    }
  }
  out += quote;
}

void append_repr(std::string& out, const Json& json) {
  switch (json.type()) {
    case Json::value_t::null:
      out += "None";
      return;
    case Json::value_t::boolean:
      out += json.get<bool>() ? "True" : "False";
      return;
    case Json::value_t::number_integer:
      out += std::to_string(json.get<int64_t>());
      return;
    case Json::value_t::number_unsigned:
      out += std::to_string(json.get<uint64_t>());
      return;
    case Json::value_t::number_float:
      out += float_repr(json.get<double>());
      return;
    case Json::value_t::string:
      append_repr_string(out, json.get_ref<const std::string&>());
      return;
    case Json::value_t::array: {
      out += '[';
      bool first = true;
      for (const Json& item : json) {
        if (!first) out += ", ";
        first = false;
        append_repr(out, item);
      }
      out += ']';
      return;
    }
    case Json::value_t::object: {
      out += '{';
      bool first = true;
      for (const auto& [key, item] : json.items()) {
        if (!first) out += ", ";
        first = false;
        append_repr_string(out, key);
        out += ": ";
        append_repr(out, item);
      }
      out += '}';
      return;
    }
    default:
      fail(ErrorKind::kUnsupported, "cannot print a binary value");
  }
}

}  // namespace

std::string python_repr(const Json& json) {
  std::string out;
  append_repr(out, json);
  return out;
}

std::string to_str(const Value& value) {
  if (value.is_undefined()) return "";
  if (value.is_object()) {
    if (const auto* ns = dynamic_cast<const Namespace*>(value.object())) {
      std::string out = "<Namespace {";
      bool first = true;
      for (const auto& [key, item] : ns->attributes) {
        if (!first) out += ", ";
        first = false;
        append_repr_string(out, key);
        out += ": ";
        out += item.is_json() ? python_repr(item.json()) : to_str(item);
      }
      return out + "}>";
    }
    return "<" + value.object()->type_name() + ">";
  }
  const Json& j = value.json();
  if (j.is_string()) return j.get<std::string>();
  return python_repr(j);
}

bool json_equals(const Json& a, const Json& b) {
  const bool a_number = a.is_number() || a.is_boolean();
  const bool b_number = b.is_number() || b.is_boolean();
  if (a_number && b_number) {
    if (a.is_number_float() || b.is_number_float()) {
      auto as_double = [](const Json& j) {
        return j.is_boolean() ? (j.get<bool>() ? 1.0 : 0.0) : j.get<double>();
      };
      return as_double(a) == as_double(b);
    }
    auto as_int = [](const Json& j) -> __int128 {
      if (j.is_boolean()) return j.get<bool>() ? 1 : 0;
      if (j.is_number_unsigned()) return j.get<uint64_t>();
      return j.get<int64_t>();
    };
    return as_int(a) == as_int(b);
  }
  if (a.type() != b.type()) return false;
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (!json_equals(a[i], b[i])) return false;
    return true;
  }
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (const auto& [key, item] : a.items()) {
      const auto it = b.find(key);
      if (it == b.end() || !json_equals(item, *it)) return false;
    }
    return true;
  }
  return a == b;
}

bool equals(const Value& a, const Value& b) {
  if (a.is_json() && b.is_json()) return json_equals(a.json(), b.json());
  if (a.is_object() || b.is_object()) return a.object() == b.object();
  return a.is_undefined() && b.is_undefined();
}

}  // namespace glimpse::io::jinja
