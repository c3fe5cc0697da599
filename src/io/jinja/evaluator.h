// Executes a statement tree: scopes, control flow, operators, attribute access, calls.
#pragma once

#include <string>

#include "io/jinja/ast.h"
#include "io/jinja/budget.h"

namespace glimpse::io::jinja {

// Renders `body` with `variables` (an object) on top of the global functions. Errors carry the
// position of the innermost expression or statement being evaluated.
std::string evaluate(const StmtList& body, Json variables, const Limits& limits);

}  // namespace glimpse::io::jinja
