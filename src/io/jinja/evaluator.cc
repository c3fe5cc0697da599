#include "io/jinja/evaluator.h"

#include <exception>
#include <unordered_map>

#include "core/error.h"
#include "io/jinja/builtins.h"
#include "io/jinja/operators.h"

namespace glimpse::io::jinja {
namespace {

// A scope. Loop iterations and macro calls get a child frame, so that `set` inside them does
// not leak out, as in Jinja.
struct Frame {
  explicit Frame(std::shared_ptr<Frame> parent_frame) : parent(std::move(parent_frame)) {}
  const Value* find(const std::string& name) const {
    for (const Frame* frame = this; frame != nullptr; frame = frame->parent.get()) {
      const auto it = frame->variables.find(name);
      if (it != frame->variables.end()) return &it->second;
    }
    return nullptr;
  }
  std::shared_ptr<Frame> parent;
  std::unordered_map<std::string, Value> variables;
};
using FramePtr = std::shared_ptr<Frame>;

// A macro remembers the scope it was defined in without owning it (a frame owns the macro, so
// owning back would leak the cycle).
class Macro : public Object {
 public:
  Macro(const MacroStmt* macro_definition, std::weak_ptr<Frame> defining_scope)
      : definition(macro_definition), scope(std::move(defining_scope)) {}
  std::string type_name() const override { return "Macro"; }
  const MacroStmt* definition;
  std::weak_ptr<Frame> scope;
};

// The `loop` variable of a for loop.
class LoopInfo : public Object {
 public:
  LoopInfo(std::shared_ptr<const std::vector<Value>> loop_items, size_t loop_index)
      : items(std::move(loop_items)), index(loop_index) {}
  std::string type_name() const override { return "LoopContext"; }
  std::shared_ptr<const std::vector<Value>> items;
  size_t index;
};

enum class Flow { kNormal, kBreak, kContinue };

class Evaluator {
 public:
  explicit Evaluator(const Limits& limits) : budget_(limits) {}

  std::string run(const StmtList& body, Json variables) {
    auto globals = std::make_shared<Frame>(nullptr);
    for (auto& [name, value] : global_functions()) globals->variables[name] = std::move(value);
    auto root = std::make_shared<Frame>(globals);
    const auto shared_variables = std::make_shared<const Json>(std::move(variables));
    for (auto it = shared_variables->begin(); it != shared_variables->end(); ++it)
      root->variables[it.key()] = Value(std::shared_ptr<const Json>(shared_variables, &*it));
    std::string out;
    try {
      exec_all(body, root, out);
    } catch (const Error& e) {
      throw Error(e.kind(),
                  fmt::format("line {}, column {}: {}", pos_.line, pos_.column, e.what()));
    }
    return out;
  }

 private:
  // Marks the node being evaluated. On success the outer position comes back; when an error
  // unwinds through, the innermost position stays for the message.
  class At {
   public:
    At(Evaluator& evaluator, SourcePos pos)
        : evaluator_(evaluator), saved_(evaluator.pos_), exceptions_(std::uncaught_exceptions()) {
      evaluator_.pos_ = pos;
      evaluator_.budget_.step();
      evaluator_.budget_.enter();
    }
    ~At() {
      evaluator_.budget_.leave();
      if (std::uncaught_exceptions() == exceptions_) evaluator_.pos_ = saved_;
    }
    At(const At&) = delete;
    At& operator=(const At&) = delete;

   private:
    Evaluator& evaluator_;
    SourcePos saved_;
    int exceptions_;
  };

  void emit(std::string& out, std::string_view text) {
    if (out.size() + text.size() > budget_.limits().max_bytes)
      fail(ErrorKind::kLimitExceeded, "template output exceeds {} bytes",
           budget_.limits().max_bytes);
    budget_.step(1 + text.size() / 64);
    out += text;
  }

  // ---- statements ----

  Flow exec_all(const StmtList& body, const FramePtr& frame, std::string& out) {
    for (const auto& stmt : body) {
      const Flow flow = exec(*stmt, frame, out);
      if (flow != Flow::kNormal) return flow;
    }
    return Flow::kNormal;
  }

  Flow exec(const Stmt& stmt, const FramePtr& frame, std::string& out) {
    At at(*this, stmt.pos);
    return std::visit([&](const auto& node) { return exec_node(node, frame, out); }, stmt.node);
  }

  Flow exec_node(const TextStmt& node, const FramePtr&, std::string& out) {
    emit(out, node.text);
    return Flow::kNormal;
  }

  Flow exec_node(const OutputStmt& node, const FramePtr& frame, std::string& out) {
    emit(out, to_str(eval(*node.value, frame)));
    return Flow::kNormal;
  }

