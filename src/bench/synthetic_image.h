// Inputs for `glimpse bench`: synthetic test images encoded as PNG (so they take the same decode
// path as real uploads), and base64 for data: URLs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace glimpse::bench {

// A width x height RGB PNG with smooth gradients and a fine pattern (compresses like a photo more
// than a flat fill would). `variant` changes two pixels, so every variant hashes differently:
// that is how cold-cache runs defeat image-embedding caches.
std::vector<uint8_t> synthetic_png(int32_t width, int32_t height, uint64_t variant = 0);

// "512x512" -> {512, 512}; throws Error(kInvalidArgument) naming the text otherwise.
std::pair<int32_t, int32_t> parse_resolution(const std::string& text);

std::string base64_encode(const std::vector<uint8_t>& bytes);
std::string data_url(const std::vector<uint8_t>& bytes, const std::string& mime);

}  // namespace glimpse::bench
