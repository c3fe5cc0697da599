// The serving step's kernels: store_kv (the step's new K/V rows into the pool at their slots) and
// flash decoding over the paged pool for every sequence with one new token, in one launch.
//
// Decode: one CTA of 4 warps per (decode sequence, key chunk, KV head, group of up to 16 query
// heads of that KV head), so the query heads of a GQA group (16 for GLM-4.6V: 32 over 2) share each
// K/V load. The chunk's keys stream through shared memory in tiles of 32 (cp.async, two stages:
// the next tile loads while this one is used). Per tile, warp w owns 4 of the query heads
// (kHeadsPerWarp): scores with lane = key (the key row from shared memory, the 4 query rows as
// broadcasts), an online softmax per head, then P·V with lane = 4 features (2 quads for d > 128).
// Per key and query head: 4·d FLOPs; per key 2·d·4 B of K/V from the pool, read once per CTA.
// When the sequences are too few to fill the GPU the keys are split into chunks (split-K): each
// CTA writes (Σ exp·v, max, Σ exp) of its chunk and a second kernel merges them per head.
#include <algorithm>
#include <mutex>
#include <vector>

#include "ops/common_cuda.cuh"
#include "ops/paged_batch_kernels_cuda.h"

namespace glimpse::ops::cuda_kernels {
namespace {

constexpr int kWarps = 4, kThreads = kWarps * 32;
constexpr int kTileKeys = 32;       // one key per lane in the score step
constexpr int kMinChunkKeys = 32;   // one tile: a chunk of fewer keys saves nothing
constexpr float kLog2e = 1.4426950408889634f;

__device__ inline void cp_async16(float* smem, const float* gmem) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(gmem));
}
__device__ inline void cp_async4(float* smem, const float* gmem) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(s), "l"(gmem));
}
__device__ inline void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int kPending>
__device__ inline void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending));
}

__global__ void store_kv_vec_kernel(float4* __restrict__ k_pool, float4* __restrict__ v_pool,
                                    const float4* __restrict__ k, const float4* __restrict__ v,
                                    const int32_t* __restrict__ slots, int64_t tokens,
                                    int64_t quads) {
  const int64_t n = tokens * quads;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t t = i / quads, c = i % quads, dst = int64_t(slots[t]) * quads + c;
    k_pool[dst] = k[i];
    v_pool[dst] = v[i];
  }
}

__global__ void store_kv_kernel(float* __restrict__ k_pool, float* __restrict__ v_pool,
                                const float* __restrict__ k, const float* __restrict__ v,
                                const int32_t* __restrict__ slots, int64_t tokens, int64_t row) {
  const int64_t n = tokens * row;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t t = i / row, c = i % row, dst = int64_t(slots[t]) * row + c;
    k_pool[dst] = k[i];
    v_pool[dst] = v[i];
  }
}

// Shared memory of a decode CTA, in floats: the queries [heads][dp], K tiles [2][32][ks], V tiles
// [2][32][dp], probabilities [32][heads]. dp: head_dim rounded up to 4. The lanes of the score step
// read float4s of 32 different K rows at once; so that they hit distinct banks, a row of a multiple
// of 32 floats keeps its quads XOR-swizzled by the row (quad c at c ^ (row & 7)), any other row is
// padded by one quad (ks = dp + 4). No padding keeps a GLM CTA (d 128, 16 heads) at 74 KB: three
// per SM.
__host__ __device__ inline int k_stride(int dp) { return dp % 32 == 0 ? dp : dp + 4; }
__host__ __device__ inline int k_swizzle(int dp) { return dp % 32 == 0 ? 7 : 0; }
__host__ __device__ inline int64_t decode_smem_floats(int cta_heads, int dp) {
  return int64_t(cta_heads) * dp + 2 * kTileKeys * k_stride(dp) + 2 * kTileKeys * dp +
         kTileKeys * cta_heads;
}

