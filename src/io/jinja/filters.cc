// Jinja's built-in filters (the subset chat templates use), with Jinja 3.1 semantics, and
// transformers' tojson.
#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "core/error.h"
#include "io/jinja/builtins.h"
#include "io/jinja/operators.h"
#include "io/jinja/text.h"

namespace glimpse::io::jinja {
namespace {

Value string_value(std::string text, Budget& budget) {
  budget.charge_size(text.size());
  return Value(Json(std::move(text)));
}

Value list_value(const std::vector<Value>& items, std::string_view where, Budget& budget) {
  budget.charge_size(items.size());
  Json out = Json::array();
  for (const Value& item : items) out.push_back(to_data(item, where));
  return Value(std::move(out));
}

// Jinja's attribute lookup for filters: "a.b" walks dicts, "0" indexes lists.
Value lookup_attribute(const Value& item, const std::string& path) {
  Value current = item;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string part =
        path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    const bool numeric = !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit);
    if (numeric && part.size() < 10)
      current = subscript(current, Value(Json(std::stoll(part))));
    else
      current = current.is_undefined() ? current : subscript(current, Value(Json(part)));
    if (dot == std::string::npos) return current;
    start = dot + 1;
  }
}

Value filter_length(const Value& v, const Args& args, Budget&) {
  ArgBinder("length", args, {});
  if (v.is_undefined()) return Value(Json(int64_t{0}));
  if (is_string(v))
    return Value(static_cast<int64_t>(code_point_count(v.json().get_ref<const std::string&>())));
  if (is_list(v) || is_mapping(v)) return Value(static_cast<int64_t>(v.json().size()));
  fail(ErrorKind::kInvalidArgument, "object of type '{}' has no len()", type_name(v));
}

Value filter_string(const Value& v, const Args& args, Budget& budget) {
  ArgBinder("string", args, {});
  return string_value(to_str(v), budget);
}

Value filter_safe(const Value& v, const Args& args, Budget&) {
  ArgBinder("safe", args, {});
  return v;
}

Value filter_trim(const Value& v, const Args& args, Budget& budget) {
  ArgBinder b("trim", args, {"chars"});
  std::optional<std::string> chars;
  if (b.get(0) && !is_none(*b.get(0))) chars = as_string(*b.get(0), "trim() chars");
  return string_value(python_strip(to_str(v), chars, true, true), budget);
}

Value filter_upper(const Value& v, const Args& args, Budget& budget) {
  ArgBinder("upper", args, {});
  return string_value(unicode_upper(to_str(v)), budget);
}
Value filter_lower(const Value& v, const Args& args, Budget& budget) {
  ArgBinder("lower", args, {});
  return string_value(unicode_lower(to_str(v)), budget);
}
// Jinja's title filter is not str.title: it splits on runs of whitespace, "-", "(", "{", "[" and
// "<", and upper-cases the first character of each piece, lower-casing the rest.
Value filter_title(const Value& v, const Args& args, Budget& budget) {
  ArgBinder("title", args, {});
  const std::string text = to_str(v);
  std::string out;
  bool at_word_start = true;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t start = pos;
    const uint32_t cp = next_code_point(text, &pos);
    const std::string_view piece = std::string_view(text).substr(start, pos - start);
    const bool separator =
        is_python_space(cp) || cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<';
    out += separator       ? std::string(piece)
           : at_word_start ? unicode_upper(piece)
                           : unicode_lower(piece);
    at_word_start = separator;
  }
  return string_value(std::move(out), budget);
}
Value filter_capitalize(const Value& v, const Args& args, Budget& budget) {
  ArgBinder("capitalize", args, {});
  return string_value(python_capitalize(to_str(v)), budget);
}

Value filter_replace(const Value& v, const Args& args, Budget& budget) {
  ArgBinder b("replace", args, {"old", "new", "count"});
  const std::string& old_text = as_string(b.required(0), "replace() old");
  const std::string& new_text = as_string(b.required(1), "replace() new");
  const std::string text = to_str(v);
  // Bound the result before building it: at most this many replacements can happen.
  const size_t occurrences =
      old_text.empty() ? code_point_count(text) + 1 : text.size() / old_text.size();
  budget.charge_size(text.size() + occurrences * new_text.size());
  return string_value(python_replace(text, old_text, new_text, b.int_or(2, -1)), budget);
}

