#include "io/jinja/parser.h"

#include <algorithm>
#include <initializer_list>

#include "core/error.h"

namespace glimpse::io::jinja {
namespace {

class Parser {
 public:
  Parser(std::vector<Token> tokens, int max_depth)
      : tokens_(std::move(tokens)), max_depth_(max_depth) {}

  StmtList parse_template() {
    StmtList body = parse_body({});
    if (current().type != TokenType::kEnd) error("unexpected '{}'", current().text);
    return body;
  }

 private:
  // Counts recursion so that deeply nested source fails cleanly instead of overflowing the stack.
  class DepthGuard {
   public:
    explicit DepthGuard(Parser& parser) : parser_(parser) {
      if (++parser_.depth_ > parser_.max_depth_)
        parser_.error_with(ErrorKind::kLimitExceeded, "template nested deeper than {} levels",
                           parser_.max_depth_);
    }
    ~DepthGuard() { --parser_.depth_; }
    DepthGuard(const DepthGuard&) = delete;
    DepthGuard& operator=(const DepthGuard&) = delete;

   private:
    Parser& parser_;
  };

  const Token& current() const { return tokens_[index_]; }
  const Token& peek(size_t ahead = 1) const {
    return tokens_[std::min(index_ + ahead, tokens_.size() - 1)];
  }
  const Token& advance() {
    const Token& token = tokens_[index_];
    if (index_ + 1 < tokens_.size()) ++index_;
    return token;
  }

  template <typename... Args>
  [[noreturn]] void error_with(ErrorKind kind, fmt::format_string<Args...> format,
                               Args&&... args) const {
    fail(kind, "line {}, column {}: {}", current().pos.line, current().pos.column,
         fmt::format(format, std::forward<Args>(args)...));
  }
  template <typename... Args>
  [[noreturn]] void error(fmt::format_string<Args...> format, Args&&... args) const {
    error_with(ErrorKind::kInvalidArgument, format, std::forward<Args>(args)...);
  }

  std::string describe_current() const {
    const Token& token = current();
    switch (token.type) {
      case TokenType::kName:
      case TokenType::kOperator:
        return "'" + token.text + "'";
      case TokenType::kString:
        return "string";
      default:
        return describe(token.type);
    }
  }

  bool is_name(std::string_view name) const {
    return current().type == TokenType::kName && current().text == name;
  }
  bool is_operator(std::string_view op) const {
    return current().type == TokenType::kOperator && current().text == op;
  }
  bool skip_name(std::string_view name) {
    if (!is_name(name)) return false;
    advance();
    return true;
  }
  bool skip_operator(std::string_view op) {
    if (!is_operator(op)) return false;
    advance();
    return true;
  }
  void expect_operator(std::string_view op) {
    if (!skip_operator(op)) error("expected '{}', got {}", op, describe_current());
  }
  std::string expect_name() {
    if (current().type != TokenType::kName) error("expected a name, got {}", describe_current());
    return advance().text;
  }
  void expect(TokenType type) {
    if (current().type != type) error("expected {}, got {}", describe(type), describe_current());
    advance();
  }

  static Literal literal(Json value) {
    return Literal{std::make_shared<const Json>(std::move(value))};
  }

  template <typename Node>
  ExprPtr make(SourcePos pos, Node node) {
    return std::make_unique<Expr>(Expr{pos, std::move(node)});
  }

  // ---- statements ----

  // Parses until `{% name %}` for one of end_names (left unconsumed) or the end of the template.
  StmtList parse_body(std::initializer_list<std::string_view> end_names) {
    DepthGuard guard(*this);
    StmtList body;
    while (true) {
      const Token& token = current();
      const SourcePos pos = token.pos;
      if (token.type == TokenType::kEnd) {
        if (end_names.size() != 0)
          error("unexpected end of template, expected '{}'", *end_names.begin());
        return body;
      }
      if (token.type == TokenType::kText) {
        body.push_back(std::make_unique<Stmt>(Stmt{pos, TextStmt{advance().text}}));
      } else if (token.type == TokenType::kVariableBegin) {
        advance();
        ExprPtr value = parse_tuple(true, {});
        expect(TokenType::kVariableEnd);
        body.push_back(std::make_unique<Stmt>(Stmt{pos, OutputStmt{std::move(value)}}));
      } else if (token.type == TokenType::kBlockBegin) {
        const Token& keyword = peek();
        if (keyword.type == TokenType::kName &&
            std::find(end_names.begin(), end_names.end(), keyword.text) != end_names.end()) {
          advance();  // '{%'; the caller consumes the end keyword
          return body;
        }
        advance();
        body.push_back(parse_statement());
      } else {
        error("unexpected {}", describe_current());
      }
    }
  }

