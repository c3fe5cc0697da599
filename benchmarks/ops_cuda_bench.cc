// Micro-benchmark of the CUDA ops, run on the device machine by tools/device/check.sh. It measures
// the ceilings first (device-to-device copy bandwidth, counting bytes read + written; cuBLASLt GEMM
// rates for bf16 tensor cores and f32 CUDA cores), then times each op at GLM-4.6V-Flash decode and
// prefill shapes and prints its floor, max(bytes / bandwidth, FLOPs / rate), as a markdown table.
// Timing: the calls are queued behind a sleeping kernel, so device events bracket the ops back to
// back (device time, not host launch overhead); inputs rotate among enough copies to exceed the L2
// twice where they are small; median over the repetitions.
#include <cublasLt.h>
#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/device_copy.h"
#include "cuda_bench_check.h"
#include "ops/attention.h"
#include "ops/convert.h"
#include "ops/elementwise.h"
#include "ops/embedding.h"
#include "ops/flash_attention_cuda.h"
#include "ops/fused.h"
#include "ops/grid_sample.h"
#include "ops/linear.h"
#include "ops/norms.h"
#include "ops/paged_attention.h"
#include "ops/pixels.h"
#include "ops/rotary.h"
#include "ops/sample.h"
#include "ops/softmax.h"

cudaError_t gpu_sleep(uint64_t nanoseconds);  // ops_cuda_bench_sleep.cu

namespace glimpse {
namespace {

using bench::check;

// Device tensors filled by tiling a 16 MiB block of random values of their dtype (never zeros).
class RandomFill {
 public:
  RandomFill() {
    std::mt19937 rng(1234);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> f32(kPoolBytes / 4);
    std::vector<uint16_t> bf16(kPoolBytes / 2), f16(kPoolBytes / 2);
    for (float& v : f32) v = normal(rng);
    for (size_t i = 0; i < bf16.size(); ++i) {
      bf16[i] = f32_to_bf16(f32[i % f32.size()] * 0.05f);
      f16[i] = f32_to_f16(f32[(i + 7) % f32.size()] * 0.05f);
    }
    pools_[0] = upload(f32.data());
    pools_[1] = upload(bf16.data());
    pools_[2] = upload(f16.data());
  }

  Tensor operator()(Shape shape, DType dtype = DType::kF32) const {
    Tensor t = Tensor::empty(std::move(shape), dtype, Device::kCUDA);
    const void* pool = pools_[dtype == DType::kF32 ? 0 : dtype == DType::kBF16 ? 1 : 2];
    char* dst = static_cast<char*>(t.raw_data());
    for (size_t offset = 0; offset < t.nbytes(); offset += kPoolBytes)
      check(cudaMemcpy(dst + offset, pool, std::min(kPoolBytes, t.nbytes() - offset),
                       cudaMemcpyDeviceToDevice),
            "fill");
    return t;
  }

