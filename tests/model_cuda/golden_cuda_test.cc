// The GLM-4.6V network on the GPU against the golden fixtures (tests/golden, transformers 5.17 in
// fp32) and against the CPU forward pass. Needs a GPU: built only with GLIMPSE_CUDA, labelled
// `cuda`; tools/device/model_check.sh runs it on the device machine.
//
// bf16 (weight matrices converted at load, LoadOptions::matrix_dtype = kBF16), every golden case:
//   first-step logits within rel. L2 2e-2 of logits.npy; vision embeddings within 2e-2 of
//   vision_embeds.npy; fed the reference's 16 greedy tokens (teacher forcing, as
//   tests/model/glm4v_parity_test.cc does), the argmax equals the reference token at every step
//   whose reference top-1/top-2 log-prob margin (greedy.json top5) is at least 0.1.
// f32 (the checkpoints' bf16 matrices widened to f32 at load on both sides, so that no GEMM rounds
//   its input to bf16), every golden case: GPU vs CPU forward within rel. L2 1e-4 on vision
//   embeddings, first-step logits and every teacher-forced decode step's logits.
// Paged batch (model/batch.h forward_batch with a KvBlockPool on the GPU): every case of a model in
//   one prefill step, then one decode step each; bf16 against the fp32 reference (2e-2), f32
//   against the CPU single-sequence forward (1e-4).
// Image samples: glimpse's own preprocessing of the golden images, encoded from the 8-bit samples
//   (ops::pixels_from_bytes) and from the f32 rows: identical embeddings.
// Decode graphs (model/decode_graphs.h): the same prefill, then 8 decode steps of the reference's
//   greedy tokens with CUDA graphs on and off (f32): every step's logits within rel. L2 1e-5 of the
//   eager step's (the attention splits are planned for the context bucket instead of the longest
//   context, which reorders sums), and the graphs really replayed.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <tuple>

#include "../model/golden_inputs.h"
#include "io/image_decode.h"
#include "io/image_preprocess.h"
#include "model/batch.h"
#include "model/glm4v.h"
#include "parity_util.h"

