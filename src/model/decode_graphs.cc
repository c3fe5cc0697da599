// DecodeGraphs (decode_graphs.h). The CPU-only build never replays: run() always defers to the
// eager step.
#include "model/decode_graphs.h"

#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "model/batch.h"
#include "model/glm4v_impl.h"

#if GLIMPSE_WITH_CUDA
#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <cstdio>

#include "core/device_memory.h"
#include "ops/embedding.h"
#include "ops/paged_attention.h"
#include "ops/rotary.h"
#endif

namespace glimpse::model {

bool decode_graphs_wanted() {
  const char* value = std::getenv("GLIMPSE_CUDA_GRAPHS");
  return value == nullptr || std::strcmp(value, "0") != 0;
}

#if GLIMPSE_WITH_CUDA
namespace {

constexpr int64_t kMaxSequences = 64;      // larger steps run eagerly (GEMM-bound anyway)
constexpr int64_t kMaxContext = 1 << 17;   // longer contexts run eagerly
constexpr int64_t kMinContextBucket = 256;
constexpr size_t kMaxGraphs = 96;          // bounds the memory the captured steps keep

size_t align16(size_t bytes) {
  return (bytes + 15) / 16 * 16;
}

// Where each input lives in a graph's fixed device buffer (byte offsets, 16-byte aligned).
struct Layout {
  int64_t sequences = 0, max_blocks = 0, pairs = 0;
  size_t positions = 0, ids = 0, query_start = 0, context_lens = 0, block_tables = 0, slots = 0,
         decode_seqs = 0, pair_axis = 0, inv_freq = 0, bytes = 0;

  Layout(int64_t n, int64_t blocks, int64_t rotary_pairs)
      : sequences(n), max_blocks(blocks), pairs(rotary_pairs) {
    size_t at = 0;
    auto place = [&](size_t& offset, size_t size) {
      offset = at;
      at += align16(size);
    };
    place(positions, 3 * size_t(n) * sizeof(int64_t));
    place(ids, size_t(n) * sizeof(int32_t));
    place(query_start, size_t(n + 1) * sizeof(int32_t));
    place(context_lens, size_t(n) * sizeof(int32_t));
    place(block_tables, size_t(n * blocks) * sizeof(int32_t));
    place(slots, size_t(n) * sizeof(int32_t));
    place(decode_seqs, size_t(n) * sizeof(int32_t));
    place(pair_axis, size_t(pairs) * sizeof(int32_t));
    place(inv_freq, size_t(pairs) * sizeof(float));
    bytes = at;
  }
};

struct Graph {
  // Declared first, destroyed last: the activations' pool outlives everything captured into it.
  std::shared_ptr<DevicePool> memory = make_device_pool();
  Layout layout;
  std::shared_ptr<Storage> inputs;
  std::vector<std::byte> staging;  // the host image of `inputs`
  Tensor logits;                   // in `memory`; rewritten by every replay
  cudaGraphExec_t exec = nullptr;

  explicit Graph(const Layout& l)
      : layout(l), inputs(Storage::allocate(l.bytes, Device::kCUDA)), staging(l.bytes) {}
  ~Graph() {
    logits = Tensor();
    if (exec) cudaGraphExecDestroy(exec);
  }

  template <typename T>
  T* host(size_t offset) {
    return reinterpret_cast<T*>(staging.data() + offset);
  }
  Tensor device(size_t offset, DType dtype, Shape shape) const {
    return Tensor(inputs, offset, dtype, std::move(shape));
  }
};

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    (void)cudaGetLastError();
    fail(ErrorKind::kInternal, "decode graph: {} failed: {}", what, cudaGetErrorString(status));
  }
}