 private:
  static constexpr size_t kPoolBytes = size_t(16) << 20;
  static void* upload(const void* host) {
    void* device = nullptr;
    check(cudaMalloc(&device, kPoolBytes), "cudaMalloc");
    check(cudaMemcpy(device, host, kPoolBytes, cudaMemcpyHostToDevice), "upload");
    return device;
  }
  void* pools_[3] = {};
};

// Median device time in µs of the calls, cycling through them (one per input set). The repetitions
// are sized from a warm-up so that each measurement takes about half a second.
double median_us(const std::vector<std::function<void()>>& calls) {
  cudaEvent_t warm_start, warm_stop;
  check(cudaEventCreate(&warm_start), "event");
  check(cudaEventCreate(&warm_stop), "event");
  for (const auto& call : calls) call();  // handles, allocator blocks, heuristics
  check(cudaEventRecord(warm_start), "record");
  calls[0]();
  check(cudaEventRecord(warm_stop), "record");
  check(cudaEventSynchronize(warm_stop), "sync");
  float warm_ms = 0;
  check(cudaEventElapsedTime(&warm_ms, warm_start, warm_stop), "elapsed");
  const int reps = std::clamp(int(500.0f / std::max(warm_ms, 1e-3f)), 5, 50);

  std::vector<cudaEvent_t> events(size_t(2 * reps));
  for (auto& e : events) check(cudaEventCreate(&e), "event");
  constexpr uint64_t kSleepNs = 20'000'000;
  check(gpu_sleep(kSleepNs), "sleep");
  const auto host_start = std::chrono::steady_clock::now();
  for (int r = 0; r < reps; ++r) {
    check(cudaEventRecord(events[size_t(2 * r)]), "record");
    calls[size_t(r) % calls.size()]();
    check(cudaEventRecord(events[size_t(2 * r + 1)]), "record");
  }
  const double host_ns =
      std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - host_start)
          .count();
  check(cudaDeviceSynchronize(), "sync");
  std::vector<double> times;
  for (int r = 0; r < reps; ++r) {
    float ms = 0;
    check(cudaEventElapsedTime(&ms, events[size_t(2 * r)], events[size_t(2 * r + 1)]), "elapsed");
    times.push_back(ms * 1e3);
  }
  for (auto& e : events) check(cudaEventDestroy(e), "event");
  check(cudaEventDestroy(warm_start), "event");
  check(cudaEventDestroy(warm_stop), "event");
  if (host_ns > double(kSleepNs))
    std::fprintf(stderr, "note: enqueueing took %.1f ms, past the sleep: launch gaps are timed\n",
                 host_ns / 1e6);
  std::nth_element(times.begin(), times.begin() + reps / 2, times.end());
  return times[size_t(reps / 2)];
}

// --- ceilings ------------------------------------------------------------------------------------

double copy_bandwidth(const RandomFill& fill) {
  const size_t bytes = size_t(1) << 30;
  const Tensor src = fill({int64_t(bytes / 4)}), dst = fill({int64_t(bytes / 4)});
  const double us = median_us({[&] {
    check(cudaMemcpyAsync(dst.raw_data(), src.raw_data(), bytes, cudaMemcpyDeviceToDevice), "copy");
  }});
  return 2.0 * double(bytes) / (us * 1e-6);  // read + written
}

// n×n×n product through cuBLASLt (TN layout, as ops::linear), f32 accumulation; returns FLOP/s.
double gemm_rate(const RandomFill& fill, DType dtype, int64_t n) {
  const cudaDataType_t type = dtype == DType::kF32 ? CUDA_R_32F : CUDA_R_16BF;
  const Tensor a = fill({n, n}, dtype), b = fill({n, n}, dtype);
  Tensor d = Tensor::empty({n, n}, dtype, Device::kCUDA);
  cublasLtHandle_t handle;
  check(cublasLtCreate(&handle), "create");
  cublasLtMatmulDesc_t op;
  check(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "desc");
  const cublasOperation_t transpose = CUBLAS_OP_T;
  check(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &transpose,
                                       sizeof(transpose)),
        "transa");
  cublasLtMatrixLayout_t layout;
  check(cublasLtMatrixLayoutCreate(&layout, type, uint64_t(n), uint64_t(n), n), "layout");
  cublasLtMatmulPreference_t preference;
  check(cublasLtMatmulPreferenceCreate(&preference), "preference");
  const uint64_t workspace_bytes = uint64_t(32) << 20;
  void* workspace = nullptr;
  check(cudaMalloc(&workspace, workspace_bytes), "workspace");
  check(cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                             &workspace_bytes, sizeof(workspace_bytes)),
        "workspace");
  cublasLtMatmulHeuristicResult_t heuristic{};
  int found = 0;
  check(cublasLtMatmulAlgoGetHeuristic(handle, op, layout, layout, layout, layout, preference, 1,
                                       &heuristic, &found),
        "heuristic");
  if (found == 0) check(CUBLAS_STATUS_NOT_SUPPORTED, "no GEMM kernel");
  const float alpha = 1.0f, beta = 0.0f;
  const double us = median_us({[&] {
    check(cublasLtMatmul(handle, op, &alpha, a.raw_data(), layout, b.raw_data(), layout, &beta,
                         d.raw_data(), layout, d.raw_data(), layout, &heuristic.algo, workspace,
                         workspace_bytes, nullptr),
          "matmul");
  }});
  check(cudaFree(workspace), "free");
  cublasLtMatmulPreferenceDestroy(preference);
  cublasLtMatrixLayoutDestroy(layout);
  cublasLtMatmulDescDestroy(op);
  cublasLtDestroy(handle);
  return 2.0 * double(n) * double(n) * double(n) / (us * 1e-6);
}

// --- ops
// -------------------------------------------------------------------------------------------

struct Ceilings {
  double bandwidth, bf16_rate, f32_rate;  // B/s, FLOP/s
};

struct OpCase {
  std::string name, shape;
  double bytes, flops;
  bool tensor_cores;  // FLOPs run at the bf16 rate, else the f32 CUDA-core rate
  // Builds one input set on the device and returns the call that runs the op on it.
  std::function<std::function<void()>()> make;
};

void run_case(const OpCase& c, const Ceilings& ceil) {
  constexpr double kL2Bytes = 50e6;
  const int sets = std::clamp(int(std::ceil(2 * kL2Bytes / c.bytes)), 1, 16);
  std::vector<std::function<void()>> calls;
  for (int s = 0; s < sets; ++s) calls.push_back(c.make());
  const double us = median_us(calls);
  const double memory_us = c.bytes / ceil.bandwidth * 1e6;
  const double math_us = c.flops / (c.tensor_cores ? ceil.bf16_rate : ceil.f32_rate) * 1e6;
  const double floor_us = std::max(memory_us, math_us);
  std::printf("| %s | %s | %.2f | %.3f | %.1f | %.1f (%s) | %.0f%% |\n", c.name.c_str(),
              c.shape.c_str(), c.bytes / 1e6, c.flops / 1e9, us, floor_us,
              memory_us >= math_us ? "bytes" : "FLOPs", 100.0 * floor_us / us);
  std::fflush(stdout);
}

