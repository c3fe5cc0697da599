// Jinja's filters and tests, the str/dict methods templates call, and the global functions
// transformers provides (raise_exception, strftime_now) plus Jinja's namespace, range and dict.
// Each checks its arguments and fails with a message naming itself; the evaluator adds the
// template position.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "io/jinja/budget.h"
#include "io/jinja/value.h"

namespace glimpse::io::jinja {

struct Args {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keywords;
};

// Binds Args to named parameters the way Python does (positionally, then by keyword), failing
// on extra or unknown arguments: ArgBinder b("replace", args, {"old", "new", "count"}).
class ArgBinder {
 public:
  ArgBinder(std::string_view function, const Args& args, std::vector<std::string_view> params);
  const Value* get(size_t index) const;  // null when not given
  const Value& required(size_t index) const;
  std::string string_or(size_t index, std::string fallback) const;
  int64_t int_or(size_t index, int64_t fallback) const;
  bool bool_or(size_t index, bool fallback) const;

 private:
  std::string function_;
  std::vector<std::string_view> params_;
  std::vector<const Value*> bound_;
};

using FilterFn = Value (*)(const Value& operand, const Args& args, Budget& budget);
using TestFn = bool (*)(const Value& operand, const Args& args, Budget& budget);
using FunctionFn = Value (*)(const Args& args, Budget& budget);

FilterFn find_filter(std::string_view name);  // null when unknown
TestFn find_test(std::string_view name);

// A global function value, e.g. `range`.
class Function : public Object {
 public:
  Function(std::string function_name, FunctionFn function)
      : name(std::move(function_name)), fn(function) {}
  std::string type_name() const override { return "function"; }
  std::string name;
  FunctionFn fn;
};
std::vector<std::pair<std::string, Value>> global_functions();

// `receiver.name(args)` for str and dict methods (split, strip, items, get, ...). Returns
// undefined when the receiver has no such method.
Value call_method(const Value& receiver, std::string_view name, const Args& args, Budget& budget);

// Helpers shared with the evaluator.
const std::string& as_string(const Value& v, std::string_view what);  // throws unless a str
int64_t as_int(const Value& v, std::string_view what);                // throws unless an int/bool
// The items `for` iterates: list elements, dict keys, string characters; undefined is empty.
std::vector<Value> iterate(const Value& v);
// Python json.dumps with transformers' tojson defaults (ensure_ascii=False).
std::string to_json(const Value& v, const Value* indent, bool ensure_ascii, bool sort_keys,
                    const Value* separators, Budget& budget);
// A JSON value to store in a list or dict; undefined and objects are rejected.
Json to_data(const Value& v, std::string_view where);

}  // namespace glimpse::io::jinja
