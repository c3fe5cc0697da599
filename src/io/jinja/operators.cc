#include "io/jinja/operators.h"

#include <cmath>

#include "core/error.h"
#include "io/jinja/builtins.h"
#include "io/jinja/text.h"

namespace glimpse::io::jinja {

void fail_undefined(const Value& value) {
  fail(ErrorKind::kInvalidArgument, "{}",
       value.undefined_reason().empty() ? "undefined value used" : value.undefined_reason());
}

namespace {

bool is_int_like(const Json& j) {
  return j.is_number_integer() || j.is_boolean();
}

int64_t to_int64(const Json& j) {
  if (j.is_boolean()) return j.get<bool>() ? 1 : 0;
  if (j.is_number_unsigned() && j.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
    fail(ErrorKind::kUnsupported, "integer {} is too large", j.get<uint64_t>());
  return j.get<int64_t>();
}

double to_double(const Json& j) {
  if (j.is_boolean()) return j.get<bool>() ? 1.0 : 0.0;
  return j.get<double>();
}

[[noreturn]] void fail_operands(const char* op, const Value& left, const Value& right) {
  if (left.is_undefined()) fail_undefined(left);
  if (right.is_undefined()) fail_undefined(right);
  fail(ErrorKind::kInvalidArgument, "unsupported operand type(s) for {}: '{}' and '{}'", op,
       type_name(left), type_name(right));
}

void check_overflow(bool overflowed) {
  if (overflowed)
    fail(ErrorKind::kUnsupported, "integer overflow (Python would use a big integer)");
}

Value int_power(int64_t base, int64_t exponent) {
  if (exponent < 0)
    return Value(std::pow(static_cast<double>(base), static_cast<double>(exponent)));
  int64_t result = 1;
  while (exponent > 0) {
    if (exponent & 1) check_overflow(__builtin_mul_overflow(result, base, &result));
    exponent >>= 1;
    if (exponent > 0) check_overflow(__builtin_mul_overflow(base, base, &base));
  }
  return Value(result);
}

Value repeat(const Value& sequence, int64_t times, Budget& budget) {
  if (times <= 0) return is_string(sequence) ? Value(Json("")) : Value(Json::array());
  const Json& j = sequence.json();
  const size_t unit = j.is_string() ? j.get_ref<const std::string&>().size() : j.size();
  if (unit == 0) return sequence;
  if (unit != 0 && static_cast<uint64_t>(times) > budget.limits().max_bytes / unit)
    budget.charge_size(budget.limits().max_bytes + 1);
  budget.charge_size(unit * static_cast<size_t>(times));
  if (j.is_string()) {
    std::string out;
    for (int64_t i = 0; i < times; ++i) out += j.get_ref<const std::string&>();
    return Value(Json(std::move(out)));
  }
  Json out = Json::array();
  for (int64_t i = 0; i < times; ++i)
    for (const Json& item : j) out.push_back(item);
  return Value(std::move(out));
}

double python_float_mod(double a, double b) {
  double mod = std::fmod(a, b);
  if (mod != 0 && ((b < 0) != (mod < 0))) mod += b;
  return mod;
}

// CPython's float_floor_div, so that results round the same way.
double python_float_floordiv(double x, double y) {
  const double mod = std::fmod(x, y);
  double div = (x - mod) / y;
  if (mod != 0 && ((y < 0) != (mod < 0))) div -= 1.0;
  if (div == 0) return std::copysign(0.0, x / y);
  double floor_div = std::floor(div);
  if (div - floor_div > 0.5) floor_div += 1.0;
  return floor_div;
}

}  // namespace

Value arithmetic(BinaryOp op, const Value& left, const Value& right, Budget& budget) {
  static constexpr const char* kSymbols[] = {"and", "or", "+", "-", "*", "/", "//", "%", "**"};
  const char* symbol = kSymbols[static_cast<int>(op)];
  if (!left.is_json() || !right.is_json()) fail_operands(symbol, left, right);
  const Json& a = left.json();
  const Json& b = right.json();
  const bool numbers = is_number(left) && is_number(right);
  if (op == BinaryOp::kAdd && !numbers) {
    if (a.is_string() && b.is_string()) {
      budget.charge_size(a.get_ref<const std::string&>().size() +
                         b.get_ref<const std::string&>().size());
      return Value(Json(a.get<std::string>() + b.get<std::string>()));
    }
    if (a.is_array() && b.is_array()) {
      budget.charge_size(a.size() + b.size());
      Json out = a;
      for (const Json& item : b) out.push_back(item);
      return Value(std::move(out));
    }
    fail_operands(symbol, left, right);
  }
  if (op == BinaryOp::kMul && !numbers) {
    if ((a.is_string() || a.is_array()) && is_int_like(b)) return repeat(left, to_int64(b), budget);
    if ((b.is_string() || b.is_array()) && is_int_like(a))
      return repeat(right, to_int64(a), budget);
    fail_operands(symbol, left, right);
  }
  if (op == BinaryOp::kMod && a.is_string())
    fail(ErrorKind::kUnsupported, "printf-style string formatting ('...' % x) is not supported");
  if (!numbers) fail_operands(symbol, left, right);

  const bool ints = is_int_like(a) && is_int_like(b);
  if ((op == BinaryOp::kDiv || op == BinaryOp::kFloorDiv || op == BinaryOp::kMod) &&
      (ints ? to_int64(b) == 0 : to_double(b) == 0.0))
    fail(ErrorKind::kInvalidArgument, "division by zero");
  if (ints) {
    const int64_t x = to_int64(a);
    const int64_t y = to_int64(b);
    int64_t r = 0;
    switch (op) {
      case BinaryOp::kAdd:
        check_overflow(__builtin_add_overflow(x, y, &r));
        return Value(r);
      case BinaryOp::kSub:
        check_overflow(__builtin_sub_overflow(x, y, &r));
        return Value(r);
      case BinaryOp::kMul:
        check_overflow(__builtin_mul_overflow(x, y, &r));
        return Value(r);
      case BinaryOp::kDiv:
        return Value(static_cast<double>(x) / static_cast<double>(y));
      case BinaryOp::kFloorDiv: {
        check_overflow(x == INT64_MIN && y == -1);
        int64_t q = x / y;
        if ((x % y != 0) && ((x < 0) != (y < 0))) --q;
        return Value(q);
      }
      case BinaryOp::kMod: {
        if (y == -1) return Value(Json(int64_t{0}));
        int64_t m = x % y;
        if (m != 0 && ((m < 0) != (y < 0))) m += y;
        return Value(m);
      }
      case BinaryOp::kPow:
        return int_power(x, y);
      default:
        break;
    }
  }
  const double x = to_double(a);
  const double y = to_double(b);
  switch (op) {
    case BinaryOp::kAdd:
      return Value(x + y);
    case BinaryOp::kSub:
      return Value(x - y);
    case BinaryOp::kMul:
      return Value(x * y);
    case BinaryOp::kDiv:
      return Value(x / y);
    case BinaryOp::kFloorDiv:
      return Value(python_float_floordiv(x, y));
    case BinaryOp::kMod:
      return Value(python_float_mod(x, y));
    case BinaryOp::kPow: {
      if (x == 0.0 && y < 0)
        fail(ErrorKind::kInvalidArgument, "0.0 cannot be raised to a negative power");
      const double r = std::pow(x, y);
      if (std::isnan(r) && !std::isnan(x) && !std::isnan(y))
        fail(ErrorKind::kUnsupported,
             "negative number raised to a fractional power (complex result)");
      if (std::isinf(r) && std::isfinite(x) && std::isfinite(y))
        fail(ErrorKind::kInvalidArgument, "numerical result out of range");
      return Value(r);
    }
    default:
      break;
  }
  fail(ErrorKind::kInternal, "bad arithmetic operator");
}

Value negate(const Value& operand, bool plus) {
  if (!is_number(operand)) {
    if (operand.is_undefined()) fail_undefined(operand);
    fail(ErrorKind::kInvalidArgument, "bad operand type for unary {}: '{}'", plus ? '+' : '-',
         type_name(operand));
  }
  const Json& j = operand.json();
  if (j.is_number_float()) return Value(plus ? j.get<double>() : -j.get<double>());
  const int64_t x = to_int64(j);
  if (plus) return Value(x);
  check_overflow(x == INT64_MIN);
  return Value(-x);
}

namespace {

// Python's <, for numbers, strings and lists; anything else is a TypeError.
bool less_than(const Value& left, const Value& right, const char* symbol) {
  if (is_number(left) && is_number(right)) {
    const Json& a = left.json();
    const Json& b = right.json();
    if (is_int_like(a) && is_int_like(b)) return to_int64(a) < to_int64(b);
    return to_double(a) < to_double(b);
  }
  if (is_string(left) && is_string(right))
    return left.json().get_ref<const std::string&>() < right.json().get_ref<const std::string&>();
  if (is_list(left) && is_list(right)) {
    const Json& a = left.json();
    const Json& b = right.json();
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
      if (json_equals(a[i], b[i])) continue;
      return less_than(left.element(i), right.element(i), symbol);
    }
    return a.size() < b.size();
  }
  if (left.is_undefined()) fail_undefined(left);
  if (right.is_undefined()) fail_undefined(right);
  fail(ErrorKind::kInvalidArgument, "'{}' not supported between instances of '{}' and '{}'", symbol,
       type_name(left), type_name(right));
}

bool contains(const Value& container, const Value& item) {
  if (container.is_undefined()) return false;
  if (is_string(container)) {
    if (!is_string(item))
      fail(ErrorKind::kInvalidArgument, "'in <string>' requires string as left operand, not {}",
           type_name(item));
    return container.json().get_ref<const std::string&>().find(
               item.json().get_ref<const std::string&>()) != std::string::npos;
  }
  if (is_list(container)) {
    if (!item.is_json()) return false;
    for (const Json& element : container.json())
      if (json_equals(element, item.json())) return true;
    return false;
  }
  if (is_mapping(container))
    return is_string(item) && container.json().contains(item.json().get_ref<const std::string&>());
  fail(ErrorKind::kInvalidArgument, "argument of type '{}' is not iterable", type_name(container));
}

}  // namespace

bool compare(CompareOp op, const Value& left, const Value& right) {
  switch (op) {
    case CompareOp::kEq:
      return equals(left, right);
    case CompareOp::kNe:
      return !equals(left, right);
    case CompareOp::kLt:
      return less_than(left, right, "<");
    case CompareOp::kGt:
      return less_than(right, left, ">");
    case CompareOp::kLe:
      return !less_than(right, left, "<=");
    case CompareOp::kGe:
      return !less_than(left, right, ">=");
    case CompareOp::kIn:
      return contains(right, left);
    case CompareOp::kNotIn:
      return !contains(right, left);
  }
  return false;
}

Value subscript(const Value& object, const Value& index) {
  if (object.is_undefined()) fail_undefined(object);
  if (object.is_object()) {
    if (const auto* ns = dynamic_cast<const Namespace*>(object.object()); ns && is_string(index)) {
      const auto it = ns->attributes.find(index.json().get<std::string>());
      if (it != ns->attributes.end()) return it->second;
    }
    return Value::undefined(
        fmt::format("'{}' object has no item {}", type_name(object),
                    index.is_json() ? python_repr(index.json()) : to_str(index)));
  }
  const Json& j = object.json();
  const std::string missing =
      fmt::format("'{} object' has no item {}", type_name(object),
                  index.is_json() ? python_repr(index.json()) : "Undefined");
  if (j.is_object()) {
    if (!is_string(index)) return Value::undefined(missing);
    const auto it = j.find(index.json().get_ref<const std::string&>());
    if (it == j.end()) return Value::undefined(missing);
    return Value(std::shared_ptr<const Json>(object.json_ptr(), &*it));
  }
  if ((j.is_array() || j.is_string()) && index.is_json() && is_int_like(index.json())) {
    int64_t i = to_int64(index.json());
    if (j.is_array()) {
      const auto size = static_cast<int64_t>(j.size());
      if (i < 0) i += size;
      if (i < 0 || i >= size) return Value::undefined(missing);
      return object.element(static_cast<size_t>(i));
    }
    const std::string& text = j.get_ref<const std::string&>();
    const std::vector<size_t> offsets = code_point_offsets(text);
    const auto size = static_cast<int64_t>(offsets.size() - 1);
    if (i < 0) i += size;
    if (i < 0 || i >= size) return Value::undefined(missing);
    const auto u = static_cast<size_t>(i);
    return Value(Json(text.substr(offsets[u], offsets[u + 1] - offsets[u])));
  }
  return Value::undefined(missing);
}

namespace {

// Python's slice.indices(): the positions a slice selects from a sequence of `size` items.
std::vector<size_t> slice_positions(int64_t size, const Value& start_value, const Value& stop_value,
                                    const Value& step_value) {
  auto bound = [](const Value& v, const char* what) -> std::optional<int64_t> {
    if (v.is_undefined() || is_none(v)) return std::nullopt;
    return as_int(v, what);
  };
  const int64_t step = bound(step_value, "slice step").value_or(1);
  if (step == 0) fail(ErrorKind::kInvalidArgument, "slice step cannot be zero");
  auto clamp = [&](std::optional<int64_t> v, int64_t fallback) {
    if (!v) return fallback;
    int64_t x = *v;
    if (x < 0)
      x = std::max<int64_t>(x + size, step < 0 ? -1 : 0);
    else
      x = std::min<int64_t>(x, step < 0 ? size - 1 : size);
    return x;
  };
  const int64_t start = clamp(bound(start_value, "slice start"), step < 0 ? size - 1 : 0);
  const int64_t stop = clamp(bound(stop_value, "slice stop"), step < 0 ? -1 : size);
  std::vector<size_t> positions;
  for (int64_t i = start; step > 0 ? i < stop : i > stop;) {
    positions.push_back(static_cast<size_t>(i));
    if (__builtin_add_overflow(i, step, &i)) break;  // a huge step leaves the sequence
  }
  return positions;
}

}  // namespace

Value slice(const Value& object, const Value& start, const Value& stop, const Value& step,
            Budget& budget) {
  if (object.is_undefined()) fail_undefined(object);
  if (is_list(object)) {
    const Json& j = object.json();
    Json out = Json::array();
    for (size_t i : slice_positions(static_cast<int64_t>(j.size()), start, stop, step))
      out.push_back(j[i]);
    budget.charge_size(out.size());
    return Value(std::move(out));
  }
  if (is_string(object)) {
    const std::string& text = object.json().get_ref<const std::string&>();
    const std::vector<size_t> offsets = code_point_offsets(text);
    std::string out;
    for (size_t i : slice_positions(static_cast<int64_t>(offsets.size() - 1), start, stop, step))
      out += text.substr(offsets[i], offsets[i + 1] - offsets[i]);
    budget.charge_size(out.size());
    return Value(Json(std::move(out)));
  }
  fail(ErrorKind::kInvalidArgument, "'{}' object is not subscriptable", type_name(object));
}

}  // namespace glimpse::io::jinja