// The step as the graph sees it: every input read from the fixed buffer, kernels planned for
// `context_bucket` keys. The host halves of the paged batch only plan launches.
Tensor forward_from_inputs(const Glm4vModel::Impl& impl, const Graph& g, int64_t context_bucket,
                           KvBlockPool& pool) {
  const Layout& l = g.layout;
  const int64_t n = l.sequences;
  ops::PagedBatch batch;
  batch.device = Device::kCUDA;
  batch.num_blocks = pool.num_blocks();
  batch.block_size = pool.block_size();
  batch.sequences = n;
  batch.total_tokens = n;
  batch.max_blocks = l.max_blocks;
  batch.max_new_tokens = 1;
  batch.max_context = context_bucket;
  batch.decode_sequences = n;
  batch.query_start = g.device(l.query_start, DType::kI32, {n + 1});
  batch.context_lens = g.device(l.context_lens, DType::kI32, {n});
  batch.block_tables = g.device(l.block_tables, DType::kI32, {n, l.max_blocks});
  batch.slots = g.device(l.slots, DType::kI32, {n});
  batch.decode_seqs = g.device(l.decode_seqs, DType::kI32, {n});
  ops::PagedBatch::Host& h = batch.host;
  for (int32_t s = 0; s <= int32_t(n); ++s) h.query_start.push_back(s);
  h.context_lens.assign(size_t(n), int32_t(context_bucket));
  h.block_tables.assign(size_t(n * l.max_blocks), 0);
  h.slots.assign(size_t(n), 0);
  for (int32_t s = 0; s < int32_t(n); ++s) h.decode_seqs.push_back(s);

  const TextDecoder& text = impl.text;
  Tensor hidden = ops::cuda::embedding_of_device_ids(text.embedding_table(),
                                                     g.device(l.ids, DType::kI32, {n}));
  const ops::RotaryTables rotary = ops::cuda::rotary_tables_on_device(
      g.device(l.positions, DType::kI64, {3, n}), g.device(l.pair_axis, DType::kI32, {l.pairs}),
      g.device(l.inv_freq, DType::kF32, {l.pairs}));
  const TextDecoder::AttendFn attend = [&](int64_t layer, const Tensor& q, const Tensor& k,
                                           const Tensor& v) {
    Tensor keys = pool.keys(layer), values = pool.values(layer);
    ops::store_kv(keys, values, k, v, batch);
    return ops::paged_attention_batch(q, keys, values, batch, text.attention_scale());
  };
  return text.logits(text.run_layers(std::move(hidden), rotary, attend));
}

}  // namespace

struct DecodeGraphs::Impl {
  bool enabled;
  std::map<std::pair<int64_t, int64_t>, std::unique_ptr<Graph>> graphs;
  std::set<std::pair<int64_t, int64_t>> seen;  // shapes whose first step ran eagerly
  DecodeGraphStats stats;

  // Writes the step's inputs into g's host image; false when a chunk is not a plain decode token
  // that the eager step would accept (the eager step then reports what is wrong).
  bool stage_inputs(Graph& g, const Glm4vModel::Impl& model, std::span<const SequenceChunk> chunks,
                    const KvBlockPool& pool) const {
    const Layout& l = g.layout;
    const int64_t n = l.sequences, block_size = pool.block_size();
    const int64_t vocab = model.text.embedding_table().size(0);
    auto* positions = g.host<int64_t>(l.positions);
    auto* ids = g.host<int32_t>(l.ids);
    auto* query_start = g.host<int32_t>(l.query_start);
    auto* context_lens = g.host<int32_t>(l.context_lens);
    auto* tables = g.host<int32_t>(l.block_tables);
    auto* slots = g.host<int32_t>(l.slots);
    auto* decode_seqs = g.host<int32_t>(l.decode_seqs);
    std::memset(tables, 0, size_t(n * l.max_blocks) * sizeof(int32_t));
    for (int64_t s = 0; s < n; ++s) {
      const SequenceChunk& chunk = chunks[size_t(s)];
      const int32_t id = chunk.ids[0];
      const Tensor& p = chunk.positions;
      if (id < 0 || id >= vocab || p.dtype() != DType::kI64 || p.dim() != 2 || p.size(0) != 3 ||
          p.size(1) != 1)
        return false;
      const int64_t context = chunk.cached_tokens + 1, used = (context + block_size - 1) / block_size;
      if (chunk.cached_tokens < 0 || used > l.max_blocks ||
          int64_t(chunk.block_table.size()) < used)
        return false;
      for (int64_t b = 0; b < used; ++b) {
        const int32_t block = chunk.block_table[size_t(b)];
        if (block < 0 || block >= pool.num_blocks()) return false;
        tables[s * l.max_blocks + b] = block;
      }
      for (int64_t axis = 0; axis < 3; ++axis) positions[axis * n + s] = p.data<int64_t>()[axis];
      ids[s] = id;
      query_start[s] = int32_t(s);
      context_lens[s] = int32_t(context);
      slots[s] = int32_t(int64_t(chunk.block_table[size_t(chunk.cached_tokens / block_size)]) *
                             block_size +
                         chunk.cached_tokens % block_size);
      decode_seqs[s] = int32_t(s);
    }
    query_start[n] = int32_t(n);
    const TextDecoder& text = model.text;
    std::memcpy(g.host<int32_t>(l.pair_axis), text.rotary_pair_axis().data(),
                text.rotary_pair_axis().size_bytes());
    std::memcpy(g.host<float>(l.inv_freq), text.rotary_inv_freq().data(),
                text.rotary_inv_freq().size_bytes());
    return true;
  }

