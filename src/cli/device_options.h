// --device and --dtype, shared by the commands that load a model (run, serve, bench).
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "model/glm4v.h"

namespace glimpse::cli {

struct DeviceChoice {
  std::string device = "cpu";
  std::string dtype = "auto";
};

void add_device_options(CLI::App* cmd, DeviceChoice* choice);

// The load options the flags name. Throws Error(kUnsupported) for --device cuda in a build without
// CUDA, before any weights are read.
model::LoadOptions load_options(const DeviceChoice& choice);

}  // namespace glimpse::cli