Value filter_default(const Value& v, const Args& args, Budget&) {
  ArgBinder b("default", args, {"default_value", "boolean"});
  const bool use_default = b.bool_or(1, false) ? !truthy(v) : v.is_undefined();
  if (!use_default) return v;
  return b.get(0) ? *b.get(0) : Value(Json(""));
}

Value filter_first(const Value& v, const Args& args, Budget&) {
  ArgBinder("first", args, {});
  if (is_list(v)) {
    if (v.json().empty()) return Value::undefined("No first item, sequence was empty.");
    return v.element(0);
  }
  const std::vector<Value> items = iterate(v);
  if (items.empty()) return Value::undefined("No first item, sequence was empty.");
  return items.front();
}

Value filter_last(const Value& v, const Args& args, Budget&) {
  ArgBinder("last", args, {});
  if (is_mapping(v)) fail(ErrorKind::kInvalidArgument, "'dict' object is not reversible");
  if (is_list(v)) {
    if (v.json().empty()) return Value::undefined("No last item, sequence was empty.");
    return v.element(v.json().size() - 1);
  }
  const std::vector<Value> items = iterate(v);
  if (items.empty()) return Value::undefined("No last item, sequence was empty.");
  return items.back();
}

Value filter_list(const Value& v, const Args& args, Budget& budget) {
  ArgBinder("list", args, {});
  if (is_list(v)) return v;
  return list_value(iterate(v), "a list", budget);
}

Value filter_reverse(const Value& v, const Args& args, Budget& budget) {
  ArgBinder("reverse", args, {});
  if (is_string(v)) {
    std::vector<Value> chars = iterate(v);
    std::string out;
    for (auto it = chars.rbegin(); it != chars.rend(); ++it)
      out += it->json().get_ref<const std::string&>();
    return string_value(std::move(out), budget);
  }
  if (is_mapping(v)) fail(ErrorKind::kInvalidArgument, "'dict' object is not reversible");
  std::vector<Value> items = iterate(v);
  std::reverse(items.begin(), items.end());
  return list_value(items, "a list", budget);
}

Value filter_items(const Value& v, const Args& args, Budget& budget) {
  ArgBinder("items", args, {});
  if (v.is_undefined()) return Value(Json::array());
  if (!is_mapping(v)) fail(ErrorKind::kInvalidArgument, "Can only get item pairs from a mapping.");
  budget.charge_size(v.json().size());
  Json out = Json::array();
  for (const auto& [key, item] : v.json().items()) out.push_back(Json::array({key, item}));
  return Value(std::move(out));
}

Value filter_join(const Value& v, const Args& args, Budget& budget) {
  ArgBinder b("join", args, {"d", "attribute"});
  const std::string separator = b.get(0) ? to_str(*b.get(0)) : "";
  std::optional<std::string> attribute;
  if (b.get(1) && !is_none(*b.get(1))) attribute = to_str(*b.get(1));
  std::string out;
  bool first = true;
  for (const Value& item : iterate(v)) {
    if (!first) out += separator;
    first = false;
    out += to_str(attribute ? lookup_attribute(item, *attribute) : item);
    budget.check_size(out.size());
  }
  return string_value(std::move(out), budget);
}

Value filter_int(const Value& v, const Args& args, Budget&) {
  ArgBinder b("int", args, {"default", "base"});
  const int64_t fallback = b.int_or(0, 0);
  const int64_t base = b.int_or(1, 10);
  if (v.is_json()) {
    const Json& j = v.json();
    if (j.is_boolean()) return Value(int64_t{j.get<bool>() ? 1 : 0});
    if (j.is_number_integer()) return Value(as_int(v, "int() value"));
    if (j.is_number_float()) {
      const double d = j.get<double>();
      if (std::isfinite(d) && std::fabs(d) < 9.2e18) return Value(static_cast<int64_t>(d));
      return Value(fallback);
    }
    if (j.is_string()) {
      const std::string text =
          python_strip(j.get_ref<const std::string&>(), std::nullopt, true, true);
      std::string digits;
      for (char c : text)
        if (c != '_') digits += c;
      if (base >= 2 && base <= 36 && !digits.empty()) {
        errno = 0;
        char* end = nullptr;
        const long long parsed = std::strtoll(digits.c_str(), &end, static_cast<int>(base));
        if (errno == 0 && end == digits.c_str() + digits.size() &&
            digits.find(' ') == std::string::npos)
          return Value(static_cast<int64_t>(parsed));
      }
      // Jinja falls back to int(float(value)).
      char* end = nullptr;
      const double d = std::strtod(text.c_str(), &end);
      if (!text.empty() && end == text.c_str() + text.size() && std::isfinite(d) &&
          std::fabs(d) < 9.2e18 && text.find_first_of("xXpP") == std::string::npos)
        return Value(static_cast<int64_t>(d));
    }
  }
  return Value(fallback);
}

