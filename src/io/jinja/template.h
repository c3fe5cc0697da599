// A parsed Jinja template, rendered under transformers' environment: trim_blocks, lstrip_blocks,
// loop controls, no autoescape, the default (lenient) Undefined, and the sandbox's immutable
// lists and dicts. Supported: if/elif/else, for (with else, `if` filter, unpacking, loop.*),
// set (incl. namespace attributes and block set), macro, break/continue, generation, raw,
// comments, whitespace control, and the filters/tests/methods in builtins.h.
#pragma once

#include <string>
#include <string_view>

#include "io/jinja/ast.h"
#include "io/jinja/budget.h"

namespace glimpse::io::jinja {

class Template {
 public:
  // Throws Error "line L, column C: ..." on a syntax error.
  explicit Template(std::string_view source, const Limits& limits = {});

  // `variables` is an object of template variables (taken by value: move it in to avoid a copy).
  // Throws Error "line L, column C: ..." for a runtime error (raise_exception, a type error, a
  // work bound).
  std::string render(Json variables) const;

 private:
  StmtList body_;
  Limits limits_;
};

}  // namespace glimpse::io::jinja