  Flow exec_node(const IfStmt& node, const FramePtr& frame, std::string& out) {
    for (const auto& [condition, body] : node.branches)
      if (truthy(eval(*condition, frame))) return exec_all(body, frame, out);
    return exec_all(node.otherwise, frame, out);
  }

  void assign(const std::vector<std::string>& targets, const Value& value, Frame& frame) {
    if (targets.size() == 1) {
      frame.variables[targets[0]] = value;
      return;
    }
    const std::vector<Value> items = iterate_or_fail(value);
    if (items.size() != targets.size())
      fail(ErrorKind::kInvalidArgument, "{} values to unpack (expected {}, got {})",
           items.size() > targets.size() ? "too many" : "not enough", targets.size(), items.size());
    for (size_t i = 0; i < targets.size(); ++i) frame.variables[targets[i]] = items[i];
  }

  std::vector<Value> iterate_or_fail(const Value& value) {
    std::vector<Value> items = iterate(value);
    budget_.step(items.size());
    return items;
  }

  Flow exec_node(const ForStmt& node, const FramePtr& frame, std::string& out) {
    std::vector<Value> all = iterate_or_fail(eval(*node.iterable, frame));
    if (node.filter) {
      std::vector<Value> kept;
      for (Value& item : all) {
        auto scope = std::make_shared<Frame>(frame);
        assign(node.targets, item, *scope);
        if (truthy(eval(*node.filter, scope))) kept.push_back(std::move(item));
      }
      all = std::move(kept);
    }
    const auto items = std::make_shared<const std::vector<Value>>(std::move(all));
    for (size_t i = 0; i < items->size(); ++i) {
      budget_.step();
      auto scope = std::make_shared<Frame>(frame);
      assign(node.targets, (*items)[i], *scope);
      scope->variables["loop"] = Value(std::make_shared<LoopInfo>(items, i));
      if (exec_all(node.body, scope, out) == Flow::kBreak) break;
    }
    if (items->empty()) return exec_all(node.otherwise, std::make_shared<Frame>(frame), out);
    return Flow::kNormal;
  }

  Flow exec_node(const SetStmt& node, const FramePtr& frame, std::string& out) {
    (void)out;
    Value value;
    if (node.value) {
      value = eval(*node.value, frame);
    } else {
      std::string captured;
      exec_all(node.body, std::make_shared<Frame>(frame), captured);
      value = Value(Json(std::move(captured)));
      for (const FilterExpr& filter : node.filters) value = apply_filter(filter, value, frame);
    }
    if (node.namespace_attribute.empty()) {
      assign(node.targets, value, *frame);
      return Flow::kNormal;
    }
    const Value* target = frame->find(node.targets[0]);
    auto* ns = target ? dynamic_cast<Namespace*>(target->object()) : nullptr;
    if (!ns)
      fail(ErrorKind::kInvalidArgument, "cannot assign attribute '{}' on '{}': not a namespace",
           node.namespace_attribute, node.targets[0]);
    if (value.is_object() && dynamic_cast<Namespace*>(value.object()))
      fail(ErrorKind::kUnsupported, "a namespace cannot be stored inside a namespace");
    ns->attributes[node.namespace_attribute] = value;
    return Flow::kNormal;
  }

  Flow exec_node(const MacroStmt& node, const FramePtr& frame, std::string&) {
    frame->variables[node.name] = Value(std::make_shared<Macro>(&node, frame));
    return Flow::kNormal;
  }

  Flow exec_node(const BreakStmt&, const FramePtr&, std::string&) { return Flow::kBreak; }
  Flow exec_node(const ContinueStmt&, const FramePtr&, std::string&) { return Flow::kContinue; }
  Flow exec_node(const BlockStmt& node, const FramePtr& frame, std::string& out) {
    return exec_all(node.body, frame, out);
  }

  // ---- expressions ----

  Value eval(const Expr& expr, const FramePtr& frame) {
    At at(*this, expr.pos);
    return std::visit([&](const auto& node) { return eval_node(node, frame); }, expr.node);
  }

  Value eval_node(const Literal& node, const FramePtr&) { return Value(node.value); }

  Value eval_node(const NameRef& node, const FramePtr& frame) {
    if (const Value* value = frame->find(node.name)) return *value;
    return Value::undefined(fmt::format("'{}' is undefined", node.name));
  }

  Value eval_node(const ListExpr& node, const FramePtr& frame) {
    Json list = Json::array();
    for (const auto& item : node.items) list.push_back(to_data(eval(*item, frame), "a list"));
    return Value(std::move(list));
  }