template <int kHeadsPerWarp, int kQuads, bool kVec>
__global__ void __launch_bounds__(kThreads)
    paged_decode_kernel(const PagedDecodeArgs a, int chunks, int chunk_keys, float* partials) {
  constexpr int kCtaHeads = kWarps * kHeadsPerWarp;
  extern __shared__ float4 smem4[];
  const int d = a.head_dim, dp = (d + 3) & ~3, ks = k_stride(dp), swizzle = k_swizzle(dp);
  float* q_s = reinterpret_cast<float*>(smem4);
  float* k_s = q_s + kCtaHeads * dp;
  float* v_s = k_s + 2 * kTileKeys * ks;
  float* p_s = v_s + 2 * kTileKeys * dp;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;

  const int seq_index = int(blockIdx.x) / chunks, chunk = int(blockIdx.x) % chunks;
  const int group = a.heads / a.kv_heads;
  const int head_groups = (group + kCtaHeads - 1) / kCtaHeads;
  const int kv_head = int(blockIdx.y) / head_groups, head_group = int(blockIdx.y) % head_groups;
  const int seq = a.decode_seqs[seq_index];
  const int context = a.context_lens[seq];
  const int key_begin = chunk * chunk_keys;
  if (key_begin >= context) return;  // a shorter sequence: the merge skips this chunk
  const int key_end = min(context, key_begin + chunk_keys);
  const int64_t row = a.query_start[seq];
  const int head0 = kv_head * group + head_group * kCtaHeads;
  const int heads_here = min(kCtaHeads, group - head_group * kCtaHeads);
  const int32_t* table = a.block_tables + int64_t(seq) * a.max_blocks;
  const int block_size = int(a.block_size);
  const int64_t slot_floats = int64_t(a.kv_heads) * d;
  const float* k_base = a.k + int64_t(kv_head) * d;
  const float* v_base = a.v + int64_t(kv_head) * d;

  // Pool slot of key `tile + lane` (each warp looks up the tile's 32 slots, one per lane, a tile
  // ahead of its copies so the table's latency hides behind a tile of work).
  auto slot_of = [&](int tile) {
    const int p = tile + lane;
    return p < key_end ? table[p / block_size] * block_size + p % block_size : 0;
  };
  // Issues the cp.async copies of keys [begin, min(begin + 32, key_end)) into stage `stage`; the
  // row of each copy takes its slot from the lane that looked it up.
  auto load_tile = [&](int begin, int stage, int lane_slot) {
    const int keys = min(kTileKeys, key_end - begin);
    float* kd = k_s + stage * kTileKeys * ks;
    float* vd = v_s + stage * kTileKeys * dp;
    const int per_row = kVec ? d / 4 : d, total = keys * per_row;
    for (int base = 0; base < total; base += kThreads) {  // the same trip count for every lane
      const int idx = base + int(threadIdx.x), t = idx / per_row, c = idx % per_row;
      const int64_t src = int64_t(__shfl_sync(0xffffffffu, lane_slot, t & 31)) * slot_floats;
      if (idx < total) {
        if (kVec) {
          cp_async16(kd + t * ks + 4 * (c ^ (t & swizzle)), k_base + src + 4 * c);
          cp_async16(vd + t * dp + 4 * c, v_base + src + 4 * c);
        } else {
          cp_async4(kd + t * ks + 4 * ((c >> 2) ^ (t & swizzle)) + (c & 3), k_base + src + c);
          cp_async4(vd + t * dp + c, v_base + src + c);
        }
      }
    }
    cp_async_commit();
  };

  // The queries (zero past the group and past d) join the first tile's copies; zeros in the K/V
  // columns [d, dp).
  const float* q_row = a.q + (row * a.heads + head0) * d;
  if (kVec) {
    for (int idx = threadIdx.x; idx < kCtaHeads * dp / 4; idx += kThreads) {
      if (idx < heads_here * d / 4)
        cp_async16(q_s + 4 * idx, q_row + 4 * idx);
      else
        *reinterpret_cast<float4*>(q_s + 4 * idx) = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    }
  } else {
    for (int idx = threadIdx.x; idx < kCtaHeads * dp; idx += kThreads) {
      const int g = idx / dp, i = idx % dp;
      q_s[idx] = g < heads_here && i < d ? q_row[int64_t(g) * d + i] : 0.0f;
    }
    for (int idx = threadIdx.x; idx < 2 * kTileKeys * (dp - d); idx += kThreads) {
      const int r = idx / (dp - d), i = d + idx % (dp - d);  // r: row of either stage
      k_s[r * ks + 4 * ((i >> 2) ^ (r & swizzle)) + (i & 3)] = 0.0f;
      v_s[r * dp + i] = 0.0f;
    }
  }
  load_tile(key_begin, 0, slot_of(key_begin));
  int next_slot = slot_of(key_begin + kTileKeys);

  const float scale = a.scale * kLog2e;  // scores in log2 units: exp2 below
  float running_max[kHeadsPerWarp], lane_sum[kHeadsPerWarp], acc[kHeadsPerWarp][kQuads][4];
#pragma unroll
  for (int g = 0; g < kHeadsPerWarp; ++g) {
    running_max[g] = -INFINITY;
    lane_sum[g] = 0.0f;
#pragma unroll
    for (int j = 0; j < kQuads; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[g][j][e] = 0.0f;
  }
  const float* q_w = q_s + warp * kHeadsPerWarp * dp;
  int stage = 0;
  for (int tile = key_begin; tile < key_end; tile += kTileKeys, stage ^= 1) {
    const bool more = tile + kTileKeys < key_end;
    if (more) {
      load_tile(tile + kTileKeys, stage ^ 1, next_slot);
      next_slot = slot_of(tile + 2 * kTileKeys);
    }
    if (more)
      cp_async_wait<1>();
    else
      cp_async_wait<0>();
    __syncthreads();  // this tile (and the queries) visible to every warp

    const int keys = min(kTileKeys, key_end - tile);
    // Scores: lane = key, the warp's query heads.
    const float* k_row = k_s + stage * kTileKeys * ks + lane * ks;
    const int row_swizzle = lane & swizzle;
    float score[kHeadsPerWarp];
#pragma unroll
    for (int g = 0; g < kHeadsPerWarp; ++g) score[g] = 0.0f;
#pragma unroll 4
    for (int i = 0; i < dp; i += 4) {
      const float4 kv = *reinterpret_cast<const float4*>(k_row + 4 * ((i >> 2) ^ row_swizzle));
#pragma unroll
      for (int g = 0; g < kHeadsPerWarp; ++g) {
        const float4 qv = *reinterpret_cast<const float4*>(q_w + g * dp + i);
        score[g] = fmaf(qv.x, kv.x, score[g]);
        score[g] = fmaf(qv.y, kv.y, score[g]);
        score[g] = fmaf(qv.z, kv.z, score[g]);
        score[g] = fmaf(qv.w, kv.w, score[g]);
      }
    }
    // Online softmax per head: the tile's maximum over the lanes, then each lane's weight.
    float correction[kHeadsPerWarp];
#pragma unroll
    for (int g = 0; g < kHeadsPerWarp; ++g) {
      const float s = lane < keys ? score[g] * scale : -INFINITY;
      const float new_max = fmaxf(running_max[g], warp_max(s));  // finite: lane 0 is a key
      correction[g] = exp2f(running_max[g] - new_max);            // 0 on the first tile
      const float weight = exp2f(s - new_max);                    // 0 past the keys
      lane_sum[g] = lane_sum[g] * correction[g] + weight;
      running_max[g] = new_max;
      p_s[lane * kCtaHeads + warp * kHeadsPerWarp + g] = weight;
    }
#pragma unroll
    for (int g = 0; g < kHeadsPerWarp; ++g)
#pragma unroll
      for (int j = 0; j < kQuads; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[g][j][e] *= correction[g];
    __syncwarp();  // the warp's weights, read back by all its lanes

    // P·V: lane = feature quad(s), the warp's query heads.
    const float* v_tile = v_s + stage * kTileKeys * dp;
    const float* p_w = p_s + warp * kHeadsPerWarp;
#pragma unroll 4
    for (int t = 0; t < keys; ++t) {
      float p[kHeadsPerWarp];
      if constexpr (kHeadsPerWarp == 4) {
        const float4 pv = *reinterpret_cast<const float4*>(p_w + t * kCtaHeads);
        p[0] = pv.x, p[1] = pv.y, p[2] = pv.z, p[3] = pv.w;
      } else {
#pragma unroll
        for (int g = 0; g < kHeadsPerWarp; ++g) p[g] = p_w[t * kCtaHeads + g];
      }
#pragma unroll
      for (int j = 0; j < kQuads; ++j) {
        const int col = 4 * (lane + 32 * j);
        if (col < dp) {
          const float4 vv = *reinterpret_cast<const float4*>(v_tile + t * dp + col);
#pragma unroll
          for (int g = 0; g < kHeadsPerWarp; ++g) {
            acc[g][j][0] = fmaf(p[g], vv.x, acc[g][j][0]);
            acc[g][j][1] = fmaf(p[g], vv.y, acc[g][j][1]);
            acc[g][j][2] = fmaf(p[g], vv.z, acc[g][j][2]);
            acc[g][j][3] = fmaf(p[g], vv.w, acc[g][j][3]);
          }
        }
      }
    }
    __syncthreads();  // every warp done with this stage before the next load overwrites it
  }

  // Each head's result: normalised into out, or the chunk's part for the merge kernel.
#pragma unroll
  for (int g = 0; g < kHeadsPerWarp; ++g) {
    const float sum = warp_sum(lane_sum[g]);
    const int local = warp * kHeadsPerWarp + g;
    if (local >= heads_here) continue;
    const int head = head0 + local;
    float* dst;
    float factor;
    if (chunks == 1) {
      dst = a.out + (row * a.heads + head) * d;
      factor = 1.0f / sum;
    } else {
      dst = partials + ((int64_t(seq_index) * a.heads + head) * chunks + chunk) * (dp + 4);
      factor = 1.0f;
      if (lane == 0) dst[dp] = running_max[g], dst[dp + 1] = sum;
    }
#pragma unroll
    for (int j = 0; j < kQuads; ++j) {
      const int col = 4 * (lane + 32 * j);
#pragma unroll
      for (int e = 0; e < 4; ++e)
        if (col + e < d) dst[col + e] = acc[g][j][e] * factor;
    }
  }
}

// Split-K merge: one block per (decode sequence, head) over the chunks that held keys.
__global__ void paged_decode_merge_kernel(const PagedDecodeArgs a, int chunks, int chunk_keys,
                                          const float* __restrict__ partials) {
  const int seq_index = int(blockIdx.x) / a.heads, head = int(blockIdx.x) % a.heads;
  const int seq = a.decode_seqs[seq_index];
  const int used = (a.context_lens[seq] + chunk_keys - 1) / chunk_keys;
  const int d = a.head_dim, stride = ((d + 3) & ~3) + 4;
  const float* parts = partials + (int64_t(seq_index) * a.heads + head) * chunks * stride;
  float max_all = -INFINITY;
  for (int c = 0; c < used; ++c) max_all = fmaxf(max_all, parts[c * stride + stride - 4]);
  float* dst = a.out + (int64_t(a.query_start[seq]) * a.heads + head) * d;
  for (int i = threadIdx.x; i < d; i += blockDim.x) {
    float sum = 0.0f, value = 0.0f;
    for (int c = 0; c < used; ++c) {
      const float* part = parts + c * stride;
      const float factor = exp2f(part[stride - 4] - max_all);
      sum += part[stride - 3] * factor;
      value += part[i] * factor;
    }
    dst[i] = value / sum;
  }
}

using DecodeKernel = void (*)(const PagedDecodeArgs, int, int, float*);

int heads_per_warp(const PagedDecodeArgs& a) {
  const int group = a.heads / a.kv_heads;
  return group <= kWarps ? 1 : group <= 2 * kWarps ? 2 : 4;
}

template <int kHeadsPerWarp>
DecodeKernel pick_kernel(int dp, bool vec) {
  if (dp <= 128)
    return vec ? paged_decode_kernel<kHeadsPerWarp, 1, true>
               : paged_decode_kernel<kHeadsPerWarp, 1, false>;
  return vec ? paged_decode_kernel<kHeadsPerWarp, 2, true>
             : paged_decode_kernel<kHeadsPerWarp, 2, false>;
}

// The kernel for these shapes and its dynamic shared memory (its limit raised once per kernel
// and size; the host calls are cached, since every layer of every step asks).
struct DecodeLaunch {
  DecodeKernel kernel;
  size_t smem;
  int per_sm;  // CTAs resident per SM
  cudaError_t status;
};
DecodeLaunch decode_launch(const PagedDecodeArgs& a, bool vec) {
  const int hpw = heads_per_warp(a), dp = (a.head_dim + 3) & ~3;
  DecodeLaunch launch{};
  launch.kernel = hpw == 1   ? pick_kernel<1>(dp, vec)
                  : hpw == 2 ? pick_kernel<2>(dp, vec)
                             : pick_kernel<4>(dp, vec);
  launch.smem = size_t(decode_smem_floats(kWarps * hpw, dp)) * sizeof(float);
  static std::mutex mutex;
  static std::vector<DecodeLaunch> known;
  // The limit each kernel was last raised to: it only ever goes up, since a launch planned
  // earlier with more shared memory must stay legal (lowering it for a smaller head size made
  // the next launch of a larger one fail with cudaErrorInvalidValue).
  static std::vector<std::pair<DecodeKernel, size_t>> raised;
  const std::lock_guard<std::mutex> lock(mutex);
  for (const DecodeLaunch& k : known)
    if (k.kernel == launch.kernel && k.smem == launch.smem) return k;
  auto limit = std::find_if(raised.begin(), raised.end(),
                            [&](const auto& r) { return r.first == launch.kernel; });
  if (limit == raised.end()) limit = raised.insert(raised.end(), {launch.kernel, 0});
  launch.status = cudaSuccess;
  if (launch.smem > limit->second) {
    launch.status = cudaFuncSetAttribute(
        launch.kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(launch.smem));
    if (launch.status == cudaSuccess) limit->second = launch.smem;
  }
  if (launch.status == cudaSuccess)
    launch.status = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&launch.per_sm, launch.kernel,
                                                                  kThreads, launch.smem);
  launch.per_sm = std::max(launch.per_sm, 1);
  if (launch.status == cudaSuccess) known.push_back(launch);
  return launch;
}

bool decode_vec(const PagedDecodeArgs& a) {
  return a.head_dim % 4 == 0 && aligned16(a.q, a.k, a.v);
}

}  // namespace

