// Sampling R rows of V logits with the CPU op's decisions (sample_cpu.cc):
//   1. sample_keys: every logit → a 64-bit key, the row in the high half and the order-preserving
//      bits of -score in the low half, where score = logit × float(1/temperature) (a -inf logit
//      is "masked": a key past every score), and the token id beside it; NaN flagged. Reads
//      4·R·V bytes, writes 12·R·V (and 12·V more per row that wants logprobs: its raw logits').
//   2. sample_penalties: the keys of the rows' seen tokens again, from penalised logits (KB).
//   3. cub::DeviceRadixSort over the keys, ascending over 32 + bits(R) bits: each row descending
//      by score, equal scores by id (the sort is stable and the ids go in ascending), as the CPU
//      ranks. About 5 passes reading and writing 12 bytes per logit.
//   4. sample_pick, one block per row: every filter keeps a prefix of the sorted row (binary
//      searches find the masked tail, the top-k ties and the min-p cut); top-p and the draw scan
//      the masses exp(s - max) in double, in chunks, and stop at the chunk that reaches their
//      target. Reads 12 bytes per token up to there: the whole row for top-p's total at worst.
//   5. For rows wanting logprobs, their raw keys sorted as in 3 and sample_logprobs: log Σ exp
//      over the raw row (4·V bytes) and the first N sorted raw entries.
// Float steps use __fmul_rn / __fdiv_rn / __fsub_rn, which nvcc cannot contract into FMAs, so a
// score is the CPU's bit for bit.
#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>
#include <cub/device/device_radix_sort.cuh>

#include "ops/sample_kernels_cuda.h"