  Value eval_node(const DictExpr& node, const FramePtr& frame) {
    Json dict = Json::object();
    for (const auto& [key_expr, value_expr] : node.items) {
      const Value key = eval(*key_expr, frame);
      if (!is_string(key))
        fail(ErrorKind::kUnsupported, "dict keys must be strings, not '{}'", type_name(key));
      dict[key.json().get<std::string>()] = to_data(eval(*value_expr, frame), "a dict");
    }
    return Value(std::move(dict));
  }

  Value eval_node(const AttributeExpr& node, const FramePtr& frame) {
    return attribute(eval(*node.object, frame), node.name);
  }

  // Jinja's getattr: dict keys, namespace and loop attributes. Missing ones are undefined.
  Value attribute(const Value& object, const std::string& name) {
    if (object.is_undefined()) fail_undefined(object);
    if (is_mapping(object)) {
      const Json& j = object.json();
      const auto it = j.find(name);
      if (it != j.end()) return Value(std::shared_ptr<const Json>(object.json_ptr(), &*it));
    } else if (const auto* ns = dynamic_cast<const Namespace*>(object.object())) {
      const auto it = ns->attributes.find(name);
      if (it != ns->attributes.end()) return it->second;
    } else if (const auto* loop = dynamic_cast<const LoopInfo*>(object.object())) {
      return loop_attribute(*loop, name);
    }
    return Value::undefined(
        fmt::format("'{}' has no attribute '{}'",
                    object.is_json() ? type_name(object) + " object" : type_name(object), name));
  }

  static Value loop_attribute(const LoopInfo& loop, const std::string& name) {
    const auto length = static_cast<int64_t>(loop.items->size());
    const auto index = static_cast<int64_t>(loop.index);
    if (name == "index0") return Value(index);
    if (name == "index") return Value(index + 1);
    if (name == "revindex0") return Value(length - index - 1);
    if (name == "revindex") return Value(length - index);
    if (name == "first") return Value(index == 0);
    if (name == "last") return Value(index == length - 1);
    if (name == "length") return Value(length);
    if (name == "depth") return Value(Json(int64_t{1}));
    if (name == "depth0") return Value(Json(int64_t{0}));
    if (name == "previtem") {
      if (index == 0) return Value::undefined("there is no previous item");
      return (*loop.items)[loop.index - 1];
    }
    if (name == "nextitem") {
      if (index + 1 >= length) return Value::undefined("there is no next item");
      return (*loop.items)[loop.index + 1];
    }
    return Value::undefined(fmt::format("'LoopContext' has no attribute '{}'", name));
  }

  Value eval_node(const SliceExpr&, const FramePtr&) {
    fail(ErrorKind::kInvalidArgument, "a slice is only valid inside [ ]");
  }

  Value eval_node(const SubscriptExpr& node, const FramePtr& frame) {
    const Value object = eval(*node.object, frame);
    if (const auto* range = std::get_if<SliceExpr>(&node.index->node)) {
      auto part = [&](const ExprPtr& e) { return e ? eval(*e, frame) : Value(); };
      return slice(object, part(range->start), part(range->stop), part(range->step), budget_);
    }
    const Value index = eval(*node.index, frame);
    if (object.is_object() && dynamic_cast<const LoopInfo*>(object.object()) && is_string(index))
      return attribute(object, index.json().get<std::string>());
    return subscript(object, index);
  }

  Args eval_args(const CallArgs& call_args, const FramePtr& frame) {
    Args args;
    for (const auto& e : call_args.positional) args.positional.push_back(eval(*e, frame));
    for (const auto& [name, e] : call_args.keywords)
      args.keywords.emplace_back(name, eval(*e, frame));
    return args;
  }

  Value eval_node(const CallExpr& node, const FramePtr& frame) {
    if (const auto* method = std::get_if<AttributeExpr>(&node.callee->node)) {
      const Value receiver = eval(*method->object, frame);
      if (receiver.is_json()) {
        const Args args = eval_args(node.args, frame);
        Value result = call_method(receiver, method->name, args, budget_);
        if (result.is_undefined())
          fail(ErrorKind::kUnsupported, "'{}' object has no method '{}'", type_name(receiver),
               method->name);
        return result;
      }
      if (const auto* loop = dynamic_cast<const LoopInfo*>(receiver.object());
          loop && method->name == "cycle") {
        const Args args = eval_args(node.args, frame);
        if (args.positional.empty() || !args.keywords.empty())
          fail(ErrorKind::kInvalidArgument, "loop.cycle() takes one or more positional arguments");
        return args.positional[loop->index % args.positional.size()];
      }
      return call(attribute(receiver, method->name), eval_args(node.args, frame));
    }
    const Value callee = eval(*node.callee, frame);
    return call(callee, eval_args(node.args, frame));
  }

