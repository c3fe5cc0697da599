// The safetensors reader on well-formed files: entries, metadata, zero-copy views, and the copy
// fallback for bytes that are not aligned to their dtype.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <random>

#include "loader_test_util.h"
#include "model/safetensors.h"

namespace glimpse::model {
namespace {

using testing::ScratchDir;
using testing::TensorSpec;

bool same_bytes(const Tensor& tensor, const TensorSpec& spec) {
  if (tensor.nbytes() != spec.bytes.size()) return false;
  return spec.bytes.empty() ||
         std::memcmp(tensor.raw_data(), spec.bytes.data(), spec.bytes.size()) == 0;
}

TEST(LoaderSafetensors, ReadsEntriesAsZeroCopyViews) {
  ScratchDir dir;
  const std::vector<TensorSpec> specs = {
      testing::patterned_tensor("b.weight", DType::kBF16, {3, 5}, 1),
      testing::patterned_tensor("a.bias", DType::kF32, {7}, 2),
      testing::patterned_tensor("c.empty", DType::kF16, {0, 4}, 3),
      testing::patterned_tensor("d.half", DType::kF16, {2, 2, 2}, 4),
  };
  testing::write_safetensors(dir.file("m.safetensors"), specs, {{"format", "pt"}});
  const SafetensorsFile file = SafetensorsFile::open(dir.file("m.safetensors"));

  EXPECT_EQ(file.metadata().at("format"), "pt");
  ASSERT_EQ(file.entries().size(), 4u);
  EXPECT_EQ(file.entries()[0].name, "a.bias");  // sorted by name
  EXPECT_EQ(file.entries()[1].name, "b.weight");
  EXPECT_EQ(file.entries()[1].dtype, DType::kBF16);
  EXPECT_EQ(file.entries()[1].shape, (Shape{3, 5}));
  EXPECT_EQ(file.entries()[1].end - file.entries()[1].begin, 30u);

  const std::map<std::string, const TensorSpec*> by_name = {{"b.weight", &specs[0]},
                                                            {"a.bias", &specs[1]},
                                                            {"c.empty", &specs[2]},
                                                            {"d.half", &specs[3]}};
  for (const SafetensorsEntry& entry : file.entries()) {
    bool copied = true;
    const Tensor t = file.tensor(entry, &copied);
    EXPECT_FALSE(copied) << entry.name
                         << ": the writer pads the header, so every tensor is aligned";
    EXPECT_EQ(t.shape(), entry.shape);
    EXPECT_EQ(t.dtype(), entry.dtype);
    EXPECT_TRUE(same_bytes(t, *by_name.at(entry.name))) << entry.name;
  }
}

TEST(LoaderSafetensors, TensorsOutliveTheFileObject) {
  ScratchDir dir;
  const TensorSpec spec = testing::patterned_tensor("w", DType::kF32, {4, 4}, 9);
  testing::write_safetensors(dir.file("m.safetensors"), {spec});
  Tensor kept;
  {
    const SafetensorsFile file = SafetensorsFile::open(dir.file("m.safetensors"));
    kept = file.tensor(file.entries()[0]);
  }
  EXPECT_TRUE(
      same_bytes(kept, spec));  // the view holds the map (ASan would flag a use after unmap)
}

TEST(LoaderSafetensors, CopiesTensorsThatAreNotAlignedToTheirDtype) {
  ScratchDir dir;
  // An unpadded header of odd length puts the data buffer at an odd file offset (the map itself is
  // page-aligned), so the F32 tensor cannot be viewed in place.
  std::string header = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  if ((8 + header.size()) % 2 == 0) header += " ";
  const float values[2] = {1.5f, -2.25f};
  std::ofstream out(dir.file("odd.safetensors"), std::ios::binary);
  const uint64_t length = header.size();
  out.write(reinterpret_cast<const char*>(&length), 8);  // little-endian host (x86-64, aarch64)
  out << header;
  out.write(reinterpret_cast<const char*>(values), sizeof values);
  out.close();

  const SafetensorsFile file = SafetensorsFile::open(dir.file("odd.safetensors"));
  bool copied = false;
  const Tensor t = file.tensor(file.entries()[0], &copied);
  EXPECT_TRUE(copied);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw_data()) % alignof(float), 0u);
  EXPECT_EQ(t.data<float>()[0], 1.5f);
  EXPECT_EQ(t.data<float>()[1], -2.25f);
}

TEST(LoaderSafetensors, AcceptsHeaderOnlyFile) {
  ScratchDir dir;
  testing::write_safetensors(dir.file("empty.safetensors"), {});
  const SafetensorsFile file = SafetensorsFile::open(dir.file("empty.safetensors"));
  EXPECT_TRUE(file.entries().empty());
}

TEST(LoaderSafetensors, MissingFileIsNotFound) {
  ScratchDir dir;
  testing::expect_error([&] { SafetensorsFile::open(dir.file("nope.safetensors")); },
                        ErrorKind::kNotFound,
                        dir.file("nope.safetensors") + ": cannot open: No such file or directory");
}

// Seeded mutations of a valid file (byte flips, truncation, header edits), parsed in memory: each
// must load or fail with a glimpse::Error; any other exception, crash or sanitizer report fails the
// test.
TEST(LoaderSafetensors, MutatedFilesLoadOrFailCleanly) {
  ScratchDir dir;
  testing::write_safetensors(dir.file("valid.safetensors"),
                             {testing::patterned_tensor("a", DType::kBF16, {3, 4}, 1),
                              testing::patterned_tensor("b", DType::kF32, {5}, 2)},
                             {{"format", "pt"}});
  std::ifstream in(dir.file("valid.safetensors"), std::ios::binary);
  const std::string valid((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::mt19937 rng(1234);
  int loaded = 0, refused = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string bytes = valid;
    switch (i % 3) {
      case 0:  // flip 1-3 bytes anywhere
        for (int k = 0, n = 1 + int(rng() % 3); k < n; ++k)
          bytes[rng() % bytes.size()] ^= char(1 + rng() % 255);
        break;
      case 1:  // truncate
        bytes.resize(rng() % bytes.size());
        break;
      default:  // a printable byte inside the header
        bytes[8 + rng() % (bytes.size() - 8 - 68)] = char(32 + rng() % 95);
    }
    // An exact-size heap block, so that ASan sees any read past the end.
    auto owned = std::make_shared<std::vector<std::byte>>(bytes.size());
    if (!bytes.empty()) std::memcpy(owned->data(), bytes.data(), bytes.size());
    const std::span<const std::byte> view(owned->data(), owned->size());
    try {
      const SafetensorsFile file = SafetensorsFile::parse(owned, view, "mutated", "mutated");
      for (const auto& entry : file.entries()) (void)file.tensor(entry).to_f32();
      ++loaded;
    } catch (const Error&) {
      ++refused;
    }
  }
  EXPECT_GT(refused, 6000);
  EXPECT_GT(loaded, 100);  // flips inside tensor data leave the file valid
}

}  // namespace
}  // namespace glimpse::model