  // After the caller saw `{% name`: consumes the name and the closing %}.
  void expect_end_tag(std::string_view name) {
    if (!skip_name(name)) error("expected '{}', got {}", name, describe_current());
    expect(TokenType::kBlockEnd);
  }

  std::unique_ptr<Stmt> parse_statement() {
    const SourcePos pos = current().pos;
    if (current().type != TokenType::kName)
      error("expected a tag name, got {}", describe_current());
    const std::string keyword = advance().text;
    auto make_stmt = [&](auto node) { return std::make_unique<Stmt>(Stmt{pos, std::move(node)}); };
    if (keyword == "if") return make_stmt(parse_if());
    if (keyword == "for") return make_stmt(parse_for());
    if (keyword == "set") return make_stmt(parse_set());
    if (keyword == "macro") return make_stmt(parse_macro());
    if (keyword == "break" || keyword == "continue") {
      if (loop_depth_ == 0)
        fail(ErrorKind::kInvalidArgument, "line {}, column {}: '{}' outside of a loop", pos.line,
             pos.column, keyword);
      expect(TokenType::kBlockEnd);
      if (keyword == "break") return make_stmt(BreakStmt{});
      return make_stmt(ContinueStmt{});
    }
    if (keyword == "generation") {
      expect(TokenType::kBlockEnd);
      BlockStmt block{parse_body({"endgeneration"})};
      expect_end_tag("endgeneration");
      return make_stmt(std::move(block));
    }
    static constexpr std::string_view kUnsupported[] = {"include",    "import", "from",   "extends",
                                                        "block",      "call",   "filter", "with",
                                                        "autoescape", "do"};
    if (std::find(std::begin(kUnsupported), std::end(kUnsupported), keyword) !=
        std::end(kUnsupported))
      fail(ErrorKind::kUnsupported, "line {}, column {}: the '{}' tag is not supported", pos.line,
           pos.column, keyword);
    fail(ErrorKind::kInvalidArgument, "line {}, column {}: unknown tag '{}'", pos.line, pos.column,
         keyword);
  }

  IfStmt parse_if() {
    IfStmt stmt;
    while (true) {
      ExprPtr condition = parse_tuple(false, {});
      expect(TokenType::kBlockEnd);
      StmtList body = parse_body({"elif", "else", "endif"});
      stmt.branches.emplace_back(std::move(condition), std::move(body));
      if (skip_name("elif")) continue;
      if (skip_name("else")) {
        expect(TokenType::kBlockEnd);
        stmt.otherwise = parse_body({"endif"});
      }
      expect_end_tag("endif");
      return stmt;
    }
  }

  // Assignment targets: a name, or names separated by commas (optionally parenthesised).
  std::vector<std::string> parse_target_names(std::string_view end_name) {
    std::vector<std::string> names;
    const bool parenthesised = skip_operator("(");
    while (true) {
      names.push_back(expect_name());
      if (!skip_operator(",")) break;
      if ((!end_name.empty() && is_name(end_name)) || is_operator(")") || is_operator("=")) break;
    }
    if (parenthesised) expect_operator(")");
    for (const std::string& name : names)
      if (name == "true" || name == "false" || name == "none" || name == "True" ||
          name == "False" || name == "None")
        error("cannot assign to '{}'", name);
    return names;
  }

  ForStmt parse_for() {
    ForStmt stmt;
    stmt.targets = parse_target_names("in");
    if (!skip_name("in")) error("expected 'in', got {}", describe_current());
    stmt.iterable = parse_tuple(false, {"recursive"});
    if (skip_name("if")) stmt.filter = parse_expression(true);
    if (is_name("recursive"))
      error_with(ErrorKind::kUnsupported, "recursive loops are not supported");
    expect(TokenType::kBlockEnd);
    ++loop_depth_;
    stmt.body = parse_body({"endfor", "else"});
    --loop_depth_;
    if (skip_name("else")) {
      expect(TokenType::kBlockEnd);
      stmt.otherwise = parse_body({"endfor"});
    }
    expect_end_tag("endfor");
    return stmt;
  }

