#include "core/paths.h"

#include <cstdlib>

namespace glimpse {

std::string source_dir() {
  return GLIMPSE_SOURCE_DIR;
}

std::string default_model_dir() {
  if (const char* env = std::getenv("GLIMPSE_MODEL"); env && *env) return env;
  return source_dir() + "/models/glimpse-demo";
}

}  // namespace glimpse