namespace glimpse::model {
namespace {

using parity::host_f32;
using parity::relative_l2;

constexpr double kBf16Tolerance = 2e-2;   // rel. L2 vs the fp32 reference
constexpr double kF32Tolerance = 1e-4;    // rel. L2, GPU f32 vs CPU f32
constexpr double kMarginThreshold = 0.1;  // greedy steps compared where the margin is this large

// The checkout's tests/golden; $GLIMPSE_SOURCE_DIR names another checkout (the device machine runs
// this binary built elsewhere, next to its own copy of the repository).
const std::string kGolden =
    std::string(std::getenv("GLIMPSE_SOURCE_DIR") ? std::getenv("GLIMPSE_SOURCE_DIR")
                                                  : GLIMPSE_SOURCE_DIR) +
    "/tests/golden/";

enum class Variant { kCpu, kGpuF32, kGpuBf16 };

const Glm4vModel& golden_model(const std::string& name, Variant variant) {
  static std::map<std::pair<std::string, Variant>, std::unique_ptr<Glm4vModel>> models;
  auto& slot = models[{name, variant}];
  if (!slot) {
    const std::string dir = kGolden + "models/" + name;
    switch (variant) {
      case Variant::kCpu:
        slot = Glm4vModel::load(dir, LoadOptions{.matrix_dtype = DType::kF32});
        break;
      case Variant::kGpuF32:
        slot = Glm4vModel::load(dir,
                                LoadOptions{.device = Device::kCUDA, .matrix_dtype = DType::kF32});
        break;
      case Variant::kGpuBf16:
        slot = Glm4vModel::load(dir,
                                LoadOptions{.device = Device::kCUDA, .matrix_dtype = DType::kBF16});
        break;
    }
  }
  return *slot;
}

struct GoldenCase {
  std::string id, model;
  nlohmann::json files;
};

void PrintTo(const GoldenCase& c, std::ostream* os) {
  *os << c.id << " (" << c.model << ")";
}

std::vector<GoldenCase> golden_cases() {
  std::ifstream in(kGolden + "manifest.json");
  const nlohmann::json manifest = nlohmann::json::parse(in);
  std::vector<GoldenCase> cases;
  for (const auto& c : manifest.at("cases"))
    cases.push_back({c.at("id"), c.at("model"), c.at("files")});
  return cases;
}

std::string file(const GoldenCase& c, const char* name) {
  return kGolden + c.files.at(name).get<std::string>();
}

// The case's images as the model takes them: pixel_values rows split by image_grid_thw.
std::vector<ImageInput> read_images(const GoldenCase& c) {
  if (!c.files.contains("pixel_values")) return {};
  return testing::images_by_grid(read_npy(file(c, "pixel_values")),
                                 read_npy(file(c, "image_grid_thw")));
}

nlohmann::json read_greedy(const GoldenCase& c) {
  std::ifstream in(file(c, "greedy"));
  return nlohmann::json::parse(in);
}

// One case run through `model`: vision embeddings (empty without images), first-step logits and
// the logits after each of the reference's greedy tokens (teacher forcing), all on the host in f32.
struct CaseRun {
  Tensor vision;
  std::vector<Tensor> logits;  // [0] = prefill (first step), [s] = after reference token s-1
};

CaseRun run_case(const Glm4vModel& model, const GoldenCase& c, const nlohmann::json& greedy) {
  const std::vector<int32_t> ids = parity::read_ids(file(c, "input_ids"));
  const std::vector<ImageInput> images = read_images(c);
  std::vector<ImageGrid> grids;
  for (const ImageInput& image : images) grids.push_back(image.grid);
  const MropePositions positions = model.rope_positions(ids, grids);
  const auto& steps = greedy.at("steps");

  CaseRun run;
  Tensor vision;
  if (!images.empty()) {
    vision = model.encode_images(images);
    run.vision = host_f32(vision);
  }
  KvCache cache = model.new_cache(int64_t(ids.size() + steps.size()));
  run.logits.push_back(
      host_f32(model.forward(ids, positions.positions, images.empty() ? nullptr : &vision, cache)));
  for (size_t step = 0; step + 1 < steps.size(); ++step) {
    const std::vector<int32_t> token = {steps[step].at("token").get<int32_t>()};
    run.logits.push_back(host_f32(model.forward(
        token, parity::decode_position(positions.next_position + int64_t(step)), nullptr, cache)));
  }
  return run;
}

class GoldenCuda : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(GoldenCuda, Bf16MatchesReferenceAndGreedyTokens) {
  const GoldenCase& c = GetParam();
  const nlohmann::json greedy = read_greedy(c);
  const CaseRun run = run_case(golden_model(c.model, Variant::kGpuBf16), c, greedy);

  if (run.vision.defined()) {
    const double err = relative_l2(run.vision, read_npy(file(c, "vision_embeds")));
    EXPECT_LE(err, kBf16Tolerance) << "vision embeddings";
    RecordProperty("vision_rel_l2", std::to_string(err));
  }
  const double err = relative_l2(run.logits[0], read_npy(file(c, "logits")));
  EXPECT_LE(err, kBf16Tolerance) << "first-step logits";
  RecordProperty("logits_rel_l2", std::to_string(err));