  SetStmt parse_set() {
    SetStmt stmt;
    if (current().type == TokenType::kName && peek().type == TokenType::kOperator &&
        peek().text == ".") {
      stmt.targets.push_back(advance().text);
      advance();
      stmt.namespace_attribute = expect_name();
    } else {
      stmt.targets = parse_target_names("");
    }
    if (skip_operator("=")) {
      stmt.value = parse_tuple(true, {});
      expect(TokenType::kBlockEnd);
      return stmt;
    }
    if (stmt.targets.size() != 1 || !stmt.namespace_attribute.empty())
      error("a block set assigns exactly one name");
    while (is_operator("|")) {
      const SourcePos pos = current().pos;
      ExprPtr filtered = parse_filter(make(pos, literal(nullptr)));
      stmt.filters.push_back(std::move(std::get<FilterExpr>(filtered->node)));
    }
    expect(TokenType::kBlockEnd);
    stmt.body = parse_body({"endset"});
    expect_end_tag("endset");
    return stmt;
  }

  MacroStmt parse_macro() {
    MacroStmt stmt;
    stmt.name = expect_name();
    expect_operator("(");
    while (!is_operator(")")) {
      if (!stmt.params.empty()) expect_operator(",");
      if (is_operator(")")) break;
      MacroParam param;
      param.name = expect_name();
      if (skip_operator("=")) {
        param.default_value = parse_expression(true);
      } else if (!stmt.params.empty() && stmt.params.back().default_value) {
        error("parameter '{}' without a default follows one with a default", param.name);
      }
      stmt.params.push_back(std::move(param));
    }
    expect_operator(")");
    expect(TokenType::kBlockEnd);
    const int saved_loop_depth = loop_depth_;
    loop_depth_ = 0;  // a macro body is not inside the enclosing loop
    stmt.body = parse_body({"endmacro"});
    loop_depth_ = saved_loop_depth;
    advance();  // 'endmacro'
    if (current().type == TokenType::kName && current().text == stmt.name) advance();
    expect(TokenType::kBlockEnd);
    return stmt;
  }

  // ---- expressions (Jinja precedence, loosest first) ----

  bool is_tuple_end(std::initializer_list<std::string_view> extra_end_names) const {
    const Token& token = current();
    if (token.type == TokenType::kVariableEnd || token.type == TokenType::kBlockEnd ||
        (token.type == TokenType::kOperator && token.text == ")"))
      return true;
    return token.type == TokenType::kName &&
           std::find(extra_end_names.begin(), extra_end_names.end(), token.text) !=
               extra_end_names.end();
  }

  // `a, b` makes a tuple (a list here); a single expression stays itself.
  ExprPtr parse_tuple(bool with_conditional,
                      std::initializer_list<std::string_view> extra_end_names,
                      bool explicit_parentheses = false) {
    const SourcePos pos = current().pos;
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) expect_operator(",");
      if (is_tuple_end(extra_end_names)) break;
      items.push_back(parse_expression(with_conditional));
      if (is_operator(",")) {
        is_tuple = true;
      } else {
        break;
      }
    }
    if (!is_tuple) {
      if (!items.empty()) return std::move(items[0]);
      if (!explicit_parentheses) error("expected an expression, got {}", describe_current());
    }
    return make(pos, ListExpr{std::move(items)});
  }

  ExprPtr parse_expression(bool with_conditional) {
    DepthGuard guard(*this);
    if (!with_conditional) return parse_or();
    const SourcePos pos = current().pos;
    ExprPtr expr = parse_or();
    while (skip_name("if")) {
      ExprPtr condition = parse_or();
      ExprPtr otherwise;
      if (skip_name("else")) otherwise = parse_expression(true);
      expr =
          make(pos, ConditionalExpr{std::move(condition), std::move(expr), std::move(otherwise)});
    }
    return expr;
  }

  ExprPtr parse_or() {
    const SourcePos pos = current().pos;
    ExprPtr left = parse_and();
    while (skip_name("or"))
      left = make(pos, BinaryExpr{BinaryOp::kOr, std::move(left), parse_and()});
    return left;
  }

  ExprPtr parse_and() {
    const SourcePos pos = current().pos;
    ExprPtr left = parse_not();
    while (skip_name("and"))
      left = make(pos, BinaryExpr{BinaryOp::kAnd, std::move(left), parse_not()});
    return left;
  }

  ExprPtr parse_not() {
    DepthGuard guard(*this);
    const SourcePos pos = current().pos;
    if (skip_name("not")) return make(pos, UnaryExpr{UnaryOp::kNot, parse_not()});
    return parse_compare();
  }

