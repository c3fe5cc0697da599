// Python semantics of Jinja's operators on values: arithmetic (int overflow is an error, since
// Python would switch to big integers), comparisons, membership, subscripts and slices.
#pragma once

#include <optional>

#include "io/jinja/ast.h"
#include "io/jinja/budget.h"
#include "io/jinja/value.h"

namespace glimpse::io::jinja {

// kAdd..kPow (not kAnd/kOr, which short-circuit in the evaluator).
Value arithmetic(BinaryOp op, const Value& left, const Value& right, Budget& budget);
Value negate(const Value& operand, bool plus);
bool compare(CompareOp op, const Value& left, const Value& right);
// object[index]: lists and strings by int (negative from the end), dicts by key. Missing
// items are undefined, as in Jinja.
Value subscript(const Value& object, const Value& index);
Value slice(const Value& object, const Value& start, const Value& stop, const Value& step,
            Budget& budget);
// Throws the UndefinedError Jinja raises when an undefined value is used.
[[noreturn]] void fail_undefined(const Value& value);

}  // namespace glimpse::io::jinja