  int checked = 0;
  const auto& steps = greedy.at("steps");
  for (size_t step = 0; step < steps.size(); ++step) {
    const auto& top5 = steps[step].at("top5");
    const double margin = top5[0][1].get<double>() - top5[1][1].get<double>();
    if (margin < kMarginThreshold) continue;
    const Tensor& logits = run.logits[step];
    const parity::Top2 got = parity::top2(logits.data<float>(), logits.numel());
    EXPECT_EQ(got.first, steps[step].at("token").get<int32_t>())
        << "step " << step << " (reference margin " << margin << ", ours " << got.margin << ")";
    ++checked;
  }
  RecordProperty("greedy_steps_checked", checked);
  std::cout << "  " << c.id << ": logits rel L2 " << err << ", greedy steps checked " << checked
            << "/" << steps.size() << "\n";
}

TEST_P(GoldenCuda, F32MatchesCpu) {
  const GoldenCase& c = GetParam();
  const nlohmann::json greedy = read_greedy(c);
  const CaseRun gpu = run_case(golden_model(c.model, Variant::kGpuF32), c, greedy);
  const CaseRun cpu = run_case(golden_model(c.model, Variant::kCpu), c, greedy);

  ASSERT_EQ(gpu.vision.defined(), cpu.vision.defined());
  if (cpu.vision.defined()) {
    ASSERT_EQ(gpu.vision.shape(), cpu.vision.shape());
    EXPECT_LE(relative_l2(gpu.vision, cpu.vision), kF32Tolerance) << "vision embeddings";
  }
  ASSERT_EQ(gpu.logits.size(), cpu.logits.size());
  for (size_t step = 0; step < cpu.logits.size(); ++step) {
    ASSERT_EQ(gpu.logits[step].shape(), cpu.logits[step].shape());
    EXPECT_LE(relative_l2(gpu.logits[step], cpu.logits[step]), kF32Tolerance)
        << (step == 0 ? "first-step logits" : "decode step " + std::to_string(step));
  }
}

INSTANTIATE_TEST_SUITE_P(Golden, GoldenCuda, ::testing::ValuesIn(golden_cases()),
                         [](const ::testing::TestParamInfo<GoldenCase>& param_info) {
                           return param_info.param.id;
                         });

// One golden case as a serving sequence: its prompt, M-RoPE positions, image embeddings (undefined
// without images), the reference's greedy tokens, and the KV blocks it is given.
struct BatchSequence {
  std::vector<int32_t> ids, greedy, table;
  MropePositions positions;
  Tensor vision;
};

BatchSequence load_sequence(const Glm4vModel& model, const GoldenCase& c) {
  BatchSequence s;
  s.ids = parity::read_ids(file(c, "input_ids"));
  const std::vector<ImageInput> images = read_images(c);
  std::vector<ImageGrid> grids;
  for (const ImageInput& image : images) grids.push_back(image.grid);
  s.positions = model.rope_positions(s.ids, grids);
  if (!images.empty()) s.vision = model.encode_images(images);
  const nlohmann::json greedy = read_greedy(c);  // kept: the loop must not outlive it
  for (const auto& step : greedy.at("steps")) s.greedy.push_back(step.at("token"));
  return s;
}

SequenceChunk prefill_chunk(const BatchSequence& s) {
  SequenceChunk chunk;
  chunk.ids = s.ids;
  chunk.positions = s.positions.positions;
  chunk.block_table = s.table;
  chunk.image_embeds = s.vision.defined() ? &s.vision : nullptr;
  chunk.want_logits = true;
  return chunk;
}

// Decode step k of s: its k-th greedy token after the prompt and k tokens before it.
SequenceChunk decode_chunk(const BatchSequence& s, int64_t k) {
  SequenceChunk chunk;
  chunk.ids = std::span<const int32_t>(s.greedy).subspan(size_t(k), 1);
  chunk.positions = parity::decode_position(s.positions.next_position + k);
  chunk.block_table = s.table;
  chunk.cached_tokens = int64_t(s.ids.size()) + k;
  chunk.want_logits = true;
  return chunk;
}

// Every case of one golden model through forward_batch on the GPU: one step prefills all prompts
// (blocks of 16 interleaved across sequences), a second step decodes the reference's first greedy
// token of each. Returns the prefill logits and the decode logits of every case, in case order.
std::vector<std::pair<Tensor, Tensor>> run_batched(const Glm4vModel& model,
                                                   const std::vector<GoldenCase>& cases) {
  constexpr int64_t kBlock = 16;
  std::vector<BatchSequence> seqs;
  int64_t total_blocks = 0;
  for (const GoldenCase& c : cases) {
    seqs.push_back(load_sequence(model, c));
    total_blocks += (int64_t(seqs.back().ids.size()) + 1 + kBlock - 1) / kBlock;
  }
  // Block b goes to the sequences round-robin, so every table is scattered over the pool.
  for (int32_t b = 0, i = 0; b < int32_t(total_blocks); i = (i + 1) % int32_t(seqs.size())) {
    BatchSequence& s = seqs[size_t(i)];
    if (int64_t(s.table.size()) * kBlock < int64_t(s.ids.size()) + 1) s.table.push_back(b++);
  }
  KvBlockPool pool(model.config(), total_blocks, kBlock, Device::kCUDA);

  std::vector<SequenceChunk> prefill, decode;
  for (const BatchSequence& s : seqs) {
    prefill.push_back(prefill_chunk(s));
    decode.push_back(decode_chunk(s, 0));
  }
  const Tensor first = host_f32(forward_batch(model, prefill, pool));
  const Tensor second = host_f32(forward_batch(model, decode, pool));
  std::vector<std::pair<Tensor, Tensor>> out;
  for (size_t i = 0; i < seqs.size(); ++i)
    out.emplace_back(first.row(int64_t(i)), second.row(int64_t(i)));
  return out;
}

class GoldenCudaBatch : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenCudaBatch, PagedBatchBf16MatchesReference) {
  std::vector<GoldenCase> cases;
  for (const GoldenCase& c : golden_cases())
    if (c.model == GetParam()) cases.push_back(c);
  ASSERT_FALSE(cases.empty());
  const auto got = run_batched(golden_model(GetParam(), Variant::kGpuBf16), cases);
  const Glm4vModel& cpu = golden_model(GetParam(), Variant::kCpu);
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_LE(relative_l2(got[i].first, read_npy(file(cases[i], "logits"))), kBf16Tolerance)
        << cases[i].id << " prefill";
    // The decode step against the CPU's fp32 teacher-forced step 1.
    const CaseRun ref = run_case(cpu, cases[i], read_greedy(cases[i]));
    EXPECT_LE(relative_l2(got[i].second, ref.logits.at(1)), kBf16Tolerance)
        << cases[i].id << " decode";
  }
}