  ExprPtr parse_compare() {
    const SourcePos pos = current().pos;
    ExprPtr first = parse_math1();
    CompareExpr compare;
    while (true) {
      std::optional<CompareOp> op;
      if (current().type == TokenType::kOperator) {
        const std::string& text = current().text;
        if (text == "==")
          op = CompareOp::kEq;
        else if (text == "!=")
          op = CompareOp::kNe;
        else if (text == "<")
          op = CompareOp::kLt;
        else if (text == "<=")
          op = CompareOp::kLe;
        else if (text == ">")
          op = CompareOp::kGt;
        else if (text == ">=")
          op = CompareOp::kGe;
        if (op) advance();
      } else if (is_name("in")) {
        advance();
        op = CompareOp::kIn;
      } else if (is_name("not") && peek().type == TokenType::kName && peek().text == "in") {
        advance();
        advance();
        op = CompareOp::kNotIn;
      }
      if (!op) break;
      compare.rest.emplace_back(*op, parse_math1());
    }
    if (compare.rest.empty()) return first;
    compare.first = std::move(first);
    return make(pos, std::move(compare));
  }

  ExprPtr parse_math1() {
    const SourcePos pos = current().pos;
    ExprPtr left = parse_concat();
    while (is_operator("+") || is_operator("-")) {
      const BinaryOp op = advance().text == "+" ? BinaryOp::kAdd : BinaryOp::kSub;
      left = make(pos, BinaryExpr{op, std::move(left), parse_concat()});
    }
    return left;
  }

  ExprPtr parse_concat() {
    const SourcePos pos = current().pos;
    ExprPtr first = parse_math2();
    if (!is_operator("~")) return first;
    ConcatExpr concat;
    concat.parts.push_back(std::move(first));
    while (skip_operator("~")) concat.parts.push_back(parse_math2());
    return make(pos, std::move(concat));
  }

  ExprPtr parse_math2() {
    const SourcePos pos = current().pos;
    ExprPtr left = parse_pow();
    while (true) {
      BinaryOp op;
      if (is_operator("*"))
        op = BinaryOp::kMul;
      else if (is_operator("/"))
        op = BinaryOp::kDiv;
      else if (is_operator("//"))
        op = BinaryOp::kFloorDiv;
      else if (is_operator("%"))
        op = BinaryOp::kMod;
      else
        break;
      advance();
      left = make(pos, BinaryExpr{op, std::move(left), parse_pow()});
    }
    return left;
  }

  ExprPtr parse_pow() {
    const SourcePos pos = current().pos;
    ExprPtr left = parse_unary(true);
    while (skip_operator("**"))
      left = make(pos, BinaryExpr{BinaryOp::kPow, std::move(left), parse_unary(true)});
    return left;
  }