cudaError_t paged_store_kv(float* k_pool, float* v_pool, const float* k, const float* v,
                           const int32_t* slots, int64_t tokens, int64_t row) {
  if (tokens == 0 || row == 0) return cudaSuccess;
  constexpr int threads = 256;
  if (row % 4 == 0 && aligned16(k_pool, v_pool, k, v)) {
    const int64_t quads = row / 4;
    store_kv_vec_kernel<<<grid_for(tokens * quads, threads), threads>>>(
        reinterpret_cast<float4*>(k_pool), reinterpret_cast<float4*>(v_pool),
        reinterpret_cast<const float4*>(k), reinterpret_cast<const float4*>(v), slots, tokens,
        quads);
  } else {
    store_kv_kernel<<<grid_for(tokens * row, threads), threads>>>(k_pool, v_pool, k, v, slots,
                                                                  tokens, row);
  }
  return cudaGetLastError();
}

PagedDecodePlan plan_paged_decode(const PagedDecodeArgs& args, int64_t max_context) {
  PagedDecodePlan plan{1, int((max_context + kTileKeys - 1) / kTileKeys * kTileKeys), 0};
  if (args.decode_count == 0 || max_context <= 0 || args.kv_heads <= 0) return plan;
  static const int sms = [] {
    int device = 0, count = 0;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device) != cudaSuccess)
      count = 132;
    return count;
  }();
  const DecodeLaunch launch = decode_launch(args, decode_vec(args));
  const int cta_heads = kWarps * heads_per_warp(args), group = args.heads / args.kv_heads;
  const int64_t base =
      int64_t(args.decode_count) * args.kv_heads * ((group + cta_heads - 1) / cta_heads);
  // Enough chunks for one full wave of resident CTAs, none shorter than kMinChunkKeys.
  int64_t chunks = std::max<int64_t>(1, int64_t(launch.per_sm) * sms / base);
  chunks = std::min<int64_t>(chunks, std::max<int64_t>(1, max_context / kMinChunkKeys));
  const int64_t keys = (max_context + chunks - 1) / chunks;
  plan.chunk_keys = int((keys + kTileKeys - 1) / kTileKeys * kTileKeys);
  plan.chunks = int((max_context + plan.chunk_keys - 1) / plan.chunk_keys);
  if (plan.chunks > 1)
    plan.workspace_floats =
        int64_t(args.decode_count) * args.heads * plan.chunks * (((args.head_dim + 3) & ~3) + 4);
  return plan;
}