TEST_P(GoldenCudaBatch, PagedBatchF32MatchesCpu) {
  std::vector<GoldenCase> cases;
  for (const GoldenCase& c : golden_cases())
    if (c.model == GetParam()) cases.push_back(c);
  ASSERT_FALSE(cases.empty());
  const auto got = run_batched(golden_model(GetParam(), Variant::kGpuF32), cases);
  const Glm4vModel& cpu = golden_model(GetParam(), Variant::kCpu);
  for (size_t i = 0; i < cases.size(); ++i) {
    const CaseRun ref = run_case(cpu, cases[i], read_greedy(cases[i]));
    EXPECT_LE(relative_l2(got[i].first, ref.logits.at(0)), kF32Tolerance)
        << cases[i].id << " prefill";
    EXPECT_LE(relative_l2(got[i].second, ref.logits.at(1)), kF32Tolerance)
        << cases[i].id << " decode";
  }
}

// Prefills every case of a model in one step, then decodes `steps` of each case's reference greedy
// tokens, one step for all cases at a time. Returns each step's logits (host f32 [cases, vocab]),
// the prefill's first, and the pool's graph counts.
std::pair<std::vector<Tensor>, DecodeGraphStats> run_decode_steps(
    const Glm4vModel& model, const std::vector<GoldenCase>& cases, int64_t steps, bool graphs) {
  constexpr int64_t kBlock = 16;
  std::vector<BatchSequence> seqs;
  int32_t next_block = 0;
  for (const GoldenCase& c : cases) {
    BatchSequence& s = seqs.emplace_back(load_sequence(model, c));
    if (int64_t(s.greedy.size()) < steps) ADD_FAILURE() << c.id << ": too few greedy steps";
    s.greedy.resize(size_t(steps));
    while (int64_t(s.table.size()) * kBlock < int64_t(s.ids.size()) + steps)
      s.table.push_back(next_block++);
  }
  KvBlockPool pool(model.config(), next_block, kBlock, Device::kCUDA);
  pool.use_decode_graphs(graphs);
  std::vector<SequenceChunk> chunks;
  for (const BatchSequence& s : seqs) chunks.push_back(prefill_chunk(s));
  std::vector<Tensor> logits{host_f32(forward_batch(model, chunks, pool))};
  for (int64_t k = 0; k < steps; ++k) {
    for (size_t i = 0; i < seqs.size(); ++i) chunks[i] = decode_chunk(seqs[i], k);
    logits.push_back(host_f32(forward_batch(model, chunks, pool)));
  }
  return {logits, pool.decode_graphs().stats()};
}

