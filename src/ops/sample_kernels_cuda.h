// Launchers of sample_cuda.cu; see kernels_cuda.h for the conventions.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace glimpse::ops::cuda_kernels {

constexpr int kSampleMaxTopLogprobs = 20;

// One row's parameters, as the host prepared them from its SampleRow.
struct SampleRowArgs {
  double top_p;             // 1: off
  double log_min_p;         // log(min_p); -inf: off
  double uniform;           // the draw in [0, 1)
  int64_t top_k;            // 0: off
  float inv_temperature;    // float(1 / temperature); 1 for greedy rows
  float repetition;         // float(repetition_penalty); 1 leaves a logit as it is
  int32_t penalties_begin;  // this row's entries of the penalty list: [begin, end)
  int32_t penalties_end;
  int32_t logprob_slot;  // the row's place among the rows that want logprobs, or -1
  int32_t top_logprobs;  // alternatives wanted (when logprob_slot >= 0)
  int32_t greedy;
};

// A seen token of a row and what its presence / frequency penalties subtract (0 when the token
// was not generated), computed by the host exactly as the CPU op does.
struct SamplePenalty {
  int32_t token;
  float subtract;
};

// What comes back to the host per row: one download for the whole step.
struct SampleResult {
  uint32_t nan_token;  // the first NaN logit's token, or UINT32_MAX
  int32_t token;       // the pick
  int32_t all_masked;  // a sampled row whose every logit is -inf (its token is meaningless)
  // A sampled row whose highest tempered score is +inf (1) or -inf (-1), else 0; token: the first
  // such score's. No distribution exists.
  int32_t infinite_score;
  int32_t top_count;
  double chosen_logprob;
  int32_t top_ids[kSampleMaxTopLogprobs];
  double top_logprobs[kSampleMaxTopLogprobs];
};

struct SampleArgs {
  const float* logits;  // [rows, vocab]
  int64_t rows, vocab;
  const SampleRowArgs* row_args;   // [rows], device
  const SamplePenalty* penalties;  // device, rows' entries one after another
  int64_t logprob_rows;            // rows with logprob_slot >= 0
  // Sort buffers, each pair [rows · vocab] (the logprob pair [logprob_rows · vocab]): keys, token
  // ids; the sort ping-pongs between the two of a pair.
  uint64_t* keys[2];
  int32_t* ids[2];
  uint64_t* raw_keys[2];
  int32_t* raw_ids[2];
  void* sort_temp;  // sample_sort_temp_bytes(rows, logprob_rows, vocab) bytes
  size_t sort_temp_bytes;
  SampleResult* results;  // [rows], device
};

// The sorts' scratch for R rows of which logprob_rows want logprobs.
cudaError_t sample_sort_temp_bytes(int64_t rows, int64_t logprob_rows, int64_t vocab,
                                   size_t* bytes);
cudaError_t sample_rows(const SampleArgs& args);

}  // namespace glimpse::ops::cuda_kernels
