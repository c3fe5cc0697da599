#include <cmath>
#include <cstring>

#include "core/device_copy.h"
#include "ops/common_cuda.h"
#include "ops/sample.h"
#include "ops/sample_kernels_cuda.h"

namespace glimpse::ops::cuda {
namespace {

using cuda_kernels::SamplePenalty;
using cuda_kernels::SampleResult;
using cuda_kernels::SampleRowArgs;

static_assert(cuda_kernels::kSampleMaxTopLogprobs == kMaxTopLogprobs);

// A device copy of an array of plain structs (queued like upload(): the host array may go at once).
template <typename T>
Tensor upload_structs(const std::vector<T>& values) {
  Tensor host = Tensor::empty({int64_t(values.size() * sizeof(T))}, DType::kU8);
  if (!values.empty()) std::memcpy(host.raw_data(), values.data(), host.nbytes());
  return to_device(host, Device::kCUDA);
}

// A pair of sort buffers of `items` (key, id) entries each.
struct SortBuffers {
  Tensor keys, ids;

  explicit SortBuffers(int64_t items)
      : keys(Tensor::empty({2, items}, DType::kI64, Device::kCUDA)),
        ids(Tensor::empty({2, items}, DType::kI32, Device::kCUDA)) {}
  void fill_pointers(uint64_t* (&key_buffers)[2], int32_t* (&id_buffers)[2]) const {
    const int64_t items = keys.size(1);
    key_buffers[0] = reinterpret_cast<uint64_t*>(keys.data<int64_t>());
    key_buffers[1] = key_buffers[0] + items;
    id_buffers[0] = ids.data<int32_t>();
    id_buffers[1] = id_buffers[0] + items;
  }
};

}  // namespace

std::vector<SampledToken> sample_rows(const Tensor& logits, std::span<const SampleRow> rows) {
  check_sample_input(logits, rows);
  check_on_gpu(logits, "sample_rows", "logits");
  const int64_t count = logits.size(0), vocab = logits.size(1);
  if (count == 0) return {};
  if (count > 65535 || count * vocab > INT32_MAX)
    fail(ErrorKind::kInvalidArgument, "sample_rows: {} rows of {} logits are too many to sort",
         count, vocab);

  std::vector<SampleRowArgs> args(rows.size());
  std::vector<SamplePenalty> penalties;
  int64_t logprob_rows = 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    const SampleRow& row = rows[r];
    SampleRowArgs& a = args[r];
    a.top_p = row.top_p;
    a.log_min_p = row.min_p > 0 ? std::log(row.min_p) : -INFINITY;
    a.uniform = row.uniform;
    a.top_k = row.top_k;
    a.greedy = row.greedy();
    // Greedy rows take the argmax of the penalised logits, unscaled, as the CPU.
    a.inv_temperature = a.greedy ? 1.0f : float(1.0 / row.temperature);
    a.repetition = float(row.repetition_penalty);
    a.penalties_begin = int32_t(penalties.size());
    if (row.has_penalties())
      for (size_t j = 0; j < row.seen_ids.size(); ++j)
        penalties.push_back({row.seen_ids[j], penalty_subtrahend(row, j)});
    a.penalties_end = int32_t(penalties.size());
    a.logprob_slot = row.top_logprobs >= 0 ? int32_t(logprob_rows++) : -1;
    a.top_logprobs = row.top_logprobs;
  }

  const Tensor row_args = upload_structs(args), penalty_list = upload_structs(penalties);
  const SortBuffers sampled(count * vocab), raw(logprob_rows * vocab);
  cuda_kernels::SampleArgs a{};
  a.logits = logits.data<float>();
  a.rows = count;
  a.vocab = vocab;
  a.row_args = reinterpret_cast<const SampleRowArgs*>(row_args.raw_data());
  a.penalties = reinterpret_cast<const SamplePenalty*>(penalty_list.raw_data());
  a.logprob_rows = logprob_rows;
  sampled.fill_pointers(a.keys, a.ids);
  raw.fill_pointers(a.raw_keys, a.raw_ids);
  check_launch(cuda_kernels::sample_sort_temp_bytes(count, logprob_rows, vocab, &a.sort_temp_bytes),
               "sample_rows");
  const Tensor temp = Tensor::empty({int64_t(a.sort_temp_bytes)}, DType::kU8, Device::kCUDA);
  a.sort_temp = temp.raw_data();
  const Tensor results =
      Tensor::empty({count * int64_t(sizeof(SampleResult))}, DType::kU8, Device::kCUDA);
  a.results = reinterpret_cast<SampleResult*>(results.raw_data());
  check_launch(cuda_kernels::sample_rows(a), "sample_rows");

  const Tensor on_host = to_device(results, Device::kCPU);  // the one wait of the op
  std::vector<SampleResult> picked(rows.size());
  std::memcpy(picked.data(), on_host.raw_data(), on_host.nbytes());
  std::vector<SampledToken> out(rows.size());
  for (size_t r = 0; r < rows.size(); ++r) {
    const SampleResult& p = picked[r];
    if (p.nan_token != UINT32_MAX) fail_nan_logit(int64_t(r), p.nan_token);
    if (p.all_masked) fail_all_masked(int64_t(r));
    if (p.infinite_score != 0)
      fail_infinite_score(int64_t(r), p.token, p.infinite_score > 0 ? INFINITY : -INFINITY);
    out[r].token_id = p.token;
    if (rows[r].top_logprobs < 0) continue;
    TokenLogprobs& lp = out[r].logprobs.emplace();
    lp.chosen = {p.token, p.chosen_logprob};
    for (int32_t k = 0; k < p.top_count; ++k) lp.top.push_back({p.top_ids[k], p.top_logprobs[k]});
  }
  return out;
}

}  // namespace glimpse::ops::cuda
