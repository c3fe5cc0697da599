// The parsed template: expressions and statements, each with the source position of its first
// token for error messages.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "io/jinja/lexer.h"
#include "io/jinja/value.h"

namespace glimpse::io::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct KeywordArg {
  std::string name;
  ExprPtr value;
};

struct CallArgs {
  std::vector<ExprPtr> positional;
  std::vector<KeywordArg> keywords;
};

struct Literal {
  std::shared_ptr<const Json> value;  // shared so that evaluating it copies nothing
};
struct NameRef {
  std::string name;
};
struct ListExpr {  // [a, b] and tuples (a, b)
  std::vector<ExprPtr> items;
};
struct DictExpr {
  std::vector<std::pair<ExprPtr, ExprPtr>> items;
};
struct AttributeExpr {  // object.name
  ExprPtr object;
  std::string name;
};
struct SliceExpr {  // start:stop:step inside a subscript; each part optional
  ExprPtr start, stop, step;
};
struct SubscriptExpr {  // object[index]
  ExprPtr object;
  ExprPtr index;
};
struct CallExpr {
  ExprPtr callee;
  CallArgs args;
};
struct FilterExpr {  // operand | name(args)
  ExprPtr operand;
  std::string name;
  CallArgs args;
};
struct TestExpr {  // operand is [not] name(args)
  ExprPtr operand;
  std::string name;
  CallArgs args;
  bool negated = false;
};
enum class UnaryOp { kNot, kNegate, kPlus };
struct UnaryExpr {
  UnaryOp op;
  ExprPtr operand;
};
enum class BinaryOp { kAnd, kOr, kAdd, kSub, kMul, kDiv, kFloorDiv, kMod, kPow };
struct BinaryExpr {
  BinaryOp op;
  ExprPtr left, right;
};
enum class CompareOp { kEq, kNe, kLt, kLe, kGt, kGe, kIn, kNotIn };
struct CompareExpr {  // a < b <= c: chained, as in Python
  ExprPtr first;
  std::vector<std::pair<CompareOp, ExprPtr>> rest;
};
struct ConcatExpr {  // a ~ b ~ c
  std::vector<ExprPtr> parts;
};
struct ConditionalExpr {  // then if condition else otherwise (otherwise may be absent)
  ExprPtr condition, then, otherwise;
};

struct Expr {
  SourcePos pos;
  std::variant<Literal, NameRef, ListExpr, DictExpr, AttributeExpr, SliceExpr, SubscriptExpr,
               CallExpr, FilterExpr, TestExpr, UnaryExpr, BinaryExpr, CompareExpr, ConcatExpr,
               ConditionalExpr>
      node;
};

struct Stmt;
using StmtList = std::vector<std::unique_ptr<Stmt>>;

struct TextStmt {
  std::string text;
};
struct OutputStmt {  // {{ expr }}
  ExprPtr value;
};
struct IfStmt {  // if / elif... / else
  std::vector<std::pair<ExprPtr, StmtList>> branches;
  StmtList otherwise;
};
struct ForStmt {
  std::vector<std::string> targets;  // one name, or several to unpack each item into
  ExprPtr iterable;
  ExprPtr filter;  // `for x in xs if cond`; may be null
  StmtList body;
  StmtList otherwise;  // runs when no item was iterated
};
// {% set a = v %}, {% set a, b = v %}, {% set ns.attr = v %}, or {% set a %}...{% endset %}.
struct SetStmt {
  std::vector<std::string> targets;
  std::string namespace_attribute;  // non-empty for ns.attr (targets holds "ns")
  ExprPtr value;                    // null for the block form
  StmtList body;
  std::vector<FilterExpr> filters;  // block form: {% set a | upper %}; operand unused
};
struct MacroParam {
  std::string name;
  ExprPtr default_value;  // may be null
};
struct MacroStmt {
  std::string name;
  std::vector<MacroParam> params;
  StmtList body;
};
struct BreakStmt {};
struct ContinueStmt {};
struct BlockStmt {  // {% generation %}...: rendered as its body
  StmtList body;
};

struct Stmt {
  SourcePos pos;
  std::variant<TextStmt, OutputStmt, IfStmt, ForStmt, SetStmt, MacroStmt, BreakStmt, ContinueStmt,
               BlockStmt>
      node;
};

}  // namespace glimpse::io::jinja