cudaError_t paged_decode(const PagedDecodeArgs& args, const PagedDecodePlan& plan,
                         float* workspace) {
  if (args.decode_count == 0) return cudaSuccess;
  if (args.head_dim > kPagedDecodeMaxHeadDim || args.head_dim <= 0 || args.kv_heads <= 0 ||
      args.heads % args.kv_heads != 0 || (plan.chunks > 1 && !workspace))
    return cudaErrorInvalidValue;
  const DecodeLaunch launch = decode_launch(args, decode_vec(args));
  if (launch.status != cudaSuccess) return launch.status;
  const int cta_heads = kWarps * heads_per_warp(args), group = args.heads / args.kv_heads;
  const dim3 grid(unsigned(int64_t(args.decode_count) * plan.chunks),
                  unsigned(args.kv_heads * ((group + cta_heads - 1) / cta_heads)));
  launch.kernel<<<grid, kThreads, launch.smem>>>(args, plan.chunks, plan.chunk_keys, workspace);
  const cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess || plan.chunks == 1) return status;
  paged_decode_merge_kernel<<<unsigned(int64_t(args.decode_count) * args.heads), 128>>>(
      args, plan.chunks, plan.chunk_keys, workspace);
  return cudaGetLastError();
}

}  // namespace glimpse::ops::cuda_kernels