Value filter_float(const Value& v, const Args& args, Budget&) {
  ArgBinder b("float", args, {"default"});
  if (v.is_json()) {
    const Json& j = v.json();
    if (j.is_boolean()) return Value(j.get<bool>() ? 1.0 : 0.0);
    if (j.is_number()) return Value(j.get<double>());
    if (j.is_string()) {
      const std::string text =
          python_strip(j.get_ref<const std::string&>(), std::nullopt, true, true);
      char* end = nullptr;
      const double d = std::strtod(text.c_str(), &end);
      if (!text.empty() && end == text.c_str() + text.size() &&
          text.find_first_of("xXpP") == std::string::npos)
        return Value(d);
    }
  }
  return b.get(0) ? *b.get(0) : Value(0.0);
}

Value filter_abs(const Value& v, const Args& args, Budget&) {
  ArgBinder("abs", args, {});
  if (!is_number(v))
    fail(ErrorKind::kInvalidArgument, "bad operand type for abs(): '{}'", type_name(v));
  if (v.json().is_number_float()) return Value(std::fabs(v.json().get<double>()));
  const int64_t x = as_int(v, "abs() value");
  return x < 0 ? negate(v, false) : Value(x);
}

// Jinja's sort key: strings compare case-insensitively unless case_sensitive.
Value sort_key(const Value& item, const std::optional<std::string>& attribute,
               bool case_sensitive) {
  Value key = attribute ? lookup_attribute(item, *attribute) : item;
  if (!case_sensitive && is_string(key))
    return Value(Json(unicode_lower(key.json().get<std::string>())));
  return key;
}

Value filter_sort(const Value& v, const Args& args, Budget& budget) {
  ArgBinder b("sort", args, {"reverse", "case_sensitive", "attribute"});
  const bool reverse = b.bool_or(0, false);
  const bool case_sensitive = b.bool_or(1, false);
  std::optional<std::string> attribute;
  if (b.get(2) && !is_none(*b.get(2))) attribute = to_str(*b.get(2));
  std::vector<Value> items = iterate(v);
  std::vector<std::pair<Value, Value>> keyed;
  for (Value& item : items)
    keyed.emplace_back(sort_key(item, attribute, case_sensitive), std::move(item));
  budget.step(keyed.size() * 8);
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& a, const auto& c) {
    return reverse ? compare(CompareOp::kLt, c.first, a.first)
                   : compare(CompareOp::kLt, a.first, c.first);
  });
  items.clear();
  for (auto& [key, item] : keyed) items.push_back(std::move(item));
  return list_value(items, "a list", budget);
}

Value filter_dictsort(const Value& v, const Args& args, Budget& budget) {
  ArgBinder b("dictsort", args, {"case_sensitive", "by", "reverse"});
  if (!is_mapping(v))
    fail(ErrorKind::kInvalidArgument, "dictsort(): value must be a dict, not '{}'", type_name(v));
  const bool case_sensitive = b.bool_or(0, false);
  const std::string by = b.string_or(1, "key");
  if (by != "key" && by != "value")
    fail(ErrorKind::kInvalidArgument, "dictsort(): 'by' must be 'key' or 'value'");
  const bool reverse = b.bool_or(2, false);
  std::vector<std::pair<Value, Json>> keyed;
  for (const auto& [key, item] : v.json().items()) {
    const Value sort_by = by == "key" ? Value(Json(key)) : Value(item);
    keyed.emplace_back(sort_key(sort_by, std::nullopt, case_sensitive), Json::array({key, item}));
  }
  budget.step(keyed.size() * 8);
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& a, const auto& c) {
    return reverse ? compare(CompareOp::kLt, c.first, a.first)
                   : compare(CompareOp::kLt, a.first, c.first);
  });
  Json out = Json::array();
  for (auto& [key, pair] : keyed) out.push_back(std::move(pair));
  return Value(std::move(out));
}

