#include "ops/common_cuda.h"
#include "ops/flash_attention_cuda.h"
#include "ops/kernels_cuda.h"
#include "ops/paged_attention.h"

namespace glimpse::ops::cuda {

// The block table lives on the host: it is checked there, then uploaded for the attention kernels
// (the split-K kernel of attention_cuda.cu reads the pool through it; the flash kernel's bf16
// conversion gathers the rows first): key p is row p % block_size of block
// block_table[p / block_size].
Tensor paged_causal_attention(const Tensor& q, const Tensor& k_pool, const Tensor& v_pool,
                              std::span<const int32_t> block_table, int64_t q_offset, float scale) {
  const char* op = "paged_causal_attention";
  check_gpu_f32(q, op, "q");
  check_gpu_f32(k_pool, op, "k_pool");
  check_gpu_f32(v_pool, op, "v_pool");
  if (q.dim() != 3 || k_pool.dim() != 4 || k_pool.shape() != v_pool.shape() ||
      q.size(2) != k_pool.size(3) || k_pool.size(2) == 0 || q.size(1) % k_pool.size(2) != 0)
    fail(ErrorKind::kInvalidArgument,
         "paged_causal_attention: q {} must be [n, heads, d] and the pools {} [blocks, block_size, "
         "kv_heads, d] with kv_heads dividing heads",
         shape_string(q.shape()), shape_string(k_pool.shape()));
  if (q.size(2) > cuda_kernels::kAttentionMaxHeadDim)
    fail(ErrorKind::kUnsupported, "{}: head_dim {} is over the CUDA kernel's {}", op, q.size(2),
         cuda_kernels::kAttentionMaxHeadDim);
  const int64_t n = q.size(0), heads = q.size(1), d = q.size(2);
  const int64_t blocks = k_pool.size(0), block_size = k_pool.size(1);
  const int64_t keys = q_offset + n;
  if (q_offset < 0 || block_size == 0 || int64_t(block_table.size()) * block_size < keys)
    fail(ErrorKind::kInvalidArgument,
         "paged_causal_attention: {} keys need {} blocks, the table has {}", keys,
         block_size ? (keys + block_size - 1) / block_size : 0, block_table.size());
  const int64_t used_blocks = (keys + block_size - 1) / block_size;
  for (int64_t b = 0; b < used_blocks; ++b)
    if (block_table[size_t(b)] < 0 || block_table[size_t(b)] >= blocks)
      fail(ErrorKind::kInvalidArgument,
           "paged_causal_attention: block {} is outside the pool of {}", block_table[size_t(b)],
           blocks);
  const Tensor device_table = upload(block_table.first(size_t(used_blocks)));
  Tensor out = Tensor::empty({n, heads * d}, DType::kF32, Device::kCUDA);
  cuda_kernels::AttentionArgs args{};
  args.q = q.data<float>();
  args.k = k_pool.data<float>();
  args.v = v_pool.data<float>();
  args.out = out.data<float>();
  args.block_table = device_table.data<int32_t>();
  args.block_size = block_size;
  args.q_offset = q_offset;
  args.max_keys = keys;
  args.tokens = int(n);
  args.heads = int(heads);
  args.kv_heads = int(k_pool.size(2));
  args.head_dim = int(d);
  args.scale = scale;
  dispatch_attention(args, op);
  return out;
}

}  // namespace glimpse::ops::cuda
