// image_url resolution: data URLs, file:// URLs and plain paths under a MediaPolicy.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "io/media.h"

namespace glimpse::io {
namespace {

namespace fs = std::filesystem;
const fs::path kFixtures = fs::path(GLIMPSE_SOURCE_DIR) / "tests/io/images";

std::vector<uint8_t> read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

MediaPolicy local_policy() {
  MediaPolicy policy;
  policy.base_dir = kFixtures.string();
  policy.allow_local_paths = true;
  return policy;
}

ErrorKind fetch_error(const std::string& url, const MediaPolicy& policy) {
  try {
    fetch_image_bytes(url, policy);
  } catch (const Error& e) {
    return e.kind();
  }
  ADD_FAILURE() << url << " was fetched";
  return ErrorKind::kInternal;
}

TEST(FetchImageBytes, DecodesBase64DataUrls) {
  // "GIF89a" + 32 zero bytes, base64 (with a line break, which decoders of data URLs skip).
  const std::string url =
      "data:image/gif;base64,R0lGODlhAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\nAAAAAAA=";
  EXPECT_EQ(fetch_image_bytes(url, {}), read_bytes(kFixtures / "not_an_image.bin"));
  EXPECT_EQ(fetch_error("data:image/png;base64,@@@@", {}), ErrorKind::kCorrupt);
  EXPECT_EQ(fetch_error("data:image/png;base64,QUJD=", {}), ErrorKind::kCorrupt);
  EXPECT_EQ(fetch_error("data:text/plain;base64,QUJD", {}), ErrorKind::kInvalidArgument);
  EXPECT_EQ(fetch_error("data:image/png,raw", {}), ErrorKind::kInvalidArgument);
  MediaPolicy small;
  small.limits.max_bytes = 8;
  EXPECT_EQ(fetch_error("data:image/png;base64," + std::string(400, 'A'), small),
            ErrorKind::kLimitExceeded);
}

TEST(FetchImageBytes, ReadsLocalFilesOnlyWhenAllowed) {
  const auto expected = read_bytes(kFixtures / "photo.jpg");
  EXPECT_EQ(fetch_image_bytes("photo.jpg", local_policy()), expected);
  EXPECT_EQ(fetch_image_bytes("file://" + (kFixtures / "photo.jpg").string(), local_policy()),
            expected);
  EXPECT_EQ(fetch_error("photo.jpg", {}), ErrorKind::kInvalidArgument);
  EXPECT_EQ(fetch_error("missing.jpg", local_policy()), ErrorKind::kNotFound);
  EXPECT_EQ(fetch_error("file://relative/x.jpg", local_policy()), ErrorKind::kInvalidArgument);
  MediaPolicy small = local_policy();
  small.limits.max_bytes = 10;
  EXPECT_EQ(fetch_error("photo.jpg", small), ErrorKind::kLimitExceeded);
}

TEST(FetchImageBytes, ConfinesFilesToAllowedDirs) {
  MediaPolicy policy = local_policy();
  policy.allowed_dirs = {kFixtures.string()};
  EXPECT_FALSE(fetch_image_bytes("photo.jpg", policy).empty());
  EXPECT_EQ(fetch_error("../image_decode_test.cc", policy), ErrorKind::kInvalidArgument);
  EXPECT_EQ(fetch_error("/etc/hostname", policy), ErrorKind::kInvalidArgument);
}

TEST(FetchImageBytes, NeverFetchesRemoteUrls) {
  MediaPolicy policy;
  policy.allow_remote = true;
  EXPECT_EQ(fetch_error("https://example.com/a.png", policy), ErrorKind::kInvalidArgument);
  EXPECT_EQ(fetch_error("ftp://example.com/a.png", policy), ErrorKind::kInvalidArgument);
  EXPECT_EQ(fetch_error("", policy), ErrorKind::kInvalidArgument);
}

}  // namespace
}  // namespace glimpse::io