// min/max: the smallest/largest item (by attribute, case-insensitively by default).
Value extreme(const Value& v, const Args& args, bool largest, const char* name) {
  ArgBinder b(name, args, {"case_sensitive", "attribute"});
  const bool case_sensitive = b.bool_or(0, false);
  std::optional<std::string> attribute;
  if (b.get(1) && !is_none(*b.get(1))) attribute = to_str(*b.get(1));
  const std::vector<Value> items = iterate(v);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  size_t best = 0;
  Value best_key = sort_key(items[0], attribute, case_sensitive);
  for (size_t i = 1; i < items.size(); ++i) {
    Value key = sort_key(items[i], attribute, case_sensitive);
    if (compare(CompareOp::kLt, largest ? best_key : key, largest ? key : best_key)) {
      best = i;
      best_key = std::move(key);
    }
  }
  return items[best];
}

Value filter_min(const Value& v, const Args& args, Budget&) {
  return extreme(v, args, false, "min");
}
Value filter_max(const Value& v, const Args& args, Budget&) {
  return extreme(v, args, true, "max");
}

Value filter_unique(const Value& v, const Args& args, Budget& budget) {
  ArgBinder b("unique", args, {"case_sensitive", "attribute"});
  const bool case_sensitive = b.bool_or(0, false);
  std::optional<std::string> attribute;
  if (b.get(1) && !is_none(*b.get(1))) attribute = to_str(*b.get(1));
  std::vector<Value> kept;
  std::vector<Value> seen;
  for (const Value& item : iterate(v)) {
    const Value key = sort_key(item, attribute, case_sensitive);
    budget.step(seen.size());
    if (std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return equals(s, key); }))
      continue;
    seen.push_back(key);
    kept.push_back(item);
  }
  return list_value(kept, "a list", budget);
}

Value filter_indent(const Value& v, const Args& args, Budget& budget) {
  ArgBinder b("indent", args, {"width", "first", "blank"});
  std::string indent;
  if (b.get(0) && is_string(*b.get(0))) {
    indent = b.get(0)->json().get<std::string>();
  } else {
    const int64_t width = b.int_or(0, 4);
    budget.charge_size(static_cast<size_t>(std::max<int64_t>(width, 0)));
    indent.assign(static_cast<size_t>(std::max<int64_t>(width, 0)), ' ');
  }
  const bool first = b.bool_or(1, false);
  const bool blank = b.bool_or(2, false);
  std::string text = to_str(v) + "\n";  // Jinja appends a newline and strips it at the end
  const std::vector<std::string> lines = python_splitlines(text);
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) out += '\n';
    if ((i > 0 || first) && (blank || !python_strip(lines[i], std::nullopt, true, true).empty()))
      out += indent;
    out += lines[i];
    budget.check_size(out.size());
  }
  return string_value(std::move(out), budget);
}

Value filter_round(const Value& v, const Args& args, Budget&) {
  ArgBinder b("round", args, {"precision", "method"});
  const int64_t precision = b.int_or(0, 0);
  const std::string method = b.string_or(1, "common");
  if (!is_number(v))
    fail(ErrorKind::kInvalidArgument, "round() value must be a number, not '{}'", type_name(v));
  const double value =
      v.json().is_boolean() ? (v.json().get<bool>() ? 1.0 : 0.0) : v.json().get<double>();
  if (precision < -300 || precision > 300)
    fail(ErrorKind::kInvalidArgument, "round() precision out of range");
  const double scale = std::pow(10.0, static_cast<double>(precision));
  if (method == "common") {
    if (v.json().is_number_integer() && precision >= 0) return v;
    return Value(std::nearbyint(value * scale) / scale);  // Python rounds half to even
  }
  if (method == "ceil") return Value(std::ceil(value * scale) / scale);
  if (method == "floor") return Value(std::floor(value * scale) / scale);
  fail(ErrorKind::kInvalidArgument, "round() method must be 'common', 'ceil' or 'floor'");
}

Value filter_sum(const Value& v, const Args& args, Budget& budget) {
  ArgBinder b("sum", args, {"attribute", "start"});
  std::optional<std::string> attribute;
  if (b.get(0) && !is_none(*b.get(0))) attribute = to_str(*b.get(0));
  Value total = b.get(1) ? *b.get(1) : Value(Json(int64_t{0}));
  for (const Value& item : iterate(v))
    total = arithmetic(BinaryOp::kAdd, total, attribute ? lookup_attribute(item, *attribute) : item,
                       budget);
  return total;
}

Value filter_tojson(const Value& v, const Args& args, Budget& budget) {
  ArgBinder b("tojson", args, {"ensure_ascii", "indent", "separators", "sort_keys"});
  return string_value(
      to_json(v, b.get(1), b.bool_or(0, false), b.bool_or(3, false), b.get(2), budget), budget);
}

