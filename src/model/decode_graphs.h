// Decode steps replayed as CUDA graphs. A step in which every sequence runs one new token launches
// about a dozen kernels per layer, and on the GPU their launch and ramp cost about as much as the
// weight reads themselves (docs/benchmarks/cuda-model.md). The first step of a shape runs eagerly,
// which also warms every lazy setup (cuBLASLt plans, kernel attributes); the second is captured
// into a graph whose inputs (token ids, positions, context lengths, block tables, slots) live in
// one fixed device buffer, and from then on a step of that shape is one upload and one launch.
//
// A shape is (sequences, context bucket): the attention kernels are planned for the bucket (the
// smallest power of two ≥ 256 holding the longest context) and read each sequence's own length on
// the device. The captured activations live in a memory pool of the graph's own
// (core/device_memory.h), so nothing else is handed those addresses between replays.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "core/tensor.h"

namespace glimpse::model {

class Glm4vModel;
class KvBlockPool;
struct SequenceChunk;

struct DecodeGraphStats {
  int64_t eager = 0;     // first steps of a shape, run eagerly
  int64_t captured = 0;  // graphs made
  int64_t replayed = 0;  // steps run as a graph (the capturing step included)
  std::string disabled_because;  // set when a capture failed; every later step runs eagerly
};

class DecodeGraphs {
 public:
  explicit DecodeGraphs(bool enabled);
  ~DecodeGraphs();
  DecodeGraphs(const DecodeGraphs&) = delete;
  DecodeGraphs& operator=(const DecodeGraphs&) = delete;

  // The step's logits f32 [chunks, vocab] on the GPU, valid until the next step through this
  // object; or an undefined tensor when the step is not one to replay (a prefill chunk, an image
  // token, the CPU, graphs off, a shape's first step), and the caller runs it eagerly.
  Tensor run(const Glm4vModel& model, std::span<const SequenceChunk> chunks, KvBlockPool& pool);

  bool enabled() const;
  DecodeGraphStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// On unless the environment says GLIMPSE_CUDA_GRAPHS=0 (for comparing against eager steps).
bool decode_graphs_wanted();

}  // namespace glimpse::model
