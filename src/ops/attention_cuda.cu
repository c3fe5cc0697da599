// Attention with an online softmax, one warp per (query, head, slice of keys): the lanes split
// head_dim (32-lane coalesced rows of K and V), so each key costs a 5-step shuffle reduction.
// Per query and head: 4·keys·d FLOPs; 2·keys·d·4 B of K/V, shared through L1/L2 by the queries of
// one block. A block of 8 warps takes 8/S consecutive (head, token) units, S warps per unit
// splitting its keys: S = 8 for decode (few units: keep many warps busy), S = 1 for prefill.
// Consecutive units share a KV head (decode: the GQA group; prefill: neighbouring tokens), so the
// K/V rows one warp loads are mostly cache hits for the others. When even that leaves the GPU
// half idle (decode), each unit's keys are also cut into C chunks, one block each (split-K); the
// blocks write (max, Σexp, Σexp·v) and a second kernel merges them: (d + 2)·4 B per chunk.
#include "ops/common_cuda.cuh"
#include "ops/kernels_cuda.h"

namespace glimpse::ops::cuda_kernels {
namespace {

constexpr int kWarps = 8;
constexpr int kPerLane = kAttentionMaxHeadDim / 32;
constexpr int64_t kTargetBlocks = 264;  // two per SM of an H100 (132 SMs)
constexpr int64_t kMinChunkKeys = 128;  // below this a chunk's merge costs more than it saves

struct KeyRange {
  int64_t begin, end;
};

// The keys of query token t that chunk `chunk` of `chunks` covers.
__device__ inline KeyRange chunk_keys(const AttentionArgs& a, int t, int chunk, int chunks) {
  const int64_t begin = a.key_ranges ? a.key_ranges[2 * t] : 0;
  const int64_t end = a.key_ranges ? a.key_ranges[2 * t + 1] : a.q_offset + t + 1;
  const int64_t length = end - begin;
  return {begin + length * chunk / chunks, begin + length * (chunk + 1) / chunks};
}

// The merged value of feature i of one unit: Σ_w acc_w[i]·e^(max_w − max) over the parts, with
// its normaliser Σ_w sum_w·e^(max_w − max). A part that saw no keys has sum 0 and counts nothing.
struct Merged {
  float max_value, sum, value;
};
__device__ inline Merged merge(const float* maxima, const float* sums, int stats_stride,
                               const float* values, int value_stride, int parts) {
  float max_all = -INFINITY;
  for (int s = 0; s < parts; ++s) max_all = fmaxf(max_all, maxima[s * stats_stride]);
  Merged m{max_all, 0.0f, 0.0f};
  for (int s = 0; s < parts; ++s) {
    const float sum = sums[s * stats_stride];
    const float factor = sum > 0.0f ? expf(maxima[s * stats_stride] - max_all) : 0.0f;
    m.sum += sum * factor;
    m.value += values[s * value_stride] * factor;
  }
  return m;
}

// kBatch keys in flight per warp: 4 when few warps share the GPU (decode, split keys), where
// latency rules; 1 for prefill, where the batch's registers (101 vs 48) cost more occupancy than
// the overlap gains (H100: 13.2 vs 9.8 ms for 2048 tokens).
template <int kBatch>
__global__ void __launch_bounds__(kWarps * 32)
    attention_kernel(const AttentionArgs a, int splits, int64_t units, float* partials) {
  __shared__ float warp_max_s[kWarps], warp_sum_s[kWarps];
  __shared__ float warp_acc[kWarps][kAttentionMaxHeadDim];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int units_per_block = kWarps / splits;
  const int d = a.head_dim;
  const int chunk = int(blockIdx.y), chunks = int(gridDim.y);
  const int64_t unit = int64_t(blockIdx.x) * units_per_block + warp / splits;
  const int split = warp % splits;

  float running_max = -INFINITY, running_sum = 0.0f, acc[kPerLane];
#pragma unroll
  for (int m = 0; m < kPerLane; ++m) acc[m] = 0.0f;
  if (unit < units) {
    const int h = int(unit / a.tokens), t = int(unit % a.tokens);
    const int kv_head = h / (a.heads / a.kv_heads);
    const KeyRange keys = chunk_keys(a, t, chunk, chunks);
    const float* query = a.q + (int64_t(t) * a.heads + h) * d;
    float q[kPerLane];
#pragma unroll
    for (int m = 0; m < kPerLane; ++m) q[m] = lane + 32 * m < d ? query[lane + 32 * m] : 0.0f;
    const int64_t row_stride = int64_t(a.kv_heads) * d;
    // kBatch keys per step, all their K and V loads issued before the first use, so the loads and
    // the shuffle reductions of different keys overlap instead of each waiting out a latency.
    for (int64_t first = keys.begin + split; first < keys.end; first += kBatch * splits) {
      bool valid[kBatch];  // the batch's first key always is; the same for the whole warp
      float score[kBatch], values[kBatch][kPerLane];
#pragma unroll
      for (int b = 0; b < kBatch; ++b) {
        const int64_t p = first + int64_t(b) * splits;
        valid[b] = p < keys.end;
        const int64_t key_row =
            !valid[b] ? 0
            : a.block_table
                ? int64_t(a.block_table[p / a.block_size]) * a.block_size + p % a.block_size
                : p;
        const float* key = a.k + key_row * row_stride + kv_head * d;
        const float* value = a.v + key_row * row_stride + kv_head * d;
        score[b] = 0.0f;
#pragma unroll
        for (int m = 0; m < kPerLane; ++m) {
          const bool load = valid[b] && lane + 32 * m < d;
          score[b] += load ? q[m] * key[lane + 32 * m] : 0.0f;
          values[b][m] = load ? value[lane + 32 * m] : 0.0f;
        }
      }
      float new_max = running_max;
#pragma unroll
      for (int b = 0; b < kBatch; ++b) {
        score[b] = valid[b] ? warp_sum(score[b]) * a.scale : -INFINITY;
        new_max = fmaxf(new_max, score[b]);
      }
      const float correction = expf(running_max - new_max);  // 0 for the first key
      running_sum *= correction;
#pragma unroll
      for (int m = 0; m < kPerLane; ++m) acc[m] *= correction;
#pragma unroll
      for (int b = 0; b < kBatch; ++b) {
        const float weight = expf(score[b] - new_max);  // 0 past the end
        running_sum += weight;
#pragma unroll
        for (int m = 0; m < kPerLane; ++m) acc[m] += weight * values[b][m];
      }
      running_max = new_max;
    }
  }
  if (lane == 0) {
    warp_max_s[warp] = running_max;
    warp_sum_s[warp] = running_sum;
  }
#pragma unroll
  for (int m = 0; m < kPerLane; ++m)
    if (lane + 32 * m < d) warp_acc[warp][lane + 32 * m] = acc[m];
  __syncthreads();

  // Merge the S warps of each unit; with chunks, leave the unnormalised part for the second pass.
  for (int idx = threadIdx.x; idx < units_per_block * d; idx += blockDim.x) {
    const int local = idx / d, i = idx % d;
    const int64_t u = int64_t(blockIdx.x) * units_per_block + local;
    if (u >= units) break;
    const Merged m = merge(warp_max_s + local * splits, warp_sum_s + local * splits, 1,
                           &warp_acc[local * splits][i], kAttentionMaxHeadDim, splits);
    if (chunks == 1) {
      const int h = int(u / a.tokens), t = int(u % a.tokens);
      a.out[(int64_t(t) * a.heads + h) * d + i] = m.value / m.sum;
    } else {
      float* part = partials + (u * chunks + chunk) * (d + 2);
      part[i] = m.value;
      if (i == 0) part[d] = m.max_value, part[d + 1] = m.sum;
    }
  }
}

// Split-K merge: one block per unit; reads chunks·(d + 2) floats, writes d.
__global__ void attention_merge_kernel(const AttentionArgs a, int chunks,
                                       const float* __restrict__ partials) {
  const int64_t u = blockIdx.x;
  const int d = a.head_dim, stride = d + 2;
  const float* parts = partials + u * chunks * stride;
  const int h = int(u / a.tokens), t = int(u % a.tokens);
  for (int i = threadIdx.x; i < d; i += blockDim.x) {
    const Merged m = merge(parts + d, parts + d + 1, stride, parts + i, stride, chunks);
    a.out[(int64_t(t) * a.heads + h) * d + i] = m.value / m.sum;
  }
}

}  // namespace

AttentionPlan plan_attention(const AttentionArgs& args) {
  const int64_t units = int64_t(args.tokens) * args.heads;
  AttentionPlan plan{1, 1, 0};
  // The fewest warp splits that give kTargetBlocks blocks, then block chunks if still short.
  while (plan.warp_splits < kWarps && units * plan.warp_splits / kWarps < kTargetBlocks)
    plan.warp_splits *= 2;
  const int64_t blocks = (units * plan.warp_splits + kWarps - 1) / kWarps;
  while (blocks * plan.chunks < kTargetBlocks && args.max_keys / (2 * plan.chunks) >= kMinChunkKeys)
    plan.chunks *= 2;
  if (plan.chunks > 1) plan.workspace_floats = units * plan.chunks * (args.head_dim + 2);
  return plan;
}

cudaError_t attention(const AttentionArgs& args, const AttentionPlan& plan, float* workspace) {
  const int64_t units = int64_t(args.tokens) * args.heads;
  if (units == 0) return cudaSuccess;
  if (plan.chunks > 1 && !workspace) return cudaErrorInvalidValue;
  const int64_t units_per_block = kWarps / plan.warp_splits;
  const dim3 grid(unsigned((units + units_per_block - 1) / units_per_block), unsigned(plan.chunks));
  if (plan.warp_splits > 1 || plan.chunks > 1)
    attention_kernel<4><<<grid, kWarps * 32>>>(args, plan.warp_splits, units, workspace);
  else
    attention_kernel<1><<<grid, kWarps * 32>>>(args, plan.warp_splits, units, workspace);
  if (plan.chunks > 1)
    attention_merge_kernel<<<unsigned(units), 128>>>(args, plan.chunks, workspace);
  return cudaGetLastError();
}

}  // namespace glimpse::ops::cuda_kernels
