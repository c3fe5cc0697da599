// Runtime values of the Jinja interpreter. Data (none, bools, numbers, strings, lists, dicts) is
// an immutable, shared nlohmann::ordered_json, so that `messages[0].content` aliases the caller's
// JSON instead of copying it (the sandbox transformers uses forbids mutating lists and dicts).
// Things that are not data (namespace(), macros, loop, global functions) are Objects. Tuples are
// represented as lists.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace glimpse::io::jinja {

using Json = nlohmann::ordered_json;

class Object;

class Value {
 public:
  Value() = default;  // undefined
  // `reason` says why, for the error if the value is used: "'x' is undefined".
  static Value undefined(std::string reason) {
    Value v;
    v.undefined_reason_ = std::move(reason);
    return v;
  }
  Value(Json json) : json_(std::make_shared<const Json>(std::move(json))) {}  // NOLINT: implicit
  Value(std::shared_ptr<const Json> json) : json_(std::move(json)) {}         // NOLINT
  Value(std::shared_ptr<Object> object) : object_(std::move(object)) {}       // NOLINT

  bool is_undefined() const { return !json_ && !object_; }
  bool is_json() const { return json_ != nullptr; }
  bool is_object() const { return object_ != nullptr; }
  const Json& json() const { return *json_; }
  const std::shared_ptr<const Json>& json_ptr() const { return json_; }
  Object* object() const { return object_.get(); }
  const std::string& undefined_reason() const { return undefined_reason_; }

  // Element `index` of a JSON list / value at `key` of a JSON object, sharing ownership.
  Value element(size_t index) const;
  Value member(const Json::object_t::const_iterator& it) const;

 private:
  std::shared_ptr<const Json> json_;
  std::shared_ptr<Object> object_;
  std::string undefined_reason_;
};

class Object {
 public:
  virtual ~Object() = default;
  virtual std::string type_name() const = 0;  // as Python names it in messages
};

// namespace(): the only mutable value, assigned with {% set ns.attr = ... %}.
class Namespace : public Object {
 public:
  std::string type_name() const override { return "Namespace"; }
  std::map<std::string, Value> attributes;
};

// Python type names, for error messages ("'<' not supported between 'int' and 'str'").
std::string type_name(const Value& value);

bool is_string(const Value& v);
bool is_number(const Value& v);  // int, float or bool, as Jinja's `number` test says
bool is_mapping(const Value& v);
bool is_list(const Value& v);
bool is_none(const Value& v);

// Python truthiness; undefined is false.
bool truthy(const Value& value);

// Python str(): what {{ value }} prints. Lists and dicts print as Python repr; undefined is "".
std::string to_str(const Value& value);
// Python repr() of JSON data ('a', True, None, [1, 'b'], {'k': 1.5}).
std::string python_repr(const Json& json);
// Python's repr of a float: shortest round-trip digits, "1.0", "1e+16", "inf".
std::string float_repr(double value);

// Python ==: 1 == 1.0 == True; lists and dicts compare element-wise.
bool equals(const Value& a, const Value& b);
bool json_equals(const Json& a, const Json& b);

}  // namespace glimpse::io::jinja
