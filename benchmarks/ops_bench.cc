// CPU op benchmarks. The headline is decode-time matrix-vector speed: GB/s of weights streamed by
// ops::linear with one input row, next to a copy loop and a read-only loop over buffers of the
// same size measured in the same run (the machine's practical memory bandwidth), for f32 weights
// (OpenBLAS sgemv) and bf16/f16 weights (our streaming kernel). Prefill GEMM reports GFLOP/s.
//
//   build/<dir>/benchmarks/ops_bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <vector>

#include "core/thread_pool.h"
#include "ops/attention.h"
#include "ops/linear.h"

namespace glimpse::ops {
namespace {

Tensor random_weight(int64_t rows, int64_t cols, DType dtype) {
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  Tensor w = Tensor::empty({rows, cols}, dtype);
  for (int64_t i = 0; i < w.numel(); ++i) {
    const float v = normal(rng);
    if (dtype == DType::kF32)
      w.data<float>()[i] = v;
    else
      w.data<uint16_t>()[i] = dtype == DType::kBF16 ? f32_to_bf16(v) : f32_to_f16(v);
  }
  return w;
}

Tensor random_input(int64_t rows, int64_t cols) {
  return random_weight(rows, cols, DType::kF32);
}

// Copies `bytes` from one buffer to another on all pool threads: reads and writes `bytes` each.
void BM_CopyLoop(benchmark::State& state) {
  const auto bytes = size_t(state.range(0)) << 20;
  std::vector<char> src(bytes, 1), dst(bytes, 0);
  for (auto _ : state) {
    ThreadPool::global().parallel_for(int64_t(bytes), 1 << 20, [&](int64_t begin, int64_t end) {
      std::memcpy(dst.data() + begin, src.data() + begin, size_t(end - begin));
    });
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  // Traffic = read + write; the matvec rows below count only the weights they read.
  state.counters["GB/s"] = benchmark::Counter(double(2 * bytes) * double(state.iterations()) / 1e9,
                                              benchmark::Counter::kIsRate);
}
BENCHMARK(BM_CopyLoop)->Arg(64)->Arg(256)->UseRealTime()->Unit(benchmark::kMillisecond);

// Sums `bytes` of floats on all pool threads: a read-only stream, the ceiling for a matvec.
void BM_ReadLoop(benchmark::State& state) {
  const auto bytes = size_t(state.range(0)) << 20;
  std::vector<float> src(bytes / sizeof(float), 1.0f);
  for (auto _ : state) {
    ThreadPool::global().parallel_for(int64_t(src.size()), 1 << 18,
                                      [&](int64_t begin, int64_t end) {
                                        float partial[16] = {};
                                        for (int64_t i = begin; i + 16 <= end; i += 16)
                                          for (int l = 0; l < 16; ++l)
                                            partial[l] += src[size_t(i + l)];
                                        benchmark::DoNotOptimize(partial);
                                      });
  }
  state.counters["GB/s"] = benchmark::Counter(double(bytes) * double(state.iterations()) / 1e9,
                                              benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ReadLoop)->Arg(64)->Arg(256)->UseRealTime()->Unit(benchmark::kMillisecond);

// ops::linear with one input row: weights streamed once, 2 FLOPs per weight.
void BM_Matvec(benchmark::State& state, DType dtype) {
  const int64_t out = state.range(0), in = state.range(1);
  const Tensor w = random_weight(out, in, dtype), x = random_input(1, in);
  for (auto _ : state) benchmark::DoNotOptimize(linear(x, w).raw_data());
  state.counters["GB/s"] = benchmark::Counter(double(w.nbytes()) * double(state.iterations()) / 1e9,
                                              benchmark::Counter::kIsRate);
}
BENCHMARK_CAPTURE(BM_Matvec, f32, DType::kF32)
    ->Args({4096, 4096})
    ->Args({16384, 4096})
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Matvec, bf16, DType::kBF16)
    ->Args({4096, 4096})
    ->Args({16384, 4096})
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Matvec, f16, DType::kF16)->Args({4096, 4096})->UseRealTime();

// ops::linear over a prefill chunk: 2·rows·out·in FLOPs.
void BM_Gemm(benchmark::State& state, DType dtype) {
  const int64_t rows = state.range(0), out = state.range(1), in = state.range(2);
  const Tensor w = random_weight(out, in, dtype), x = random_input(rows, in);
  for (auto _ : state) benchmark::DoNotOptimize(linear(x, w).raw_data());
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * double(rows * out * in) * double(state.iterations()) / 1e9,
                         benchmark::Counter::kIsRate);
}
BENCHMARK_CAPTURE(BM_Gemm, f32, DType::kF32)
    ->Args({256, 4096, 4096})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Gemm, bf16, DType::kBF16)
    ->Args({256, 4096, 4096})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// One decode query over a cache of `keys` tokens (32 heads over 2 KV heads of 128, GLM-4 9B's
// shape): reads 2·keys·kv_heads·128 floats.
void BM_DecodeAttention(benchmark::State& state) {
  const int64_t keys = state.range(0), heads = 32, kv_heads = 2, d = 128;
  const Tensor q = random_input(heads, d).view({1, heads, d});
  const Tensor k = random_input(keys * kv_heads, d).view({keys, kv_heads, d});
  const Tensor v = random_input(keys * kv_heads, d).view({keys, kv_heads, d});
  for (auto _ : state)
    benchmark::DoNotOptimize(causal_attention(q, k, v, keys - 1, 0.088f).raw_data());
  state.counters["GB/s"] =
      benchmark::Counter(double(k.nbytes() + v.nbytes()) * double(state.iterations()) / 1e9,
                         benchmark::Counter::kIsRate);
}
BENCHMARK(BM_DecodeAttention)->Arg(4096)->UseRealTime();

}  // namespace
}  // namespace glimpse::ops

BENCHMARK_MAIN();
