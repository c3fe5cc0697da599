// Builds the statement tree from tokens, following Jinja 3.1's grammar and operator precedence.
// Filter and test names are resolved when evaluated: Jinja 3.1 too accepts an unknown filter in a
// branch that never runs.
#pragma once

#include <string_view>

#include "io/jinja/ast.h"

namespace glimpse::io::jinja {

// Throws Error (kInvalidArgument) "line L, column C: ..." on a syntax error, or
// (kUnsupported) for Jinja features glimpse does not implement (include, call blocks, ...).
StmtList parse(std::string_view source, int max_depth);

}  // namespace glimpse::io::jinja