std::vector<OpCase> op_cases(const RandomFill& fill) {
  // GLM-4.6V-Flash text decoder (GLM-4-9B geometry) and vision tower.
  constexpr int64_t kHidden = 4096, kHeads = 32, kKvHeads = 2, kHeadDim = 128, kFfn = 13696,
                    kVocab = 151552, kContext = 4096, kPrefill = 2048, kVisionHidden = 1536,
                    kVisionHeads = 12, kPatches = 4096;
  const double f = 4.0;  // bytes per f32
  std::vector<OpCase> cases;
  auto linear_case = [&](std::string name, int64_t rows, int64_t in, int64_t out, DType dtype) {
    const double weight_bytes = double(in * out) * (dtype == DType::kF32 ? 4 : 2);
    // The GEMM path also writes and reads x rounded to 16 bits.
    const double x_bytes = double(rows * in) * (rows > 8 && dtype != DType::kF32 ? f + 4 : f);
    cases.push_back({name,
                     fmt::format("[{}, {}] x [{}, {}]ᵀ {}", rows, in, out, in, dtype_name(dtype)),
                     weight_bytes + x_bytes + double(rows * out) * f, 2.0 * double(rows * in * out),
                     dtype != DType::kF32, [=, &fill] {
                       const Tensor x = fill({rows, in}), w = fill({out, in}, dtype);
                       return std::function<void()>([=] { ops::cuda::linear(x, w, nullptr); });
                     }});
  };
  // Decode: one token against a kContext-token cache.
  linear_case("linear qkv (decode)", 1, kHidden, kHidden + 2 * kKvHeads * kHeadDim, DType::kBF16);
  linear_case("linear o (decode)", 1, kHidden, kHidden, DType::kBF16);
  linear_case("linear gate_up (decode)", 1, kHidden, 2 * kFfn, DType::kBF16);
  linear_case("linear down (decode)", 1, kFfn, kHidden, DType::kBF16);
  linear_case("linear lm_head (decode)", 1, kHidden, kVocab, DType::kBF16);
  cases.push_back({"rms_norm (decode)", fmt::format("[1, {}]", kHidden), 3 * kHidden * f,
                   4.0 * kHidden, false, [&fill] {
                     const Tensor x = fill({1, kHidden}), w = fill({kHidden});
                     return std::function<void()>([=] { ops::cuda::rms_norm(x, w, 1e-5f); });
                   }});
  cases.push_back({"gated_activation (decode)", fmt::format("[1, {}]", 2 * kFfn), 3 * kFfn * f,
                   6.0 * kFfn, false, [&fill] {
                     const Tensor x = fill({1, 2 * kFfn});
                     return std::function<void()>(
                         [=] { ops::cuda::gated_activation(x, ops::Activation::kSilu); });
                   }});
  const double kv_bytes = 2.0 * kContext * kKvHeads * kHeadDim * f;
  const double decode_attention_flops = 4.0 * kHeads * kContext * kHeadDim;
  cases.push_back({"causal_attention (decode)",
                   fmt::format("q [1, {}, {}], kv [{}, {}, {}]", kHeads, kHeadDim, kContext,
                               kKvHeads, kHeadDim),
                   kv_bytes, decode_attention_flops, false, [&fill] {
                     const Tensor q = fill({1, kHeads, kHeadDim}),
                                  k = fill({kContext, kKvHeads, kHeadDim}),
                                  v = fill({kContext, kKvHeads, kHeadDim});
                     return std::function<void()>(
                         [=] { ops::cuda::causal_attention(q, k, v, kContext - 1, 0.088f); });
                   }});
  cases.push_back(
      {"paged_causal_attention (decode)",
       fmt::format("q [1, {}, {}], {} keys in blocks of 16", kHeads, kHeadDim, kContext), kv_bytes,
       decode_attention_flops, false, [&fill] {
         constexpr int64_t kBlocks = kContext / 16;
         const Tensor q = fill({1, kHeads, kHeadDim}), k = fill({kBlocks, 16, kKvHeads, kHeadDim}),
                      v = fill({kBlocks, 16, kKvHeads, kHeadDim});
         std::vector<int32_t> table(kBlocks);
         std::iota(table.begin(), table.end(), 0);
         std::shuffle(table.begin(), table.end(), std::mt19937(7));
         return std::function<void()>(
             [=] { ops::cuda::paged_causal_attention(q, k, v, table, kContext - 1, 0.088f); });
       }});
  // A serving step's decode attention over the paged pool (blocks of 16, shuffled): every
  // sequence in one paged_attention_batch, then the same sequences one paged_causal_attention
  // each (the old per-sequence path, host table uploaded per call), and store_kv.
  auto paged_step = [&fill](int64_t batch, int64_t keys) {
    constexpr int64_t kBlock = 16;
    const int64_t per_seq = (keys + kBlock - 1) / kBlock, blocks = batch * per_seq;
    std::vector<int32_t> ids(static_cast<size_t>(blocks));
    std::iota(ids.begin(), ids.end(), 0);
    std::shuffle(ids.begin(), ids.end(), std::mt19937(11));
    std::vector<std::vector<int32_t>> tables;
    for (int64_t s = 0; s < batch; ++s)
      tables.emplace_back(ids.begin() + s * per_seq, ids.begin() + (s + 1) * per_seq);
    std::vector<ops::PagedSequence> seqs;
    for (const auto& table : tables) seqs.push_back({table, keys - 1, 1});
    struct Step {
      Tensor q, k, v;
      std::vector<std::vector<int32_t>> tables;
      ops::PagedBatch batch;
    };
    return Step{fill({batch, kHeads, kHeadDim}), fill({blocks, kBlock, kKvHeads, kHeadDim}),
                fill({blocks, kBlock, kKvHeads, kHeadDim}), tables,
                ops::make_paged_batch(seqs, blocks, kBlock, Device::kCUDA)};
  };
  for (const auto& [batch, keys] : {std::pair<int64_t, int64_t>{1, 400}, {32, 400}, {8, 4096}}) {
    const double bytes = 2.0 * batch * keys * kKvHeads * kHeadDim * f +
                         2.0 * batch * kHeads * kHeadDim * f;  // K + V, q + out
    const double flops = 4.0 * kHeads * kHeadDim * double(batch * keys);
    const std::string shape = fmt::format("{} seqs x {} keys, q [{}, {}, {}]", batch, keys, batch,
                                          kHeads, kHeadDim);
    cases.push_back({"paged_attention_batch (decode)", shape, bytes, flops, false,
                     [=] {
                       const auto step = paged_step(batch, keys);
                       return std::function<void()>([=] {
                         ops::cuda::paged_attention_batch(step.q, step.k, step.v, step.batch,
                                                          0.088f);
                       });
                     }});
    cases.push_back({"paged_causal_attention per seq (old path)", shape, bytes, flops, false,
                     [=] {
                       const auto step = paged_step(batch, keys);
                       return std::function<void()>([=] {
                         for (int64_t s = 0; s < batch; ++s)
                           ops::cuda::paged_causal_attention(step.q.slice_rows(s, s + 1), step.k,
                                                             step.v, step.tables[size_t(s)],
                                                             keys - 1, 0.088f);
                       });
                     }});
  }
  cases.push_back({"store_kv (decode)", "32 new tokens, rows [2, 128]",
                   4.0 * 32 * kKvHeads * kHeadDim * f, 0, false, [=, &fill] {
                     auto step = paged_step(32, 400);
                     const Tensor k = fill({32, kKvHeads, kHeadDim}),
                                  v = fill({32, kKvHeads, kHeadDim});
                     return std::function<void()>([=]() mutable {
                       ops::cuda::store_kv(step.k, step.v, k, v, step.batch);
                     });
                   }});
  cases.push_back({"softmax (decode logits)", fmt::format("[1, {}]", kVocab), 2 * kVocab * f,
                   3.0 * kVocab, false, [&fill] {
                     const Tensor x = fill({1, kVocab});
                     return std::function<void()>([=] { ops::cuda::softmax(x); });
                   }});
  // Sampling a decode step's logits where they live (temperature 0.8, top_p 0.95), the cost per
  // step of a batch that samples. The op waits for its few results, so each call's time includes
  // that download and the host's turnaround (the enqueueing note below is expected). Bytes per
  // logit: 4 read, 12 written (key, id), ⌈key bits / 8⌉ radix passes of 24 (+ 8 for the
  // histograms), 8 read by top-p's total; logprob rows add their raw keys (12), their own sort
  // and 4 read by the log-sum-exp. "Peaked": N(0, 4²) logits, whose 0.95 nucleus is ~180 tokens;
  // "flat": N(0, 1), whose nucleus is ~99,000 tokens that the scans walk (the worst case).
  auto sort_bytes = [](int64_t rows) {
    int bits = 32;
    while ((int64_t(1) << (bits - 32)) < rows) ++bits;
    return 24.0 * ((bits + 7) / 8) + 8;
  };
  struct SampleCase {
    int64_t rows;
    int logprobs;
    float scale;
  };
  for (const SampleCase sc : {SampleCase{1, -1, 4.0f}, SampleCase{32, -1, 4.0f},
                              SampleCase{32, 5, 4.0f}, SampleCase{32, -1, 1.0f}}) {
    const double per_logit =
        4 + 12 + sort_bytes(sc.rows) + 8 + (sc.logprobs >= 0 ? 12 + sort_bytes(sc.rows) + 4 : 0);
    cases.push_back({"sample_rows (decode)",
                     fmt::format("[{}, {}] {}, T 0.8, top_p 0.95{}", sc.rows, kVocab,
                                 sc.scale > 1 ? "peaked" : "flat",
                                 sc.logprobs >= 0 ? fmt::format(", logprobs {}", sc.logprobs) : ""),
                     per_logit * double(sc.rows * kVocab), 0, false, [=] {
                       std::mt19937 gen(5);
                       std::normal_distribution<float> normal(0.0f, sc.scale);
                       std::vector<float> values(size_t(sc.rows * kVocab));
                       for (float& v : values) v = normal(gen);
                       const Tensor logits =
                           to_device(Tensor::from_vector(values, {sc.rows, kVocab}), Device::kCUDA);
                       std::vector<ops::SampleRow> rows(size_t(sc.rows));
                       for (auto& row : rows) {
                         row.temperature = 0.8;
                         row.top_p = 0.95;
                         row.uniform = 0.5;
                         row.top_logprobs = sc.logprobs;
                       }
                       return std::function<void()>([=] { ops::cuda::sample_rows(logits, rows); });
                     }});
  }
  // Prefill: kPrefill tokens.
  linear_case("linear gate_up (prefill)", kPrefill, kHidden, 2 * kFfn, DType::kBF16);
  linear_case("linear f32 weight (prefill)", kPrefill, kHidden, kHidden, DType::kF32);
  // The 512² request: a 347-token prefill, the tower's GEMMs at 1296 patches, the merger at 324.
  linear_case("linear qkv (prefill 347)", 347, kHidden, kHidden + 2 * kKvHeads * kHeadDim,
              DType::kBF16);
  linear_case("linear gate_up (prefill 347)", 347, kHidden, 2 * kFfn, DType::kBF16);
  linear_case("linear qkv (vision 512²)", 1296, kVisionHidden, 3 * kVisionHidden, DType::kBF16);
  linear_case("linear proj (vision 512²)", 1296, kVisionHidden, kVisionHidden, DType::kBF16);
  linear_case("linear gate_up (vision 512²)", 1296, kVisionHidden, 2 * 4096, DType::kBF16);
  linear_case("linear down (vision 512²)", 1296, 4096, kVisionHidden, DType::kBF16);
  linear_case("linear merger gate_up (vision 512²)", 324, kHidden, 2 * kFfn, DType::kBF16);
  cases.push_back({"rms_norm (prefill)", fmt::format("[{}, {}]", kPrefill, kHidden),
                   (2.0 * kPrefill + 1) * kHidden * f, 4.0 * kPrefill * kHidden, false, [&fill] {
                     const Tensor x = fill({kPrefill, kHidden}), w = fill({kHidden});
                     return std::function<void()>([=] { ops::cuda::rms_norm(x, w, 1e-5f); });
                   }});
  // A 512² image's patch rows from its 8-bit samples (two temporal copies, bf16 out).
  cases.push_back(
      {"pixels_from_bytes (vision 512²)", "[1296, 588] u8 → [1296, 1176] bf16",
       1296.0 * 588 * (1 + 2 * 2), 0.0, false, [] {
         std::vector<uint8_t> samples(1296 * 588);
         for (size_t i = 0; i < samples.size(); ++i) samples[i] = uint8_t(i * 131);
         Tensor bytes = Tensor::empty({1296, 588}, DType::kU8);
         std::copy(samples.begin(), samples.end(), bytes.data<uint8_t>());
         std::vector<float> table(3 * 256);
         for (size_t i = 0; i < table.size(); ++i) table[i] = float(i) / 256 - 1.5f;
         const Tensor device_bytes = to_device(bytes, Device::kCUDA);
         const Tensor levels = to_device(Tensor::from_vector(table, {3, 256}), Device::kCUDA);
         const Tensor out = Tensor::empty({1296, 1176}, DType::kBF16, Device::kCUDA);
         return std::function<void()>(
             [=] { ops::cuda::pixels_from_bytes(device_bytes, levels, out); });
       }});
  // The vision tower's norms: 1,296 rows of 1,536, f32 in, bf16 out.
  cases.push_back({"rms_norm bf16 out (vision 512²)", fmt::format("[1296, {}]", kVisionHidden),
                   1296.0 * kVisionHidden * (f + 2) + kVisionHidden * f, 4.0 * 1296 * kVisionHidden,
                   false, [&fill] {
                     const Tensor x = fill({1296, kVisionHidden}), w = fill({kVisionHidden});
                     return std::function<void()>(
                         [=] { ops::cuda::rms_norm(x, w, 1e-6f, DType::kBF16); });
                   }});
  cases.push_back({"gated_activation (prefill)", fmt::format("[{}, {}]", kPrefill, 2 * kFfn),
                   3.0 * kPrefill * kFfn * f, 6.0 * kPrefill * kFfn, false, [&fill] {
                     const Tensor x = fill({kPrefill, 2 * kFfn});
                     return std::function<void()>(
                         [=] { ops::cuda::gated_activation(x, ops::Activation::kSilu); });
                   }});
  cases.push_back({"add_inplace (prefill)", fmt::format("[{}, {}]", kPrefill, kHidden),
                   3.0 * kPrefill * kHidden * f, 1.0 * kPrefill * kHidden, false, [&fill] {
                     Tensor x = fill({kPrefill, kHidden});
                     const Tensor y = fill({kPrefill, kHidden});
                     return std::function<void()>([=]() mutable { ops::cuda::add_inplace(x, y); });
                   }});
  cases.push_back({"rotary_inplace (prefill)",
                   fmt::format("[{}, {}, {}], 32 pairs", kPrefill, kHeads, kHeadDim),
                   (2.0 * kPrefill * kHeads * 64 + 2.0 * kPrefill * 32) * f,
                   6.0 * kPrefill * kHeads * 32, false, [&fill] {
                     Tensor x = fill({kPrefill, kHeads, kHeadDim});
                     const Tensor cos = fill({kPrefill, 32}), sin = fill({kPrefill, 32});
                     return std::function<void()>([=]() mutable {
                       ops::cuda::rotary_inplace(x, cos, sin, ops::RotaryLayout::kInterleaved);
                     });
                   }});
  // Attention for many queries: prefill (GQA 32/2) and vision (12 heads, one image per segment)
  // at each kernel: "split-K" is the f32 CUDA-core kernel (the one before the flash kernel),
  // "flash 4w/8w" the tensor-core kernel with 64/128-row blocks, no tag the automatic choice.
  // Floors: the tensor-core rate for the flash rows, the f32 rate for split-K.
  using ops::cuda::AttentionKernel;
  auto kernel_tag = [](AttentionKernel kernel) -> std::string {
    switch (kernel) {
      case AttentionKernel::kSplitK:
        return " split-K";
      case AttentionKernel::kFlash4Warps:
        return " flash 4w";
      case AttentionKernel::kFlash8Warps:
        return " flash 8w";
      case AttentionKernel::kFlashHopperPipelined:
        return " flash wgmma pipelined 128";
      case AttentionKernel::kFlashHopperPipelined64:
        return " flash wgmma pipelined 64";
      default:
        return "";
    }
  };
  auto under = [](AttentionKernel kernel, std::function<void()> call) {
    return std::function<void()>([=] {
      ops::cuda::force_attention_kernel(kernel);
      call();
      ops::cuda::force_attention_kernel(AttentionKernel::kAuto);
    });
  };
  // n queries after `past` keys, heads over kv_heads, d 128; paged: the keys in shuffled blocks of
  // 16. FLOPs: 4·d per (query head, visible key).
  auto causal_case = [&](std::string name, int64_t n, int64_t past, int64_t heads, int64_t kv_heads,
                         bool paged, AttentionKernel kernel) {
    const int64_t keys = past + n;
    const double visible = double(n) * double(past) + double(n) * double(n + 1) / 2;
    cases.push_back(
        {name + kernel_tag(kernel),
         fmt::format("q [{}, {}, {}], {} keys over {} kv heads{}", n, heads, kHeadDim, keys,
                     kv_heads, paged ? " in blocks of 16" : ""),
         (2.0 * n * heads + 2.0 * keys * kv_heads) * kHeadDim * f,
         4.0 * double(heads) * kHeadDim * visible, kernel != AttentionKernel::kSplitK, [=, &fill] {
           const Tensor q = fill({n, heads, kHeadDim});
           if (!paged) {
             const Tensor k = fill({keys, kv_heads, kHeadDim}),
                          v = fill({keys, kv_heads, kHeadDim});
             return under(kernel, [=] { ops::cuda::causal_attention(q, k, v, past, 0.088f); });
           }
           const int64_t blocks = (keys + 15) / 16;
           const Tensor k = fill({blocks, 16, kv_heads, kHeadDim}),
                        v = fill({blocks, 16, kv_heads, kHeadDim});
           std::vector<int32_t> table(static_cast<size_t>(blocks));
           std::iota(table.begin(), table.end(), 0);
           std::shuffle(table.begin(), table.end(), std::mt19937(7));
           return under(kernel,
                        [=] { ops::cuda::paged_causal_attention(q, k, v, table, past, 0.088f); });
         }});
  };
  // Images of `patches` patches each, one segment per image, 12 heads of 128, q/k/v in `dtype`
  // (the vision tower's are bf16 on the GPU).
  auto vision_case = [&](std::string name, std::vector<int64_t> images, AttentionKernel kernel,
                         DType dtype = DType::kF32) {
    std::vector<int64_t> cu_seqlens = {0};
    double pairs = 0;
    for (const int64_t patches : images) {
      cu_seqlens.push_back(cu_seqlens.back() + patches);
      pairs += double(patches) * double(patches);
    }
    const int64_t tokens = cu_seqlens.back();
    cases.push_back(
        {name + kernel_tag(kernel),
         fmt::format("[{}, {}, {}], {} image(s)", tokens, kVisionHeads, kHeadDim, images.size()),
         4.0 * tokens * kVisionHeads * kHeadDim * double(dtype_size(dtype)),
         4.0 * kVisionHeads * kHeadDim * pairs, kernel != AttentionKernel::kSplitK, [=, &fill] {
           const Tensor q = fill({tokens, kVisionHeads, kHeadDim}, dtype),
                        k = fill({tokens, kVisionHeads, kHeadDim}, dtype),
                        v = fill({tokens, kVisionHeads, kHeadDim}, dtype);
           return under(kernel, [=] { ops::cuda::segment_attention(q, k, v, cu_seqlens, 0.088f); });
         }});
  };
  for (const AttentionKernel kernel :
       {AttentionKernel::kAuto, AttentionKernel::kSplitK, AttentionKernel::kFlash4Warps,
        AttentionKernel::kFlash8Warps, AttentionKernel::kFlashHopperPipelined,
        AttentionKernel::kFlashHopperPipelined64}) {
    causal_case("causal_attention (prefill)", kPrefill, 0, kHeads, kKvHeads, false, kernel);
    causal_case("causal_attention (prefill 347)", 347, 0, kHeads, kKvHeads, false, kernel);
    vision_case("segment_attention (vision)", {kPatches}, kernel);
    vision_case("segment_attention (vision 512²)", {1296}, kernel);
  }
  // As the vision tower calls it: bf16 q/k/v read in place, at 512² and 1920×1080 (10,764 patches).
  for (const AttentionKernel kernel :
       {AttentionKernel::kAuto, AttentionKernel::kFlash8Warps,
        AttentionKernel::kFlashHopperPipelined, AttentionKernel::kFlashHopperPipelined64}) {
    vision_case("segment_attention bf16 (vision 512²)", {1296}, kernel, DType::kBF16);
    vision_case("segment_attention bf16 (vision 1920x1080)", {10764}, kernel, DType::kBF16);
  }
  // The tower's whole attention step from its packed bf16 qkv: split_qkv_rotary then
  // segment_attention (the split moves 24 MB at 512², before) against rotary_segment_attention
  // (q and k rotated into a qkv-shaped buffer, v read in place: 16 MB).
  for (const bool fused : {false, true}) {
    for (const int64_t patches : {int64_t(1296), int64_t(10764)}) {
      const double pairs = double(patches) * double(patches);
      cases.push_back(
          {fmt::format("{} (vision {})",
                       fused ? "rotary_segment_attention" : "split_qkv_rotary + segment_attention",
                       patches == 1296 ? "512²" : "1920x1080"),
           fmt::format("qkv [{}, {}] bf16", patches, 3 * kVisionHeads * kHeadDim),
           (fused ? 16.0 : 20.0) * patches * kVisionHeads * kHeadDim,  // bf16 bytes
           4.0 * kVisionHeads * kHeadDim * pairs, true, [=, &fill] {
             const Tensor qkv = fill({patches, 3 * kVisionHeads * kHeadDim}, DType::kBF16),
                          cos = fill({patches, kHeadDim / 2}), sin = fill({patches, kHeadDim / 2});
             const std::vector<int64_t> segments = {0, patches};
             const auto halves = ops::RotaryLayout::kHalves;
             return std::function<void()>([=] {
               if (fused) {
                 ops::cuda::rotary_segment_attention(qkv, kVisionHeads, cos, sin, halves, segments,
                                                     0.088f);
               } else {
                 const auto [q, k, v] = ops::cuda::split_qkv_rotary(qkv, kVisionHeads, kVisionHeads,
                                                                    cos, sin, halves, DType::kBF16);
                 ops::cuda::segment_attention(q, k, v, segments, 0.088f);
               }
             });
           }});
    }
  }
  causal_case("paged_causal_attention (prefill 347)", 347, 0, kHeads, kKvHeads, true,
              AttentionKernel::kAuto);
  causal_case("paged_causal_attention (chunk 256 after 1024)", 256, 1024, kHeads, kKvHeads, true,
              AttentionKernel::kAuto);
  vision_case("segment_attention (vision, 4 images)", {1296, 576, 2304, 64},
              AttentionKernel::kAuto);
  // Crossover: n queries over 4096 keys in all, each kernel.
  for (const int64_t n : {1, 2, 4})
    for (const AttentionKernel kernel : {AttentionKernel::kSplitK, AttentionKernel::kFlash4Warps})
      causal_case(fmt::format("causal_attention (crossover n={})", n), n, kContext - n, kHeads,
                  kKvHeads, false, kernel);
  // The flash path's first step alone: K and V rounded to bf16, head-major.
  for (const int64_t patches : {int64_t(1296), kPatches})
    cases.push_back(
        {"kv_to_bf16 (vision)", fmt::format("k, v [{}, {}, {}]", patches, kVisionHeads, kHeadDim),
         2.0 * patches * kVisionHeads * kHeadDim * (f + 2), 0, false, [=, &fill] {
           const Tensor k = fill({patches, kVisionHeads, kHeadDim}),
                        v = fill({patches, kVisionHeads, kHeadDim});
           Tensor kv =
               Tensor::empty({2, patches, kVisionHeads, kHeadDim}, DType::kBF16, Device::kCUDA);
           return std::function<void()>([=] {
             uint16_t* out = kv.data<uint16_t>();
             check(ops::cuda_kernels::kv_to_bf16(k.data<float>(), v.data<float>(), nullptr, 0,
                                                 int(patches), int(kVisionHeads), int(kHeadDim),
                                                 out, out + patches * kVisionHeads * kHeadDim),
                   "kv_to_bf16");
           });
         }});
  cases.push_back({"layer_norm (vision)", fmt::format("[{}, {}]", kPatches, kVisionHidden),
                   (2.0 * kPatches + 2) * kVisionHidden * f, 8.0 * kPatches * kVisionHidden, false,
                   [&fill] {
                     const Tensor x = fill({kPatches, kVisionHidden}), w = fill({kVisionHidden}),
                                  b = fill({kVisionHidden});
                     return std::function<void()>([=] { ops::cuda::layer_norm(x, w, b, 1e-5f); });
                   }});
  cases.push_back(
      {"bicubic_grid_sample (vision)",
       fmt::format("map [24, 24, {}] at {} points", kVisionHidden, kPatches),
       (24.0 * 24 + kPatches) * kVisionHidden * f, 32.0 * kPatches * kVisionHidden, false, [&fill] {
         const Tensor map = fill({24, 24, kVisionHidden});
         // Points inside [-1, 1]: the tiled random pool would fall outside.
         std::vector<float> xy(2 * kPatches);
         for (int64_t i = 0; i < kPatches; ++i) {
           xy[size_t(2 * i)] = -1 + (2 * float(i % 64) + 1) / 64;
           xy[size_t(2 * i + 1)] = -1 + (2 * float(i / 64) + 1) / 64;
         }
         const Tensor points = to_device(Tensor::from_vector(xy, {kPatches, 2}), Device::kCUDA);
         return std::function<void()>([=] { ops::cuda::bicubic_grid_sample(map, points); });
       }});
  // One vision block at 512² (1296 patches) as the tower runs it: activations between the GEMMs in
  // bf16, residual adds in the GEMM epilogue (model/vision.cc); and as it ran before, every
  // activation f32 with separate adds. FLOPs: the four GEMMs and the attention.
  for (const bool half_between : {true, false}) {
    constexpr int64_t kN = 1296, kD = kVisionHidden, kMlp = 4096, kVisionHeadDim = 128;
    const double weights = double(kD * 3 * kD + kD * kD + kD * 2 * kMlp + kMlp * kD);
    const double flops = 2.0 * kN * weights + 4.0 * kN * kN * kVisionHeadDim * kVisionHeads;
    cases.push_back(
        {half_between ? "vision block, bf16 between GEMMs (512²)"
                      : "vision block, f32 between GEMMs (512², before)",
         fmt::format("[{}, {}], {} heads, MLP {}", kN, kD, kVisionHeads, kMlp),
         2.0 * weights + 2.0 * kN * kD * f, flops, true, [=, &fill] {
           const Tensor x0 = fill({kN, kD}), norm = fill({kD}),
                        qkv_w = fill({3 * kD, kD}, DType::kBF16), qkv_b = fill({3 * kD}),
                        proj_w = fill({kD, kD}, DType::kBF16),
                        gate_up_w = fill({2 * kMlp, kD}, DType::kBF16),
                        down_w = fill({kD, kMlp}, DType::kBF16), cos = fill({kN, 64}),
                        sin = fill({kN, 64});
           const std::vector<int64_t> segments = {0, kN};
           const DType between = half_between ? DType::kBF16 : DType::kF32;
           const Tensor qkv_bias = ops::cuda::convert(qkv_b, between);  // qkv written in between
           return std::function<void()>([=] {
             Tensor x = x0;
             const Tensor qkv = ops::cuda::linear(ops::cuda::rms_norm(x, norm, 1e-6f, between),
                                                  qkv_w, &qkv_bias, between);
             const Tensor attended = ops::cuda::rotary_segment_attention(
                 qkv, kVisionHeads, cos, sin, ops::RotaryLayout::kHalves, segments, 0.088f);
             const Tensor h = ops::cuda::rms_norm(x, norm, 1e-6f, between);
             if (half_between) {
               ops::cuda::add_linear(x, attended, proj_w);
               ops::cuda::add_linear(
                   x, ops::cuda::gated_linear(h, gate_up_w, ops::Activation::kSilu, between),
                   down_w);
             } else {
               ops::cuda::add_inplace(x, ops::cuda::linear(attended, proj_w));
               const Tensor gate_up = ops::cuda::linear(h, gate_up_w);
               ops::cuda::add_inplace(
                   x, ops::cuda::linear(
                          ops::cuda::gated_activation(gate_up, ops::Activation::kSilu), down_w));
             }
           });
         }});
  }
  cases.push_back(
      {"gated_linear (decode)", fmt::format("[1, {}] x [{}, {}]ᵀ BF16", kHidden, 2 * kFfn, kHidden),
       2.0 * kHidden * 2 * kFfn + kHidden * f + kFfn * f, 4.0 * kHidden * kFfn, false, [&fill] {
         const Tensor x = fill({1, kHidden}), w = fill({2 * kFfn, kHidden}, DType::kBF16);
         return std::function<void()>(
             [=] { ops::cuda::gated_linear(x, w, ops::Activation::kSilu); });
       }});
  cases.push_back({"embedding bf16 (prefill)", fmt::format("{} ids, d {}", kPrefill, kHidden),
                   kPrefill * kHidden * (2 + f), 0, false, [&fill] {
                     const Tensor table = fill({kVocab, kHidden}, DType::kBF16);
                     std::vector<int32_t> ids(kPrefill);
                     std::mt19937 rng(3);
                     for (auto& id : ids) id = int32_t(rng() % kVocab);
                     return std::function<void()>([=] { ops::cuda::embedding(table, ids); });
                   }});
  return cases;
}

}  // namespace
}  // namespace glimpse