  ExprPtr parse_unary(bool with_filter) {
    DepthGuard guard(*this);
    const SourcePos pos = current().pos;
    ExprPtr node;
    if (skip_operator("-")) {
      node = make(pos, UnaryExpr{UnaryOp::kNegate, parse_unary(false)});
    } else if (skip_operator("+")) {
      node = make(pos, UnaryExpr{UnaryOp::kPlus, parse_unary(false)});
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
  }

  ExprPtr parse_primary() {
    const Token& token = current();
    const SourcePos pos = token.pos;
    switch (token.type) {
      case TokenType::kName: {
        const std::string name = advance().text;
        if (name == "true" || name == "True") return make(pos, literal(true));
        if (name == "false" || name == "False") return make(pos, literal(false));
        if (name == "none" || name == "None") return make(pos, literal(nullptr));
        return make(pos, NameRef{name});
      }
      case TokenType::kString: {
        std::string text;
        while (current().type == TokenType::kString) text += advance().text;  // 'a' 'b' joins
        return make(pos, literal(std::move(text)));
      }
      case TokenType::kInteger:
      case TokenType::kFloat:
        return make(pos, literal(advance().number));
      case TokenType::kOperator:
        if (skip_operator("(")) {
          ExprPtr inner = parse_tuple(true, {}, true);
          expect_operator(")");
          return inner;
        }
        if (is_operator("[")) return parse_list();
        if (is_operator("{")) return parse_dict();
        break;
      default:
        break;
    }
    error("unexpected {}", describe_current());
  }

  ExprPtr parse_list() {
    const SourcePos pos = current().pos;
    expect_operator("[");
    ListExpr list;
    while (!is_operator("]")) {
      if (!list.items.empty()) expect_operator(",");
      if (is_operator("]")) break;
      list.items.push_back(parse_expression(true));
    }
    expect_operator("]");
    return make(pos, std::move(list));
  }

  ExprPtr parse_dict() {
    const SourcePos pos = current().pos;
    expect_operator("{");
    DictExpr dict;
    while (!is_operator("}")) {
      if (!dict.items.empty()) expect_operator(",");
      if (is_operator("}")) break;
      ExprPtr key = parse_expression(true);
      expect_operator(":");
      dict.items.emplace_back(std::move(key), parse_expression(true));
    }
    expect_operator("}");
    return make(pos, std::move(dict));
  }

  ExprPtr parse_postfix(ExprPtr node) {
    while (true) {
      if (is_operator(".") || is_operator("[")) {
        node = parse_subscript(std::move(node));
      } else if (is_operator("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_filter_expr(ExprPtr node) {
    while (true) {
      if (is_operator("|")) {
        node = parse_filter(std::move(node));
      } else if (is_name("is")) {
        node = parse_test(std::move(node));
      } else if (is_operator("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr object) {
    const SourcePos pos = current().pos;
    if (skip_operator(".")) {
      if (current().type == TokenType::kName)
        return make(pos, AttributeExpr{std::move(object), advance().text});
      if (current().type == TokenType::kInteger)
        return make(pos, SubscriptExpr{std::move(object), make(pos, literal(advance().number))});
      error("expected a name or number after '.', got {}", describe_current());
    }
    expect_operator("[");
    ExprPtr index = parse_subscribed();
    if (is_operator(",")) error_with(ErrorKind::kUnsupported, "tuple subscripts are not supported");
    expect_operator("]");
    return make(pos, SubscriptExpr{std::move(object), std::move(index)});
  }

  // An index or a slice start:stop:step (each part optional).
  ExprPtr parse_subscribed() {
    const SourcePos pos = current().pos;
    ExprPtr start;
    if (!is_operator(":")) {
      start = parse_expression(true);
      if (!is_operator(":")) return start;
    }
    advance();  // ':'
    SliceExpr slice;
    slice.start = std::move(start);
    if (!is_operator("]") && !is_operator(",") && !is_operator(":"))
      slice.stop = parse_expression(true);
    if (skip_operator(":") && !is_operator("]") && !is_operator(","))
      slice.step = parse_expression(true);
    return make(pos, std::move(slice));
  }

  CallArgs parse_call_args() {
    expect_operator("(");
    CallArgs args;
    while (!is_operator(")")) {
      if (!args.positional.empty() || !args.keywords.empty()) {
        expect_operator(",");
        if (is_operator(")")) break;
      }
      if (is_operator("*") || is_operator("**"))
        error_with(ErrorKind::kUnsupported, "*args and **kwargs in calls are not supported");
      if (current().type == TokenType::kName && peek().type == TokenType::kOperator &&
          peek().text == "=") {
        std::string name = advance().text;
        advance();
        args.keywords.push_back({std::move(name), parse_expression(true)});
      } else {
        if (!args.keywords.empty()) error("positional argument follows keyword argument");
        args.positional.push_back(parse_expression(true));
      }
    }
    expect_operator(")");
    return args;
  }

  ExprPtr parse_call(ExprPtr callee) {
    const SourcePos pos = callee->pos;  // errors point at what is called
    CallArgs args = parse_call_args();
    return make(pos, CallExpr{std::move(callee), std::move(args)});
  }

  ExprPtr parse_filter(ExprPtr operand) {
    expect_operator("|");
    const SourcePos pos = current().pos;
    std::string name = expect_name();
    CallArgs args;
    if (is_operator("(")) args = parse_call_args();
    return make(pos, FilterExpr{std::move(operand), std::move(name), std::move(args)});
  }

  ExprPtr parse_test(ExprPtr operand) {
    const SourcePos pos = current().pos;
    advance();  // 'is'
    const bool negated = skip_name("not");
    std::string name = expect_name();
    CallArgs args;
    const TokenType type = current().type;
    if (is_operator("(")) {
      args = parse_call_args();
    } else if ((type == TokenType::kName || type == TokenType::kString ||
                type == TokenType::kInteger || type == TokenType::kFloat || is_operator("[") ||
                is_operator("{")) &&
               !is_name("else") && !is_name("or") && !is_name("and")) {
      if (is_name("is")) error("cannot chain multiple tests with 'is'");
      args.positional.push_back(parse_postfix(parse_primary()));
    }
    return make(pos, TestExpr{std::move(operand), std::move(name), std::move(args), negated});
  }

  std::vector<Token> tokens_;
  size_t index_ = 0;
  int depth_ = 0;
  int max_depth_;
  int loop_depth_ = 0;
};

}  // namespace

StmtList parse(std::string_view source, int max_depth) {
  return Parser(tokenize(source), max_depth).parse_template();
}

}  // namespace glimpse::io::jinja
