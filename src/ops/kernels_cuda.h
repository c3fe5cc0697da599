// Launchers of the CUDA kernels behind cuda::X. The kernels (X_cuda.cu) see raw device pointers and
// sizes only; validation, allocation and error reporting live in the host side (X_cuda.cc), because
// nvcc cannot compile fmt's compile-time format strings that core/error.h uses.
// Every launcher enqueues on the calling thread's default stream and returns cudaGetLastError().
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace glimpse::ops::cuda_kernels {

enum class ActivationKind : int { kSilu, kGelu };
// The element type of a float buffer: weights and activations, 4 or 2 bytes.
enum class FloatType : int { kF32, kBF16, kF16 };

// y = weight · x / sqrt(mean(x²) + eps), one block per row of d floats; y in `out`.
cudaError_t rms_norm(const float* x, const float* weight, void* y, FloatType out, int64_t rows,
                     int d, float eps);
// y = (x - mean) / sqrt(var + eps) · weight + bias, one block per row.
cudaError_t layer_norm(const float* x, const float* weight, const float* bias, float* y,
                       int64_t rows, int d, float eps);

cudaError_t add_inplace(float* x, const float* y, int64_t n);
cudaError_t activation(const float* x, float* y, int64_t n, ActivationKind act);
// gate_up [rows, 2n] → act(gate) · up [rows, n], each buffer in its own float type.
cudaError_t gated_activation(const void* gate_up, FloatType in, void* y, FloatType out,
                             int64_t rows, int64_t n, ActivationKind act);

// x [tokens, heads, head_dim] in place; pair i is features (i·first_step, i·first_step +
// second_offset); cos, sin [tokens, pairs].
cudaError_t rotary(float* x, const float* cos, const float* sin, int64_t tokens, int heads,
                   int head_dim, int pairs, int first_step, int second_offset);

// cos/sin [n, pairs] of float(positions[pair_axis[i] · n + t]) · inv_freq[i] (all on the device).
cudaError_t rotary_tables(const int64_t* positions, const int32_t* pair_axis,
                          const float* inv_freq, float* cos, float* sin, int64_t n, int pairs);

// Softmax over rows of n floats.
cudaError_t softmax(const float* x, float* y, int64_t rows, int64_t n);

// Scaled dot-product attention with an online softmax. Key p of a query lives at row
// p % block_size of block block_table[p / block_size] (block 0 when block_table is null) of
// k/v, each block block_size · kv_heads · head_dim floats. Query t sees keys
// [key_ranges[2t], key_ranges[2t+1]) when key_ranges is given, else [0, q_offset + t].
struct AttentionArgs {
  const float* q;  // [tokens, heads, head_dim]
  const float* k;
  const float* v;
  float* out;                  // [tokens, heads · head_dim]
  const int32_t* block_table;  // device, or null
  const int32_t* key_ranges;   // device [tokens, 2], or null
  int64_t block_size;
  int64_t q_offset;
  int64_t max_keys;  // the longest key range of any query
  int tokens, heads, kv_heads, head_dim;
  float scale;
};
constexpr int kAttentionMaxHeadDim = 256;
// How each query's keys are shared out: among `warp_splits` warps of a block and, when there are
// too few queries to fill the GPU (decode), among `chunks` blocks whose partial softmaxes (a
// workspace of workspace_floats floats) a second kernel merges.
struct AttentionPlan {
  int warp_splits, chunks;
  int64_t workspace_floats;
};
AttentionPlan plan_attention(const AttentionArgs& args);
cudaError_t attention(const AttentionArgs& args, const AttentionPlan& plan, float* workspace);

// Flash attention on tensor cores (flash_attention_cuda.cu) for many queries: bf16 operands, f32
// accumulation and softmax. q and out are f32 (q rounded in registers) or bf16, both the same;
// K and V are bf16, key p of KV head h at p·kv_key_stride + h·kv_head_stride: f32 K/V are first
// rounded to bf16 head-major copies [kv_heads, keys, d] (paged rows gathered through the block
// table), bf16 K/V [keys, kv_heads, d] are read in place. Query t sees keys
// [key_ranges[2t], key_ranges[2t+1]) when key_ranges is given (both bounds non-decreasing in t,
// as segments are), else [0, q_offset + t].
struct FlashAttentionArgs {
  const void* q;              // [tokens, heads, head_dim], tokens q_token_stride elements apart
  const uint16_t* k;          // bf16
  const uint16_t* v;          // bf16, laid out as k
  void* out;                  // [tokens, heads · head_dim], q's type
  bool bf16_q;                // q and out are bf16 (else f32)
  int64_t q_token_stride;     // elements (heads · head_dim when q is packed)
  int64_t kv_key_stride, kv_head_stride;  // elements
  const int32_t* key_ranges;  // device [tokens, 2], or null (causal)
  int64_t q_offset;
  int keys, tokens, heads, kv_heads, head_dim;
  float scale;
};
// Head dims with a compiled kernel (64 and 128).
bool flash_attention_supports(int head_dim);
// k_out/v_out [kv_heads, keys, d] = bf16 of keys [0, keys) of k/v ([rows, kv_heads, d] rows, key p
// at row p, or at block_table[p / block_size]·block_size + p % block_size when block_table is set).
cudaError_t kv_to_bf16(const float* k, const float* v, const int32_t* block_table,
                       int64_t block_size, int keys, int kv_heads, int head_dim, uint16_t* k_out,
                       uint16_t* v_out);
// The mma.sync kernel (sm_80+); warps: 4 (64 query rows per block) or 8 (128 rows).
cudaError_t flash_attention(const FlashAttentionArgs& args, int warps);
// The wgmma kernel (flash_attention_hopper_pipelined_cuda.cu): only in a build with sm_90a code,
// on an sm_90 device, for head dim 128. warpgroups: 1 (64 query rows per block, two blocks per SM)
// or 2 (128).
bool flash_attention_hopper_supports(int head_dim);
cudaError_t flash_attention_hopper_pipelined(const FlashAttentionArgs& args, int warpgroups);

// out[i] = table[ids[i]] upcast to f32; ids already checked against the vocabulary.
cudaError_t embedding(const void* table, FloatType type, const int32_t* ids, int64_t count,
                      int64_t d, float* out);

// torch's grid_sample(bicubic, align_corners=False, border) of map [h, w, c] at points [n, 2].
cudaError_t bicubic_grid_sample(const float* map, int64_t height, int64_t width, int64_t channels,
                                const float* points, int64_t n, float* out);

// out[r][(c · copies + t) · area + i] = levels[c · 256 + bytes[(r · channels + c) · area + i]],
// rounded to `type` (ops/pixels.h).
cudaError_t pixels_from_bytes(const uint8_t* bytes, const float* levels, void* out, FloatType type,
                              int64_t rows, int channels, int area, int copies);

// y[rows, out] = x[rows, in] · weightᵀ (+ bias), or y += that when `accumulate`, for few rows
// (decode): streams the weight once.
constexpr int64_t kMatvecMaxRows = 8;
cudaError_t matvec(const float* x, int64_t rows, const void* weight, FloatType type,
                   int64_t out_features, int64_t in_features, const float* bias, float* y,
                   bool accumulate);
// y[rows, n] = act(x · gateᵀ) · (x · upᵀ) with weight [2n, in] = gate rows over up rows, for few
// rows: the gated MLP's first half in one pass over the weight.
cudaError_t gated_matvec(const float* x, int64_t rows, const void* weight, FloatType type,
                         int64_t n, int64_t in_features, ActivationKind act, float* y);
// dst[i] = src[i] converted from `from` to `to` (round to nearest even).
cudaError_t convert(const void* src, FloatType from, void* dst, FloatType to, int64_t n);

}  // namespace glimpse::ops::cuda_kernels
