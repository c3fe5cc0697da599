// Resolves an OpenAI image_url to encoded image bytes: `data:image/...;base64,...`, `file:///abs`
// or a plain path. Local files are read only when the policy allows (the CLI allows them; the
// server allows only `allowed_dirs`). Remote http(s) URLs are refused: glimpse fetches nothing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/image_decode.h"

namespace glimpse::io {

struct MediaPolicy {
  std::string base_dir;                   // relative paths resolve against this folder
  bool allow_local_paths = false;         // file:// URLs and plain paths
  std::vector<std::string> allowed_dirs;  // if non-empty, local files must lie under one of them
  bool allow_remote = false;              // http(s); refused either way (no fetching), but the
                                          // error says whether the policy or glimpse refused
  ImageLimits limits;
  int max_images = 16;  // per request
};

// Throws Error: kInvalidArgument for a refused or malformed URL, kLimitExceeded for a file over
// policy.limits.max_bytes, kNotFound / kIo for unreadable files, kCorrupt for bad base64.
std::vector<uint8_t> fetch_image_bytes(const std::string& url, const MediaPolicy& policy);

}  // namespace glimpse::io