// ops_cuda_bench [SUBSTRING]: only the cases whose name contains SUBSTRING.
int main(int argc, char** argv) {
  using namespace glimpse;
  const std::string only = argc > 1 ? argv[1] : "";
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, 0), "device");
  const RandomFill fill;
  Ceilings ceil{};
  ceil.bandwidth = copy_bandwidth(fill);
  ceil.bf16_rate = gemm_rate(fill, DType::kBF16, 8192);
  ceil.f32_rate = gemm_rate(fill, DType::kF32, 8192);
  std::printf("device: %s, %d SMs, %.0f MB L2\n", prop.name, prop.multiProcessorCount,
              prop.l2CacheSize / 1e6);
  std::printf("copy D2D (1 GiB, read + write): %.0f GB/s\n", ceil.bandwidth / 1e9);
  std::printf("cuBLASLt bf16 GEMM 8192^3 (f32 accumulate, bf16 out): %.0f TFLOP/s\n",
              ceil.bf16_rate / 1e12);
  std::printf("cuBLASLt f32 GEMM 8192^3 (CUDA cores): %.1f TFLOP/s\n\n", ceil.f32_rate / 1e12);
  std::printf("| op | shape | MB moved | GFLOP | median us | floor us (bound) | floor/time |\n");
  std::printf("| --- | --- | --- | --- | --- | --- | --- |\n");
  for (const auto& c : op_cases(fill))
    if (c.name.find(only) != std::string::npos) run_case(c, ceil);
  return 0;
}