namespace glimpse::ops::cuda_kernels {
namespace {

constexpr int kKeysThreads = 256;
constexpr int kPenaltyThreads = 128;
constexpr int kPickThreads = 256;
constexpr int kPickItems = 4;  // per thread and chunk of a scan
constexpr int kPickChunk = kPickThreads * kPickItems;
constexpr uint32_t kMaskedKey = 0xffffffffu;  // after every score, -inf included

// Ascending keys for descending scores. -0 and +0 compare equal, so they share a key and the sort
// orders them by id, as the CPU does.
__device__ inline uint32_t descending_key(float score) {
  const uint32_t bits = __float_as_uint(score == 0.0f ? 0.0f : score);
  const uint32_t ascending = (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
  return ~ascending;
}

__device__ inline float key_score(uint64_t key) {
  const uint32_t ascending = ~uint32_t(key);
  return __uint_as_float((ascending & 0x80000000u) ? (ascending & 0x7fffffffu) : ~ascending);
}

// As the CPU: a -inf penalised logit is masked before temperature scales the others.
__device__ inline uint64_t score_key(int64_t row, float penalised, float inv_temperature) {
  const uint32_t low =
      penalised == -INFINITY ? kMaskedKey : descending_key(__fmul_rn(penalised, inv_temperature));
  return uint64_t(row) << 32 | low;
}

__global__ void __launch_bounds__(kKeysThreads)
    sample_keys_kernel(const float* __restrict__ logits, int64_t vocab,
                       const SampleRowArgs* __restrict__ rows, SampleResult* results,
                       uint64_t* __restrict__ keys, int32_t* __restrict__ ids,
                       uint64_t* __restrict__ raw_keys, int32_t* __restrict__ raw_ids) {
  const int64_t r = blockIdx.y;
  const int64_t i = int64_t(blockIdx.x) * kKeysThreads + threadIdx.x;
  if (i >= vocab) return;
  const float x = logits[r * vocab + i];
  if (isnan(x)) atomicMin(&results[r].nan_token, uint32_t(i));
  keys[r * vocab + i] = score_key(r, x, rows[r].inv_temperature);
  ids[r * vocab + i] = int32_t(i);
  const int64_t slot = rows[r].logprob_slot;
  if (slot >= 0) {
    raw_keys[slot * vocab + i] = uint64_t(slot) << 32 | descending_key(x);
    raw_ids[slot * vocab + i] = int32_t(i);
  }
}

// Seen ids are distinct within a row, so no two threads write one key. A factor of 1 and a
// subtrahend of 0 leave a logit exactly as it is, as the CPU's skipped steps do.
__global__ void __launch_bounds__(kPenaltyThreads)
    sample_penalties_kernel(const float* __restrict__ logits, int64_t vocab,
                            const SampleRowArgs* __restrict__ rows,
                            const SamplePenalty* __restrict__ penalties,
                            uint64_t* __restrict__ keys) {
  const int64_t r = blockIdx.x;
  const SampleRowArgs row = rows[r];
  for (int32_t j = row.penalties_begin + int32_t(threadIdx.x); j < row.penalties_end;
       j += kPenaltyThreads) {
    const SamplePenalty p = penalties[j];
    float s = logits[r * vocab + p.token];
    s = s < 0.0f ? __fmul_rn(s, row.repetition) : __fdiv_rn(s, row.repetition);
    s = __fsub_rn(s, p.subtract);
    keys[r * vocab + p.token] = score_key(r, s, row.inv_temperature);
  }
}

// The first i in [0, n) with pred(i), or n; pred is false then true along [0, n).
template <typename Pred>
__device__ int64_t partition_point(int64_t n, Pred pred) {
  int64_t low = 0, high = n;
  while (low < high) {
    const int64_t mid = low + (high - low) / 2;
    if (pred(mid))
      high = mid;
    else
      low = mid + 1;
  }
  return low;
}

using PickScan = cub::BlockScan<double, kPickThreads>;
using PickReduce = cub::BlockReduce<double, kPickThreads>;

struct PickShared {
  union {
    PickScan::TempStorage scan;
    PickReduce::TempStorage reduce;
  } cub;
  double total;
  int first;
};

__device__ inline double mass(const uint64_t* keys, int64_t i, float max) {
  return exp(double(key_score(keys[i])) - double(max));
}

// Σ mass over the sorted prefix [0, n), for every thread of the block.
__device__ double total_mass(const uint64_t* keys, int64_t n, float max, PickShared& shared) {
  double sum = 0;
  for (int64_t i = threadIdx.x; i < n; i += kPickThreads) sum += mass(keys, i, max);
  sum = PickReduce(shared.cub.reduce).Sum(sum);
  if (threadIdx.x == 0) shared.total = sum;
  __syncthreads();
  sum = shared.total;
  __syncthreads();  // shared is free again
  return sum;
}

// The first i in [0, n) whose cumulative Σ_{j <= i} mass_j / total reaches `target` (>= when
// or_equal, else >), or n. Chunks of kPickChunk sorted entries, one block scan each, until one
// reaches it.
__device__ int64_t first_reaching(const uint64_t* keys, int64_t n, float max, double total,
                                  double target, bool or_equal, PickShared& shared) {
  double carry = 0;
  for (int64_t base = 0; base < n; base += kPickChunk) {
    if (threadIdx.x == 0) shared.first = kPickChunk;
    double cumulative[kPickItems];
    for (int k = 0; k < kPickItems; ++k) {
      const int64_t i = base + threadIdx.x * kPickItems + k;
      cumulative[k] = i < n ? mass(keys, i, max) / total : 0.0;
    }
    double chunk_total;
    PickScan(shared.cub.scan).InclusiveSum(cumulative, cumulative, chunk_total);
    __syncthreads();  // the reset of `first` is seen; the scan's storage is free
    for (int k = 0; k < kPickItems; ++k) {
      const int offset = int(threadIdx.x) * kPickItems + k;
      const double c = carry + cumulative[k];
      if (base + offset < n && (or_equal ? c >= target : c > target)) {
        atomicMin(&shared.first, offset);
        break;
      }
    }
    __syncthreads();
    const int first = shared.first;
    __syncthreads();  // every thread read `first` before the next chunk resets it
    if (first < kPickChunk) return base + first;
    carry += chunk_total;
  }
  return n;
}

__global__ void __launch_bounds__(kPickThreads)
    sample_pick_kernel(int64_t vocab, const SampleRowArgs* __restrict__ rows,
                       const uint64_t* __restrict__ sorted_keys,
                       const int32_t* __restrict__ sorted_ids, SampleResult* results) {
  __shared__ PickShared shared;
  const int64_t r = blockIdx.x;
  const SampleRowArgs row = rows[r];
  const uint64_t* keys = sorted_keys + r * vocab;
  const int32_t* ids = sorted_ids + r * vocab;
  SampleResult& out = results[r];
  if (threadIdx.x == 0) out.all_masked = 0, out.infinite_score = 0;
  if (row.greedy) {  // the first maximum of the penalised logits; all -inf: token 0, as the CPU
    if (threadIdx.x == 0) out.token = ids[0];
    return;
  }
  // Every filter keeps a prefix of the sorted row; every thread finds the same bounds (broadcast
  // loads), so none waits for another.
  const int64_t kept =
      partition_point(vocab, [&](int64_t i) { return uint32_t(keys[i]) == kMaskedKey; });
  if (kept == 0) {
    if (threadIdx.x == 0) out.token = 0, out.all_masked = 1;
    return;
  }
  const float max = key_score(keys[0]);
  if (isinf(max)) {  // exp(s − max) would be NaN: the CPU refuses such a row
    if (threadIdx.x == 0) out.token = ids[0], out.infinite_score = max > 0 ? 1 : -1;
    return;
  }
  int64_t top_k_end = kept;  // top-k keeps every token tied with the k-th score
  if (row.top_k > 0 && row.top_k < kept) {
    const uint32_t kth = uint32_t(keys[row.top_k - 1]);
    top_k_end = partition_point(kept, [&](int64_t i) { return uint32_t(keys[i]) > kth; });
  }
  int64_t end = partition_point(top_k_end, [&](int64_t i) {  // min-p
    return double(key_score(keys[i])) - double(max) < row.log_min_p;
  });
  // top-p over the top-k survivors: keep each token while the mass ranked above it is < top_p.
  if (row.top_p < 1.0) {
    const double total = total_mass(keys, top_k_end, max, shared);
    const int64_t last = first_reaching(keys, end, max, total, row.top_p, true, shared);
    if (last < end) end = last + 1;
  }
  // The draw: the first token whose cumulative probability exceeds u; the last kept one when
  // rounding leaves u past the end, as the CPU's walk.
  const double total = total_mass(keys, end, max, shared);
  const int64_t pick = first_reaching(keys, end, max, total, row.uniform, false, shared);
  if (threadIdx.x == 0) out.token = ids[pick < end ? pick : end - 1];
}

__global__ void __launch_bounds__(kPickThreads)
    sample_logprobs_kernel(const float* __restrict__ logits, int64_t vocab,
                           const SampleRowArgs* __restrict__ rows,
                           const uint64_t* __restrict__ sorted_raw_keys,
                           const int32_t* __restrict__ sorted_raw_ids, SampleResult* results) {
  __shared__ PickReduce::TempStorage reduce;
  __shared__ double log_z;
  const int64_t r = blockIdx.x;
  const SampleRowArgs row = rows[r];
  if (row.logprob_slot < 0) return;
  const float* x = logits + r * vocab;
  const uint64_t* keys = sorted_raw_keys + int64_t(row.logprob_slot) * vocab;
  const int32_t* ids = sorted_raw_ids + int64_t(row.logprob_slot) * vocab;
  SampleResult& out = results[r];
  const float max = key_score(keys[0]);
  double sum = 0;
  for (int64_t i = threadIdx.x; i < vocab; i += kPickThreads)
    sum += exp(double(x[i]) - double(max));
  sum = PickReduce(reduce).Sum(sum);
  if (threadIdx.x == 0) {
    log_z = double(max) + log(sum);
    out.chosen_logprob = double(x[out.token]) - log_z;
    out.top_count = int32_t(row.top_logprobs < vocab ? row.top_logprobs : vocab);
  }
  __syncthreads();
  const int t = int(threadIdx.x);
  if (t < row.top_logprobs && t < vocab) {
    out.top_ids[t] = ids[t];
    out.top_logprobs[t] = double(key_score(keys[t])) - log_z;
  }
}

// Bits of the key the sort looks at: the score's 32 and enough above them for the row index.
int sort_end_bit(int64_t rows) {
  int bits = 32;
  while ((int64_t(1) << (bits - 32)) < rows) ++bits;
  return bits;
}

// Sorts `rows` rows of `vocab` (key, id) pairs; the sorted pairs end in keys[0], ids[0] or in
// keys[1], ids[1], which *sorted_keys / *sorted_ids then name.
cudaError_t sort_rows(uint64_t* const keys[2], int32_t* const ids[2], int64_t rows, int64_t vocab,
                      void* temp, size_t temp_bytes, const uint64_t** sorted_keys,
                      const int32_t** sorted_ids) {
  cub::DoubleBuffer<uint64_t> key_buffer(keys[0], keys[1]);
  cub::DoubleBuffer<int32_t> id_buffer(ids[0], ids[1]);
  const cudaError_t status = cub::DeviceRadixSort::SortPairs(
      temp, temp_bytes, key_buffer, id_buffer, int(rows * vocab), 0, sort_end_bit(rows));
  *sorted_keys = key_buffer.Current();
  *sorted_ids = id_buffer.Current();
  return status;
}

cudaError_t sort_temp_bytes(int64_t rows, int64_t vocab, size_t* bytes) {
  cub::DoubleBuffer<uint64_t> keys(nullptr, nullptr);
  cub::DoubleBuffer<int32_t> ids(nullptr, nullptr);
  return cub::DeviceRadixSort::SortPairs(nullptr, *bytes, keys, ids, int(rows * vocab), 0,
                                         sort_end_bit(rows));
}

}  // namespace

cudaError_t sample_sort_temp_bytes(int64_t rows, int64_t logprob_rows, int64_t vocab,
                                   size_t* bytes) {
  size_t raw = 0;
  cudaError_t status = sort_temp_bytes(rows, vocab, bytes);
  if (status == cudaSuccess && logprob_rows > 0)
    status = sort_temp_bytes(logprob_rows, vocab, &raw);
  if (raw > *bytes) *bytes = raw;
  return status;
}

cudaError_t sample_rows(const SampleArgs& a) {
  if (a.rows == 0) return cudaSuccess;
  if (a.rows > 65535 || a.rows * a.vocab > INT32_MAX) return cudaErrorInvalidValue;
  // nan_token = UINT32_MAX: no NaN until sample_keys finds one.
  cudaError_t status = cudaMemsetAsync(a.results, 0xff, size_t(a.rows) * sizeof(SampleResult));
  if (status != cudaSuccess) return status;
  const dim3 grid(unsigned((a.vocab + kKeysThreads - 1) / kKeysThreads), unsigned(a.rows));
  sample_keys_kernel<<<grid, kKeysThreads>>>(a.logits, a.vocab, a.row_args, a.results, a.keys[0],
                                             a.ids[0], a.raw_keys[0], a.raw_ids[0]);
  sample_penalties_kernel<<<unsigned(a.rows), kPenaltyThreads>>>(a.logits, a.vocab, a.row_args,
                                                                 a.penalties, a.keys[0]);
  if ((status = cudaGetLastError()) != cudaSuccess) return status;
  const uint64_t* keys;
  const int32_t* ids;
  status = sort_rows(a.keys, a.ids, a.rows, a.vocab, a.sort_temp, a.sort_temp_bytes, &keys, &ids);
  if (status != cudaSuccess) return status;
  sample_pick_kernel<<<unsigned(a.rows), kPickThreads>>>(a.vocab, a.row_args, keys, ids, a.results);
  if ((status = cudaGetLastError()) != cudaSuccess || a.logprob_rows == 0) return status;
  status = sort_rows(a.raw_keys, a.raw_ids, a.logprob_rows, a.vocab, a.sort_temp, a.sort_temp_bytes,
                     &keys, &ids);
  if (status != cudaSuccess) return status;
  sample_logprobs_kernel<<<unsigned(a.rows), kPickThreads>>>(a.logits, a.vocab, a.row_args, keys,
                                                             ids, a.results);
  return cudaGetLastError();
}

}  // namespace glimpse::ops::cuda_kernels
