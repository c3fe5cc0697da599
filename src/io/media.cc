#include "io/media.h"

#include <openssl/evp.h>

#include <filesystem>
#include <fstream>
#include <string_view>

#include "core/error.h"

namespace glimpse::io {
namespace {

namespace fs = std::filesystem;

// Truncated for error messages: data URLs can be megabytes long.
std::string shorten(std::string_view url) {
  constexpr size_t kShown = 64;
  return url.size() <= kShown ? std::string(url) : std::string(url.substr(0, kShown)) + "...";
}

std::vector<uint8_t> decode_base64(std::string_view text, const ImageLimits& limits) {
  // Base64 decodes to at most 3/4 of its length; refuse oversized payloads before decoding.
  if (int64_t(text.size() / 4 * 3) > limits.max_bytes + 3)
    fail(ErrorKind::kLimitExceeded, "data URL: {} base64 characters exceed the limit of {} bytes",
         text.size(), limits.max_bytes);
  std::unique_ptr<EVP_ENCODE_CTX, decltype(&EVP_ENCODE_CTX_free)> ctx(EVP_ENCODE_CTX_new(),
                                                                      EVP_ENCODE_CTX_free);
  if (!ctx) fail(ErrorKind::kInternal, "data URL: cannot create a base64 decoder");
  EVP_DecodeInit(ctx.get());
  std::vector<uint8_t> out(text.size() / 4 * 3 + 3);
  int written = 0, tail = 0;
  // EVP_DecodeUpdate takes an int length; feed the text in slices.
  constexpr size_t kSlice = 1 << 20;
  size_t total = 0;
  for (size_t at = 0; at < text.size(); at += kSlice) {
    const size_t n = std::min(kSlice, text.size() - at);
    if (EVP_DecodeUpdate(ctx.get(), out.data() + total, &written,
                         reinterpret_cast<const unsigned char*>(text.data() + at), int(n)) < 0)
      fail(ErrorKind::kCorrupt, "data URL: invalid base64 near character {}", at);
    total += size_t(written);
  }
  if (EVP_DecodeFinal(ctx.get(), out.data() + total, &tail) != 1)
    fail(ErrorKind::kCorrupt, "data URL: base64 is truncated or malformed");
  out.resize(total + size_t(tail));
  return out;
}

std::vector<uint8_t> from_data_url(std::string_view url, const ImageLimits& limits) {
  const size_t comma = url.find(',');
  if (comma == std::string_view::npos)
    fail(ErrorKind::kInvalidArgument, "image URL {}: data URL without a ',' before the data",
         shorten(url));
  const std::string_view header = url.substr(0, comma);
  if (!header.starts_with("data:image/"))
    fail(ErrorKind::kInvalidArgument, "image URL {}: data URL is not of an image/* type",
         shorten(url));
  if (!header.ends_with(";base64"))
    fail(ErrorKind::kInvalidArgument, "image URL {}: only base64 data URLs are supported",
         shorten(url));
  return decode_base64(url.substr(comma + 1), limits);
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// file:///abs/path%20name -> /abs/path name (RFC 8089, local host only).
std::string file_url_path(std::string_view url) {
  std::string_view rest = url.substr(std::string_view("file://").size());
  if (rest.starts_with("localhost/")) rest.remove_prefix(std::string_view("localhost").size());
  if (!rest.starts_with('/'))
    fail(ErrorKind::kInvalidArgument, "image URL {}: file URLs must be file:///absolute/path",
         shorten(url));
  std::string path;
  for (size_t i = 0; i < rest.size(); ++i) {
    if (rest[i] == '%') {
      const int hi = i + 2 < rest.size() ? hex_digit(rest[i + 1]) : -1;
      const int lo = hi >= 0 ? hex_digit(rest[i + 2]) : -1;
      if (lo < 0)
        fail(ErrorKind::kInvalidArgument, "image URL {}: bad percent escape", shorten(url));
      path += char(hi * 16 + lo);
      i += 2;
    } else {
      path += rest[i];
    }
  }
  return path;
}

bool lies_under(const fs::path& file, const fs::path& dir) {
  const fs::path relative = file.lexically_relative(dir);
  return !relative.empty() && *relative.begin() != "..";
}

std::vector<uint8_t> read_local(const std::string& url, fs::path path, const MediaPolicy& policy) {
  if (!policy.allow_local_paths)
    fail(ErrorKind::kInvalidArgument, "image URL {}: local files are not allowed here",
         shorten(url));
  if (path.is_relative()) path = fs::path(policy.base_dir) / path;
  std::error_code ec;
  const fs::path resolved = fs::weakly_canonical(path, ec);
  if (ec) fail(ErrorKind::kIo, "image {}: {}", path.string(), ec.message());
  if (!policy.allowed_dirs.empty()) {
    bool allowed = false;
    for (const auto& dir : policy.allowed_dirs)
      allowed = allowed || lies_under(resolved, fs::weakly_canonical(dir, ec));
    if (!allowed)
      fail(ErrorKind::kInvalidArgument, "image {}: outside the allowed directories",
           resolved.string());
  }
  if (!fs::is_regular_file(resolved, ec))
    fail(ErrorKind::kNotFound, "image {}: no such file", resolved.string());
  const auto size = fs::file_size(resolved, ec);
  if (ec) fail(ErrorKind::kIo, "image {}: {}", resolved.string(), ec.message());
  if (int64_t(size) > policy.limits.max_bytes)
    fail(ErrorKind::kLimitExceeded, "image {}: {} bytes is over the limit of {} bytes",
         resolved.string(), size, policy.limits.max_bytes);
  std::ifstream in(resolved, std::ios::binary);
  std::vector<uint8_t> bytes(size);
  if (!in.read(reinterpret_cast<char*>(bytes.data()), std::streamsize(size)))
    fail(ErrorKind::kIo, "image {}: read failed", resolved.string());
  return bytes;
}

}  // namespace

std::vector<uint8_t> fetch_image_bytes(const std::string& url, const MediaPolicy& policy) {
  const std::string_view view(url);
  if (view.empty()) fail(ErrorKind::kInvalidArgument, "image URL is empty");
  if (view.starts_with("data:")) return from_data_url(view, policy.limits);
  if (view.starts_with("http://") || view.starts_with("https://"))
    fail(ErrorKind::kInvalidArgument, "image URL {}: remote images are {}", shorten(url),
         policy.allow_remote ? "not fetched by glimpse (send a data: URL)"
                             : "not allowed here (send a data: URL)");
  if (view.starts_with("file://")) return read_local(url, file_url_path(view), policy);
  if (view.find("://") != std::string_view::npos)
    fail(ErrorKind::kInvalidArgument, "image URL {}: unsupported scheme", shorten(url));
  return read_local(url, fs::path(url), policy);
}

}  // namespace glimpse::io