  Value call(const Value& callee, const Args& args) {
    if (callee.is_undefined()) fail_undefined(callee);
    if (const auto* function = dynamic_cast<const Function*>(callee.object()))
      return function->fn(args, budget_);
    if (const auto* macro = dynamic_cast<const Macro*>(callee.object()))
      return call_macro(*macro, args);
    fail(ErrorKind::kInvalidArgument, "'{}' object is not callable", type_name(callee));
  }

  Value call_macro(const Macro& macro, const Args& args) {
    const MacroStmt& definition = *macro.definition;
    FramePtr scope = macro.scope.lock();
    if (!scope)
      fail(ErrorKind::kUnsupported, "macro '{}' called after the scope it was defined in ended",
           definition.name);
    if (args.positional.size() > definition.params.size())
      fail(ErrorKind::kInvalidArgument, "macro '{}' takes not more than {} argument(s)",
           definition.name, definition.params.size());
    auto frame = std::make_shared<Frame>(scope);
    std::vector<bool> given(definition.params.size(), false);
    for (size_t i = 0; i < args.positional.size(); ++i) {
      frame->variables[definition.params[i].name] = args.positional[i];
      given[i] = true;
    }
    for (const auto& [name, value] : args.keywords) {
      size_t i = 0;
      while (i < definition.params.size() && definition.params[i].name != name) ++i;
      if (i == definition.params.size())
        fail(ErrorKind::kInvalidArgument, "macro '{}' takes no keyword argument '{}'",
             definition.name, name);
      if (given[i])
        fail(ErrorKind::kInvalidArgument, "macro '{}' got multiple values for argument '{}'",
             definition.name, name);
      frame->variables[name] = value;
      given[i] = true;
    }
    for (size_t i = 0; i < definition.params.size(); ++i) {
      if (given[i]) continue;
      const MacroParam& param = definition.params[i];
      frame->variables[param.name] =
          param.default_value
              ? eval(*param.default_value, frame)
              : Value::undefined(fmt::format("parameter '{}' was not provided", param.name));
    }
    std::string out;
    exec_all(definition.body, frame, out);
    return Value(Json(std::move(out)));
  }

  Value apply_filter(const FilterExpr& node, const Value& operand, const FramePtr& frame) {
    const FilterFn filter = find_filter(node.name);
    if (!filter) fail(ErrorKind::kInvalidArgument, "no filter named '{}'", node.name);
    return filter(operand, eval_args(node.args, frame), budget_);
  }

  Value eval_node(const FilterExpr& node, const FramePtr& frame) {
    return apply_filter(node, eval(*node.operand, frame), frame);
  }

  Value eval_node(const TestExpr& node, const FramePtr& frame) {
    const TestFn test = find_test(node.name);
    if (!test) fail(ErrorKind::kInvalidArgument, "no test named '{}'", node.name);
    const Value operand = eval(*node.operand, frame);
    return Value(test(operand, eval_args(node.args, frame), budget_) != node.negated);
  }

  Value eval_node(const UnaryExpr& node, const FramePtr& frame) {
    const Value operand = eval(*node.operand, frame);
    if (node.op == UnaryOp::kNot) return Value(!truthy(operand));
    return negate(operand, node.op == UnaryOp::kPlus);
  }

  Value eval_node(const BinaryExpr& node, const FramePtr& frame) {
    Value left = eval(*node.left, frame);
    if (node.op == BinaryOp::kAnd) return truthy(left) ? eval(*node.right, frame) : left;
    if (node.op == BinaryOp::kOr) return truthy(left) ? left : eval(*node.right, frame);
    return arithmetic(node.op, left, eval(*node.right, frame), budget_);
  }

  Value eval_node(const CompareExpr& node, const FramePtr& frame) {
    Value left = eval(*node.first, frame);
    for (const auto& [op, right_expr] : node.rest) {
      Value right = eval(*right_expr, frame);
      if (!compare(op, left, right)) return Value(false);
      left = std::move(right);
    }
    return Value(true);
  }

  Value eval_node(const ConcatExpr& node, const FramePtr& frame) {
    std::string out;
    for (const auto& part : node.parts) {
      out += to_str(eval(*part, frame));
      budget_.check_size(out.size());
    }
    budget_.charge_size(out.size());
    return Value(Json(std::move(out)));
  }

  Value eval_node(const ConditionalExpr& node, const FramePtr& frame) {
    if (truthy(eval(*node.condition, frame))) return eval(*node.then, frame);
    if (node.otherwise) return eval(*node.otherwise, frame);
    return Value::undefined("the conditional expression had no else branch");
  }

  Budget budget_;
  SourcePos pos_;
};

}  // namespace

std::string evaluate(const StmtList& body, Json variables, const Limits& limits) {
  return Evaluator(limits).run(body, std::move(variables));
}

}  // namespace glimpse::io::jinja
