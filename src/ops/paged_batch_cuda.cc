// cuda::store_kv and cuda::paged_attention_batch: shapes checked on the host (paged_batch.cc), the
// step's metadata already on the device (make_paged_batch), kernels in paged_batch_cuda.cu.
#include <algorithm>

#include "ops/common_cuda.h"
#include "ops/paged_batch.h"
#include "ops/paged_batch_kernels_cuda.h"

namespace glimpse::ops::cuda {

void store_kv(Tensor& k_pool, Tensor& v_pool, const Tensor& k, const Tensor& v,
              const PagedBatch& batch) {
  const PagedShape shape = check_store_kv(k_pool, v_pool, k, v, batch);
  check_on_gpu(k_pool, "store_kv", "k_pool");
  check_launch(cuda_kernels::paged_store_kv(k_pool.data<float>(), v_pool.data<float>(),
                                            k.data<float>(), v.data<float>(),
                                            batch.slots.data<int32_t>(), batch.total_tokens,
                                            shape.kv_heads * shape.head_dim),
               "store_kv");
}

// The decode sequences (one new token) in one flash-decoding launch (+ a merge when split-K); each
// other sequence (a prefill chunk) through paged_causal_attention, its rows copied into place.
Tensor paged_attention_batch(const Tensor& q, const Tensor& k_pool, const Tensor& v_pool,
                             const PagedBatch& batch, float scale) {
  const char* op = "paged_attention_batch";
  const PagedShape shape = check_attention_batch(q, k_pool, v_pool, batch);
  check_on_gpu(q, op, "q");
  if (shape.head_dim > cuda_kernels::kPagedDecodeMaxHeadDim)
    fail(ErrorKind::kUnsupported, "{}: head_dim {} is over the CUDA kernel's {}", op,
         shape.head_dim, cuda_kernels::kPagedDecodeMaxHeadDim);
  const int64_t width = shape.heads * shape.head_dim;
  Tensor out = Tensor::empty({batch.total_tokens, width}, DType::kF32, Device::kCUDA);
  if (batch.decode_sequences > 0) {
    cuda_kernels::PagedDecodeArgs args{};
    args.q = q.data<float>();
    args.k = k_pool.data<float>();
    args.v = v_pool.data<float>();
    args.out = out.data<float>();
    args.query_start = batch.query_start.data<int32_t>();
    args.context_lens = batch.context_lens.data<int32_t>();
    args.block_tables = batch.block_tables.data<int32_t>();
    args.decode_seqs = batch.decode_seqs.data<int32_t>();
    args.block_size = batch.block_size;
    args.max_blocks = int(batch.max_blocks);
    args.decode_count = int(batch.decode_sequences);
    args.heads = int(shape.heads);
    args.kv_heads = int(shape.kv_heads);
    args.head_dim = int(shape.head_dim);
    args.scale = scale;
    int64_t max_context = 0;
    for (const int32_t s : batch.host.decode_seqs)
      max_context = std::max<int64_t>(max_context, batch.host.context_lens[size_t(s)]);
    const cuda_kernels::PagedDecodePlan plan = cuda_kernels::plan_paged_decode(args, max_context);
    const Tensor workspace =
        plan.workspace_floats ? Tensor::empty({plan.workspace_floats}, DType::kF32, Device::kCUDA)
                              : Tensor();
    check_launch(cuda_kernels::paged_decode(args, plan, workspace.data<float>()), op);
  }
  for (int64_t s = 0; s < batch.sequences; ++s) {
    const int64_t n = batch.new_tokens(s);
    if (n == 1) continue;
    const int64_t first = batch.host.query_start[size_t(s)];
    const Tensor attended =
        paged_causal_attention(q.slice_rows(first, first + n), k_pool, v_pool, batch.host_table(s),
                               batch.cached_tokens(s), scale);
    if (batch.sequences == 1) return attended;  // the whole step: no copy
    check_launch(cudaMemcpyAsync(out.slice_rows(first, first + n).raw_data(), attended.raw_data(),
                                 attended.nbytes(), cudaMemcpyDeviceToDevice, cudaStreamPerThread),
                 op);
  }
  return out;
}

}  // namespace glimpse::ops::cuda
