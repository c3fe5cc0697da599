// Argument binding, shared helpers, tests and global functions. Filters are in filters.cc,
// str/dict methods in methods.cc, tojson in to_json.cc.
#include "io/jinja/builtins.h"

#include <algorithm>
#include <ctime>
#include <unordered_map>

#include "core/error.h"
#include "io/jinja/operators.h"
#include "io/jinja/text.h"

namespace glimpse::io::jinja {

ArgBinder::ArgBinder(std::string_view function, const Args& args,
                     std::vector<std::string_view> params)
    : function_(function), params_(std::move(params)), bound_(params_.size(), nullptr) {
  if (args.positional.size() > params_.size())
    fail(ErrorKind::kInvalidArgument, "{}() takes at most {} argument(s), {} given", function_,
         params_.size(), args.positional.size());
  for (size_t i = 0; i < args.positional.size(); ++i) bound_[i] = &args.positional[i];
  for (const auto& [name, value] : args.keywords) {
    const auto it = std::find(params_.begin(), params_.end(), name);
    if (it == params_.end())
      fail(ErrorKind::kInvalidArgument, "{}() got an unexpected keyword argument '{}'", function_,
           name);
    const auto index = static_cast<size_t>(it - params_.begin());
    if (bound_[index])
      fail(ErrorKind::kInvalidArgument, "{}() got multiple values for argument '{}'", function_,
           name);
    bound_[index] = &value;
  }
}

const Value* ArgBinder::get(size_t index) const {
  return bound_[index];
}

const Value& ArgBinder::required(size_t index) const {
  if (!bound_[index])
    fail(ErrorKind::kInvalidArgument, "{}() missing required argument '{}'", function_,
         params_[index]);
  return *bound_[index];
}

std::string ArgBinder::string_or(size_t index, std::string fallback) const {
  if (!bound_[index] || is_none(*bound_[index])) return fallback;
  return as_string(*bound_[index], fmt::format("{}() argument '{}'", function_, params_[index]));
}

int64_t ArgBinder::int_or(size_t index, int64_t fallback) const {
  if (!bound_[index] || is_none(*bound_[index])) return fallback;
  return as_int(*bound_[index], fmt::format("{}() argument '{}'", function_, params_[index]));
}

bool ArgBinder::bool_or(size_t index, bool fallback) const {
  return bound_[index] ? truthy(*bound_[index]) : fallback;
}

const std::string& as_string(const Value& v, std::string_view what) {
  if (!is_string(v)) {
    if (v.is_undefined()) fail_undefined(v);
    fail(ErrorKind::kInvalidArgument, "{} must be a string, not '{}'", what, type_name(v));
  }
  return v.json().get_ref<const std::string&>();
}

int64_t as_int(const Value& v, std::string_view what) {
  if (v.is_json() && v.json().is_boolean()) return v.json().get<bool>() ? 1 : 0;
  if (v.is_json() && v.json().is_number_integer()) {
    if (v.json().is_number_unsigned() &&
        v.json().get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
      fail(ErrorKind::kUnsupported, "{} is too large", what);
    return v.json().get<int64_t>();
  }
  if (v.is_undefined()) fail_undefined(v);
  fail(ErrorKind::kInvalidArgument, "{} must be an integer, not '{}'", what, type_name(v));
}

std::vector<Value> iterate(const Value& v) {
  std::vector<Value> items;
  if (v.is_undefined()) return items;
  if (is_list(v)) {
    for (size_t i = 0; i < v.json().size(); ++i) items.push_back(v.element(i));
    return items;
  }
  if (is_mapping(v)) {
    for (const auto& [key, unused] : v.json().items()) items.emplace_back(Json(key));
    return items;
  }
  if (is_string(v)) {
    const std::string& text = v.json().get_ref<const std::string&>();
    const std::vector<size_t> offsets = code_point_offsets(text);
    for (size_t i = 0; i + 1 < offsets.size(); ++i)
      items.emplace_back(Json(text.substr(offsets[i], offsets[i + 1] - offsets[i])));
    return items;
  }
  fail(ErrorKind::kInvalidArgument, "'{}' object is not iterable", type_name(v));
}

namespace {

// Whether `json` nests deeper than `limit` levels of lists and dicts.
bool nests_deeper_than(const Json& json, int limit) {
  if (!json.is_array() && !json.is_object()) return false;
  if (limit == 0) return true;
  for (const Json& item : json)
    if (nests_deeper_than(item, limit - 1)) return true;
  return false;
}

}  // namespace

Json to_data(const Value& v, std::string_view where) {
  // Every list or dict a template builds goes through here, so this bounds how deep values can
  // nest (`{% set ns.x = [ns.x] %}` in a loop), which keeps printing and copying them shallow.
  constexpr int kMaxNesting = 100;
  if (v.is_json()) {
    if (nests_deeper_than(v.json(), kMaxNesting))
      fail(ErrorKind::kLimitExceeded, "cannot build a value nested deeper than {} levels",
           kMaxNesting);
    return v.json();
  }
  if (v.is_undefined())
    fail(ErrorKind::kUnsupported, "cannot store an undefined value in {} ({})", where,
         v.undefined_reason());
  fail(ErrorKind::kUnsupported, "cannot store a '{}' in {}", type_name(v), where);
}

// ---- tests ----

namespace {

bool test_defined(const Value& v, const Args& args, Budget&) {
  ArgBinder("defined", args, {});
  return !v.is_undefined();
}
bool test_undefined(const Value& v, const Args& args, Budget& budget) {
  return !test_defined(v, args, budget);
}
bool test_none(const Value& v, const Args& args, Budget&) {
  ArgBinder("none", args, {});
  return is_none(v);
}
bool test_string(const Value& v, const Args& args, Budget&) {
  ArgBinder("string", args, {});
  return is_string(v);
}
bool test_number(const Value& v, const Args& args, Budget&) {
  ArgBinder("number", args, {});
  return is_number(v);
}
bool test_integer(const Value& v, const Args& args, Budget&) {
  ArgBinder("integer", args, {});
  return v.is_json() && v.json().is_number_integer();
}
bool test_float(const Value& v, const Args& args, Budget&) {
  ArgBinder("float", args, {});
  return v.is_json() && v.json().is_number_float();
}
bool test_boolean(const Value& v, const Args& args, Budget&) {
  ArgBinder("boolean", args, {});
  return v.is_json() && v.json().is_boolean();
}
bool test_true(const Value& v, const Args& args, Budget&) {
  ArgBinder("true", args, {});
  return v.is_json() && v.json().is_boolean() && v.json().get<bool>();
}
bool test_false(const Value& v, const Args& args, Budget&) {
  ArgBinder("false", args, {});
  return v.is_json() && v.json().is_boolean() && !v.json().get<bool>();
}
bool test_mapping(const Value& v, const Args& args, Budget&) {
  ArgBinder("mapping", args, {});
  return is_mapping(v);
}
// Python's iter() succeeds on str, list, dict, Undefined and (through __getitem__) Namespace.
bool test_iterable(const Value& v, const Args& args, Budget&) {
  ArgBinder("iterable", args, {});
  if (v.is_undefined()) return true;
  if (v.is_object()) return dynamic_cast<const Namespace*>(v.object()) != nullptr;
  return v.json().is_string() || v.json().is_array() || v.json().is_object();
}
bool test_sequence(const Value& v, const Args& args, Budget&) {
  ArgBinder("sequence", args, {});
  if (v.is_undefined()) return true;
  return v.is_json() && (v.json().is_string() || v.json().is_array() || v.json().is_object());
}
bool test_callable(const Value& v, const Args& args, Budget&) {
  ArgBinder("callable", args, {});
  return v.is_object() && dynamic_cast<const Namespace*>(v.object()) == nullptr &&
         v.object()->type_name() != "LoopContext";
}
bool test_odd(const Value& v, const Args& args, Budget&) {
  ArgBinder("odd", args, {});
  return as_int(v, "odd test value") % 2 != 0;
}
bool test_even(const Value& v, const Args& args, Budget&) {
  ArgBinder("even", args, {});
  return as_int(v, "even test value") % 2 == 0;
}
bool test_divisibleby(const Value& v, const Args& args, Budget&) {
  ArgBinder b("divisibleby", args, {"num"});
  const int64_t divisor = as_int(b.required(0), "divisibleby argument");
  if (divisor == 0) fail(ErrorKind::kInvalidArgument, "divisibleby: division by zero");
  if (divisor == -1) return true;
  return as_int(v, "divisibleby test value") % divisor == 0;
}
bool test_lower(const Value& v, const Args& args, Budget&) {
  ArgBinder("lower", args, {});
  const std::string text = to_str(v);
  return unicode_lower(text) == text && unicode_upper(text) != text;
}
bool test_upper(const Value& v, const Args& args, Budget&) {
  ArgBinder("upper", args, {});
  const std::string text = to_str(v);
  return unicode_upper(text) == text && unicode_lower(text) != text;
}
bool test_sameas(const Value& v, const Args& args, Budget&) {
  ArgBinder b("sameas", args, {"other"});
  const Value& other = b.required(0);
  if (v.is_json() && other.is_json()) {
    const Json& a = v.json();
    const Json& c = other.json();
    if (a.is_null() || a.is_boolean()) return a.type() == c.type() && a == c;
    return &a == &c;
  }
  return v.is_object() && v.object() == other.object();
}

template <CompareOp kOp>
bool test_compare(const Value& v, const Args& args, Budget&) {
  ArgBinder b("comparison test", args, {"other"});
  return compare(kOp, v, b.required(0));
}

bool test_in(const Value& v, const Args& args, Budget&) {
  ArgBinder b("in", args, {"seq"});
  return compare(CompareOp::kIn, v, b.required(0));
}

}  // namespace

TestFn find_test(std::string_view name) {
  static const std::unordered_map<std::string_view, TestFn> kTests = {
      {"defined", test_defined},
      {"undefined", test_undefined},
      {"none", test_none},
      {"string", test_string},
      {"number", test_number},
      {"integer", test_integer},
      {"float", test_float},
      {"boolean", test_boolean},
      {"true", test_true},
      {"false", test_false},
      {"mapping", test_mapping},
      {"iterable", test_iterable},
      {"sequence", test_sequence},
      {"callable", test_callable},
      {"odd", test_odd},
      {"even", test_even},
      {"divisibleby", test_divisibleby},
      {"lower", test_lower},
      {"upper", test_upper},
      {"sameas", test_sameas},
      {"in", test_in},
      {"eq", test_compare<CompareOp::kEq>},
      {"equalto", test_compare<CompareOp::kEq>},
      {"==", test_compare<CompareOp::kEq>},
      {"ne", test_compare<CompareOp::kNe>},
      {"!=", test_compare<CompareOp::kNe>},
      {"lt", test_compare<CompareOp::kLt>},
      {"lessthan", test_compare<CompareOp::kLt>},
      {"<", test_compare<CompareOp::kLt>},
      {"le", test_compare<CompareOp::kLe>},
      {"<=", test_compare<CompareOp::kLe>},
      {"gt", test_compare<CompareOp::kGt>},
      {"greaterthan", test_compare<CompareOp::kGt>},
      {">", test_compare<CompareOp::kGt>},
      {"ge", test_compare<CompareOp::kGe>},
      {">=", test_compare<CompareOp::kGe>},
  };
  const auto it = kTests.find(name);
  return it == kTests.end() ? nullptr : it->second;
}

// ---- global functions ----

namespace {

Value raise_exception(const Args& args, Budget&) {
  ArgBinder b("raise_exception", args, {"message"});
  fail(ErrorKind::kInvalidArgument, "{}", to_str(b.required(0)));
}

// transformers: datetime.now().strftime(format), in local time.
Value strftime_now(const Args& args, Budget& budget) {
  ArgBinder b("strftime_now", args, {"format"});
  const std::string& format = as_string(b.required(0), "strftime_now() format");
  if (format.empty()) return Value(Json(""));
  if (format.find('\0') != std::string::npos)
    fail(ErrorKind::kInvalidArgument, "strftime_now(): embedded null character in format");
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  // strftime reports 0 both for "buffer too small" and for an empty result, so grow the buffer
  // a few times and accept an empty result only once the buffer is clearly large enough.
  for (size_t size = 256 + format.size() * 8;; size *= 4) {
    budget.charge_size(size);
    std::string out(size, '\0');
    const size_t written = std::strftime(out.data(), out.size(), format.c_str(), &local);
    if (written > 0 || size > 64 * format.size() + 1024) {
      out.resize(written);
      return Value(Json(std::move(out)));
    }
  }
}

Value make_namespace(const Args& args, Budget&) {
  auto ns = std::make_shared<Namespace>();
  if (args.positional.size() > 1)
    fail(ErrorKind::kInvalidArgument, "namespace() takes at most one positional argument");
  if (!args.positional.empty()) {
    const Value& initial = args.positional[0];
    if (!is_mapping(initial))
      fail(ErrorKind::kInvalidArgument, "namespace() argument must be a dict, not '{}'",
           type_name(initial));
    for (auto it = initial.json().begin(); it != initial.json().end(); ++it)
      ns->attributes[it.key()] = Value(std::shared_ptr<const Json>(initial.json_ptr(), &*it));
  }
  for (const auto& [name, value] : args.keywords) {
    if (value.is_object() && dynamic_cast<const Namespace*>(value.object()))
      fail(ErrorKind::kUnsupported, "a namespace cannot be stored inside a namespace");
    ns->attributes[name] = value;
  }
  return Value(std::shared_ptr<Object>(std::move(ns)));
}

// Jinja's sandbox caps range() at 100000 items.
Value range(const Args& args, Budget& budget) {
  if (!args.keywords.empty())
    fail(ErrorKind::kInvalidArgument, "range() takes no keyword arguments");
  const auto& p = args.positional;
  if (p.empty() || p.size() > 3)
    fail(ErrorKind::kInvalidArgument, "range() expected 1 to 3 arguments, got {}", p.size());
  int64_t start = 0;
  int64_t stop = 0;
  int64_t step = 1;
  if (p.size() == 1) {
    stop = as_int(p[0], "range() argument");
  } else {
    start = as_int(p[0], "range() start");
    stop = as_int(p[1], "range() stop");
    if (p.size() == 3) step = as_int(p[2], "range() step");
  }
  if (step == 0) fail(ErrorKind::kInvalidArgument, "range() arg 3 must not be zero");
  const __int128 span =
      step > 0 ? static_cast<__int128>(stop) - start : static_cast<__int128>(start) - stop;
  const __int128 count = span <= 0 ? 0
                                   : (span + (step > 0 ? step : -static_cast<__int128>(step)) - 1) /
                                         (step > 0 ? step : -static_cast<__int128>(step));
  constexpr int64_t kMaxRange = 100000;
  if (count > kMaxRange)
    fail(ErrorKind::kLimitExceeded,
         "Range too big. The sandbox blocks ranges larger than MAX_RANGE ({}).", kMaxRange);
  budget.charge_size(static_cast<size_t>(count));
  Json out = Json::array();
  for (int64_t i = 0; i < static_cast<int64_t>(count); ++i)
    out.push_back(static_cast<int64_t>(start + static_cast<__int128>(i) * step));
  return Value(std::move(out));
}

Value make_dict(const Args& args, Budget&) {
  if (!args.positional.empty())
    fail(ErrorKind::kUnsupported, "dict() takes keyword arguments only");
  Json out = Json::object();
  for (const auto& [name, value] : args.keywords) out[name] = to_data(value, "a dict");
  return Value(std::move(out));
}

}  // namespace

std::vector<std::pair<std::string, Value>> global_functions() {
  std::vector<std::pair<std::string, Value>> globals;
  auto add = [&](const char* name, FunctionFn fn) {
    globals.emplace_back(name,
                         Value(std::shared_ptr<Object>(std::make_shared<Function>(name, fn))));
  };
  add("raise_exception", raise_exception);
  add("strftime_now", strftime_now);
  add("namespace", make_namespace);
  add("range", range);
  add("dict", make_dict);
  return globals;
}

}  // namespace glimpse::io::jinja
