// Where glimpse finds its bundled files when the user names none.
#pragma once

#include <string>

namespace glimpse {

// $GLIMPSE_MODEL if set, else models/glimpse-demo of the source tree this binary was built from.
std::string default_model_dir();
// The repository root this binary was built from (for bundled assets and test data).
std::string source_dir();

}  // namespace glimpse