  void upload(Graph& g) const {
    check(cudaMemcpyAsync(g.inputs->data(), g.staging.data(), g.layout.bytes,
                          cudaMemcpyHostToDevice, cudaStreamPerThread),
          "input upload");
  }

  void capture(Graph& g, const Glm4vModel::Impl& model, int64_t context_bucket,
               KvBlockPool& pool) const {
    const ScopedDevicePool scope(g.memory.get());
    check(cudaStreamBeginCapture(cudaStreamPerThread, cudaStreamCaptureModeRelaxed),
          "cudaStreamBeginCapture");
    cudaGraph_t graph = nullptr;
    Tensor logits;
    try {
      logits = forward_from_inputs(model, g, context_bucket, pool);
    } catch (...) {
      (void)cudaStreamEndCapture(cudaStreamPerThread, &graph);
      if (graph) cudaGraphDestroy(graph);
      (void)cudaGetLastError();
      throw;
    }
    check(cudaStreamEndCapture(cudaStreamPerThread, &graph), "cudaStreamEndCapture");
    const cudaError_t status = cudaGraphInstantiate(&g.exec, graph, 0);
    cudaGraphDestroy(graph);
    check(status, "cudaGraphInstantiate");
    g.logits = std::move(logits);
  }
};

DecodeGraphs::DecodeGraphs(bool enabled) : impl_(std::make_unique<Impl>()) {
  impl_->enabled = enabled;
}

Tensor DecodeGraphs::run(const Glm4vModel& model, std::span<const SequenceChunk> chunks,
                         KvBlockPool& pool) {
  Impl& m = *impl_;
  if (!m.enabled || model.device() != Device::kCUDA || pool.device() != Device::kCUDA ||
      chunks.empty() || int64_t(chunks.size()) > kMaxSequences)
    return {};
  const Glm4vModel::Impl& impl = model.impl();
  int64_t longest = 0;
  for (const SequenceChunk& chunk : chunks) {
    if (chunk.ids.size() != 1 || !chunk.want_logits || chunk.ids[0] == impl.config.image_token_id)
      return {};
    longest = std::max(longest, chunk.cached_tokens + 1);
  }
  if (longest > kMaxContext) return {};
  int64_t bucket = kMinContextBucket;
  while (bucket < longest) bucket *= 2;
  const auto key = std::make_pair(int64_t(chunks.size()), bucket);

  auto it = m.graphs.find(key);
  if (it == m.graphs.end()) {
    if (m.seen.insert(key).second || m.graphs.size() >= kMaxGraphs) {
      ++m.stats.eager;
      return {};
    }
    const int64_t max_blocks = (bucket + pool.block_size() - 1) / pool.block_size();
    auto graph = std::make_unique<Graph>(
        Layout(key.first, max_blocks, int64_t(impl.text.rotary_inv_freq().size())));
    if (!m.stage_inputs(*graph, impl, chunks, pool)) return {};
    try {
      m.upload(*graph);
      m.capture(*graph, impl, bucket, pool);
    } catch (const std::exception& e) {
      m.enabled = false;
      m.stats.disabled_because = e.what();
      std::fprintf(stderr, "glimpse: CUDA graphs for decode steps are off: %s\n", e.what());
      return {};
    }
    ++m.stats.captured;
    it = m.graphs.emplace(key, std::move(graph)).first;
  } else {
    if (!m.stage_inputs(*it->second, impl, chunks, pool)) return {};
    m.upload(*it->second);
  }
  check(cudaGraphLaunch(it->second->exec, cudaStreamPerThread), "cudaGraphLaunch");
  ++m.stats.replayed;
  return it->second->logits;
}

#else

struct DecodeGraphs::Impl {
  bool enabled = false;
  DecodeGraphStats stats;
};

DecodeGraphs::DecodeGraphs(bool) : impl_(std::make_unique<Impl>()) {}

Tensor DecodeGraphs::run(const Glm4vModel&, std::span<const SequenceChunk>, KvBlockPool&) {
  return {};
}

#endif

DecodeGraphs::~DecodeGraphs() = default;

bool DecodeGraphs::enabled() const {
  return impl_->enabled;
}

DecodeGraphStats DecodeGraphs::stats() const {
  return impl_->stats;
}

}  // namespace glimpse::model