// select/reject: keep items for which the named test (or truthiness) holds / fails.
std::vector<Value> select_items(const Value& v, const Args& args, bool by_attribute, bool keep_when,
                                const char* name, Budget& budget) {
  if (!args.keywords.empty())
    fail(ErrorKind::kInvalidArgument, "{}() takes no keyword arguments", name);
  size_t next = 0;
  std::optional<std::string> attribute;
  if (by_attribute) {
    if (args.positional.empty())
      fail(ErrorKind::kInvalidArgument, "{}() missing the attribute", name);
    attribute = to_str(args.positional[next++]);
  }
  TestFn test = nullptr;
  Args test_args;
  if (next < args.positional.size()) {
    const std::string& test_name =
        as_string(args.positional[next++], fmt::format("{}() test name", name));
    test = find_test(test_name);
    if (!test) fail(ErrorKind::kInvalidArgument, "{}(): no test named '{}'", name, test_name);
    test_args.positional.assign(args.positional.begin() + static_cast<std::ptrdiff_t>(next),
                                args.positional.end());
  }
  std::vector<Value> kept;
  for (const Value& item : iterate(v)) {
    budget.step();
    const Value subject = attribute ? lookup_attribute(item, *attribute) : item;
    const bool passed = test ? test(subject, test_args, budget) : truthy(subject);
    if (passed == keep_when) kept.push_back(item);
  }
  return kept;
}

Value filter_select(const Value& v, const Args& args, Budget& budget) {
  return list_value(select_items(v, args, false, true, "select", budget), "a list", budget);
}
Value filter_reject(const Value& v, const Args& args, Budget& budget) {
  return list_value(select_items(v, args, false, false, "reject", budget), "a list", budget);
}
Value filter_selectattr(const Value& v, const Args& args, Budget& budget) {
  return list_value(select_items(v, args, true, true, "selectattr", budget), "a list", budget);
}
Value filter_rejectattr(const Value& v, const Args& args, Budget& budget) {
  return list_value(select_items(v, args, true, false, "rejectattr", budget), "a list", budget);
}

// map('filter', args...) or map(attribute='x', default=d).
Value filter_map(const Value& v, const Args& args, Budget& budget) {
  std::vector<Value> out;
  if (args.positional.empty()) {
    ArgBinder b("map", args, {"attribute", "default"});
    const std::string attribute = to_str(b.required(0));
    for (const Value& item : iterate(v)) {
      budget.step();
      Value mapped = lookup_attribute(item, attribute);
      if (mapped.is_undefined() && b.get(1)) mapped = *b.get(1);
      out.push_back(std::move(mapped));
    }
    return list_value(out, "a list", budget);
  }
  const std::string& filter_name = as_string(args.positional[0], "map() filter name");
  const FilterFn filter = find_filter(filter_name);
  if (!filter) fail(ErrorKind::kInvalidArgument, "map(): no filter named '{}'", filter_name);
  Args filter_args{{args.positional.begin() + 1, args.positional.end()}, args.keywords};
  for (const Value& item : iterate(v)) {
    budget.step();
    out.push_back(filter(item, filter_args, budget));
  }
  return list_value(out, "a list", budget);
}

}  // namespace

FilterFn find_filter(std::string_view name) {
  static const std::unordered_map<std::string_view, FilterFn> kFilters = {
      {"abs", filter_abs},
      {"capitalize", filter_capitalize},
      {"count", filter_length},
      {"d", filter_default},
      {"default", filter_default},
      {"dictsort", filter_dictsort},
      {"first", filter_first},
      {"float", filter_float},
      {"indent", filter_indent},
      {"int", filter_int},
      {"items", filter_items},
      {"join", filter_join},
      {"last", filter_last},
      {"length", filter_length},
      {"list", filter_list},
      {"lower", filter_lower},
      {"map", filter_map},
      {"max", filter_max},
      {"min", filter_min},
      {"reject", filter_reject},
      {"rejectattr", filter_rejectattr},
      {"replace", filter_replace},
      {"reverse", filter_reverse},
      {"round", filter_round},
      {"safe", filter_safe},
      {"select", filter_select},
      {"selectattr", filter_selectattr},
      {"sort", filter_sort},
      {"string", filter_string},
      {"sum", filter_sum},
      {"title", filter_title},
      {"tojson", filter_tojson},
      {"trim", filter_trim},
      {"unique", filter_unique},
      {"upper", filter_upper},
  };
  const auto it = kFilters.find(name);
  return it == kFilters.end() ? nullptr : it->second;
}

}  // namespace glimpse::io::jinja
