#include "io/jinja/template.h"

#include "io/jinja/evaluator.h"
#include "io/jinja/parser.h"

namespace glimpse::io::jinja {

Template::Template(std::string_view source, const Limits& limits)
    : body_(parse(source, limits.max_parse_depth)), limits_(limits) {}

std::string Template::render(Json variables) const {
  return evaluate(body_, std::move(variables), limits_);
}

}  // namespace glimpse::io::jinja