TEST_P(GoldenCudaBatch, DecodeGraphsMatchEagerSteps) {
  constexpr int64_t kSteps = 8;
  std::vector<GoldenCase> cases;
  for (const GoldenCase& c : golden_cases())
    if (c.model == GetParam()) cases.push_back(c);
  ASSERT_FALSE(cases.empty());
  const Glm4vModel& model = golden_model(GetParam(), Variant::kGpuF32);
  const auto [eager, eager_stats] = run_decode_steps(model, cases, kSteps, false);
  const auto [graphed, stats] = run_decode_steps(model, cases, kSteps, true);
  ASSERT_EQ(graphed.size(), eager.size());
  for (size_t k = 0; k < eager.size(); ++k)
    EXPECT_LE(relative_l2(graphed[k], eager[k]), 1e-5) << "step " << k;
  EXPECT_EQ(eager_stats.replayed, 0);
  EXPECT_TRUE(stats.disabled_because.empty()) << stats.disabled_because;
  EXPECT_GE(stats.captured, 1);
  EXPECT_GE(stats.replayed, 3) << "eager " << stats.eager << ", captured " << stats.captured;
}

// The golden images through glimpse's own preprocessing, encoded on the GPU from the f32 patch
// rows (rounded on the host, upload_rounded) and from the 8-bit samples (ops::pixels_from_bytes on
// the GPU), given with the rows and alone (io::PixelForm::kSamples). All must give the same patch
// rows and therefore the same embeddings, bit for bit; every image case's images go in one call
// (two_images: two).
TEST(GoldenCudaImages, SamplesUploadEncodesLikeThePixelRows) {
  std::ifstream in(kGolden + "manifest.json");
  const nlohmann::json manifest = nlohmann::json::parse(in);
  int images_checked = 0;
  for (const auto& c : manifest.at("cases")) {
    if (c.at("images").empty()) continue;
    const std::string model_name = c.at("model");
    SCOPED_TRACE(c.at("id").get<std::string>());
    const auto config = io::ImageProcessorConfig::from_model_dir(kGolden + "models/" + model_name);
    std::vector<ImageInput> from_rows, from_samples, samples_alone;
    for (const auto& path : c.at("images")) {
      std::ifstream file(kGolden + path.get<std::string>(), std::ios::binary);
      const std::vector<uint8_t> encoded{std::istreambuf_iterator<char>(file), {}};
      const io::PreparedImage image = io::preprocess_image(io::decode_image(encoded, {}), config);
      ASSERT_TRUE(image.pixel_bytes.defined());
      const ImageGrid grid{image.t, image.h, image.w};
      from_rows.push_back({image.pixel_values, grid});
      from_samples.push_back({image.pixel_values, grid, image.pixel_bytes, image.pixel_levels});
      samples_alone.push_back({Tensor(), grid, image.pixel_bytes, image.pixel_levels});
      ++images_checked;
    }
    const Glm4vModel& model = golden_model(model_name, Variant::kGpuBf16);
    const Tensor want = host_f32(model.encode_images(from_rows));
    for (const auto* inputs : {&from_samples, &samples_alone}) {
      const Tensor got = host_f32(model.encode_images(*inputs));
      ASSERT_EQ(got.shape(), want.shape());
      EXPECT_EQ(std::memcmp(got.raw_data(), want.raw_data(), want.nbytes()), 0);
    }
  }
  EXPECT_GE(images_checked, 8);
}

INSTANTIATE_TEST_SUITE_P(Golden, GoldenCudaBatch, ::testing::Values("tiny-a", "tiny-b"),
                         [](const ::testing::TestParamInfo<std::string>& param_info) {
                           std::string name = param_info.param;
                           for (char& ch : name)
                             if (ch == '-') ch = '_';
                           return name;
                         });

}  // namespace
}  // namespace glimpse::model
