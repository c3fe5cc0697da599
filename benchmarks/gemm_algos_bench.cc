// Which cuBLASLt kernels exist for the vision tower's GEMMs, and how far the heuristic's first
// answer (what ops::linear runs) is from the fastest of them. For each shape it times:
//   - the heuristic's answers (up to 64, best-fit search);
//   - for every algorithm id: the heuristic's configurations of that id (up to 32), and every
//     tile × split-K {1, 2, 3, 4} × CTA swizzle that cublasLtMatmulAlgoCheck accepts;
// a quick screen (one burst), then the 12 fastest again (median of 5 bursts), and prints the
// heuristic's first against the fastest with its configuration, as a markdown table.
// Timing: bursts of 10 calls between events; the weights rotate among enough copies to exceed the
// 50 MB L2 twice (in the tower every block's weights come from HBM), the activations stay (they
// are L2-warm there too). Output matrices are as the tower writes them: bf16 for qkv and gate_up,
// f32 with β = 1 (the residual sum) for proj and down.
#include <cublasLt.h>
#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cuda_bench_check.h"

namespace {

using glimpse::bench::check;

constexpr size_t kWorkspaceBytes = size_t(32) << 20;
constexpr size_t kL2Bytes = size_t(50) << 20;
constexpr int kBurst = 10;

struct Shape {
  const char* name;
  int64_t rows, in, out;
  cudaDataType_t out_type;
  bool bias;
  float beta;
};

struct Candidate {
  cublasLtMatmulAlgo_t algo;
  size_t workspace;
  float us = 0;
};

template <typename T>
T config(const cublasLtMatmulAlgo_t& algo, cublasLtMatmulAlgoConfigAttributes_t attribute) {
  T value{};
  size_t written = 0;
  cublasLtMatmulAlgoConfigGetAttribute(&algo, attribute, &value, sizeof(value), &written);
  return value;
}

std::string describe(const cublasLtMatmulAlgo_t& algo) {
  return fmt::format("id {} tile {} stages {} split-K {} reduction {} swizzle {} cluster {}",
                     config<int32_t>(algo, CUBLASLT_ALGO_CONFIG_ID),
                     config<uint32_t>(algo, CUBLASLT_ALGO_CONFIG_TILE_ID),
                     config<uint32_t>(algo, CUBLASLT_ALGO_CONFIG_STAGES_ID),
                     config<int32_t>(algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM),
                     config<uint32_t>(algo, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME),
                     config<uint32_t>(algo, CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING),
                     config<uint16_t>(algo, CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID));
}

template <typename T>
std::vector<T> capability(const cublasLtMatmulAlgo_t& algo, cublasLtMatmulAlgoCapAttributes_t cap) {
  size_t bytes = 0;
  if (cublasLtMatmulAlgoCapGetAttribute(&algo, cap, nullptr, 0, &bytes) != CUBLAS_STATUS_SUCCESS ||
      bytes == 0)
    return {};
  std::vector<T> values(bytes / sizeof(T));
  cublasLtMatmulAlgoCapGetAttribute(&algo, cap, values.data(), bytes, &bytes);
  return values;
}

class ShapeRun {
 public:
  ShapeRun(cublasLtHandle_t handle, const Shape& shape, void* workspace)
      : handle_(handle), shape_(shape), workspace_(workspace) {
    check(cublasLtMatmulDescCreate(&op_, CUBLAS_COMPUTE_32F, CUDA_R_32F), "desc");
    const cublasOperation_t transpose = CUBLAS_OP_T, plain = CUBLAS_OP_N;
    cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_TRANSA, &transpose, sizeof(transpose));
    cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_TRANSB, &plain, sizeof(plain));
    const size_t out_bytes = shape.out_type == CUDA_R_32F ? 4 : 2;
    if (shape.bias) {
      const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
      cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue,
                                     sizeof(epilogue));
      cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &shape.out_type,
                                     sizeof(shape.out_type));
      check(cudaMalloc(&bias_, shape.out * out_bytes), "bias");
      check(cudaMemset(bias_, 0, shape.out * out_bytes), "bias");
      cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias_, sizeof(bias_));
    }
    check(cublasLtMatrixLayoutCreate(&a_, CUDA_R_16BF, shape.in, shape.out, shape.in), "A");
    check(cublasLtMatrixLayoutCreate(&b_, CUDA_R_16BF, shape.in, shape.rows, shape.in), "B");
    check(cublasLtMatrixLayoutCreate(&d_, shape.out_type, shape.out, shape.rows, shape.out), "D");
    const size_t weight_bytes = size_t(shape.in * shape.out * 2);
    const size_t copies = std::max<size_t>(2, 2 * kL2Bytes / weight_bytes + 1);
    weights_.resize(copies);
    for (void*& w : weights_) {
      check(cudaMalloc(&w, weight_bytes), "weight");
      fill_bf16(w, weight_bytes / 2);
    }
    check(cudaMalloc(&x_, size_t(shape.rows * shape.in * 2)), "x");
    fill_bf16(x_, size_t(shape.rows * shape.in));
    check(cudaMalloc(&y_, size_t(shape.rows * shape.out) * out_bytes), "y");
    check(cudaMemset(y_, 0, size_t(shape.rows * shape.out) * out_bytes), "y");
    check(cudaEventCreate(&start_), "event");
    check(cudaEventCreate(&stop_), "event");
  }

  double gflop() const { return 2.0 * double(shape_.rows * shape_.in * shape_.out) * 1e-9; }

  std::vector<Candidate> heuristic(int count, cublasLtMatmulSearch_t mode,
                                   const cublasLtMatmulAlgo_t* seed = nullptr) {
    cublasLtMatmulPreference_t preference = nullptr;
    check(cublasLtMatmulPreferenceCreate(&preference), "preference");
    const uint64_t workspace = kWorkspaceBytes;
    cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                         &workspace, sizeof(workspace));
    const uint32_t search = mode;
    cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_SEARCH_MODE, &search,
                                         sizeof(search));
    std::vector<cublasLtMatmulHeuristicResult_t> results(static_cast<size_t>(count));
    if (seed) results[0].algo = *seed;
    int found = 0;
    const cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(
        handle_, op_, a_, b_, d_, d_, preference, count, results.data(), &found);
    cublasLtMatmulPreferenceDestroy(preference);
    std::vector<Candidate> out;
    if (status != CUBLAS_STATUS_SUCCESS) return out;
    for (int i = 0; i < found; ++i)
      if (results[size_t(i)].state == CUBLAS_STATUS_SUCCESS)
        out.push_back(Candidate{results[size_t(i)].algo, results[size_t(i)].workspaceSize, 0.0f});
    return out;
  }

  // Configurations of every algorithm id that cublasLtMatmulAlgoCheck accepts.
  std::vector<Candidate> enumerate() {
    int ids[256];
    int id_count = 0;
    check(
        cublasLtMatmulAlgoGetIds(handle_, CUBLAS_COMPUTE_32F, CUDA_R_32F, CUDA_R_16BF, CUDA_R_16BF,
                                 shape_.out_type, shape_.out_type, 256, ids, &id_count),
        "algo ids");
    std::vector<Candidate> out;
    for (int i = 0; i < id_count; ++i) {
      cublasLtMatmulAlgo_t base;
      if (cublasLtMatmulAlgoInit(handle_, CUBLAS_COMPUTE_32F, CUDA_R_32F, CUDA_R_16BF, CUDA_R_16BF,
                                 shape_.out_type, shape_.out_type, ids[i],
                                 &base) != CUBLAS_STATUS_SUCCESS)
        continue;
      // The heuristic's own configurations of this id (its stage counts among them), then every
      // tile × split-K × swizzle with the stage count left to cuBLASLt.
      for (const Candidate& c : heuristic(32, CUBLASLT_SEARCH_LIMITED_BY_ALGO_ID, &base))
        out.push_back(c);
      std::vector<uint32_t> tiles = capability<uint32_t>(base, CUBLASLT_ALGO_CAP_TILE_IDS);
      if (tiles.empty()) tiles = {CUBLASLT_MATMUL_TILE_UNDEFINED};
      const auto split = capability<int32_t>(base, CUBLASLT_ALGO_CAP_SPLITK_SUPPORT);
      const auto reductions = capability<uint32_t>(base, CUBLASLT_ALGO_CAP_REDUCTION_SCHEME_MASK);
      const auto swizzle = capability<uint32_t>(base, CUBLASLT_ALGO_CAP_CTA_SWIZZLING_SUPPORT);
      const bool can_split = !split.empty() && split[0] != 0;
      const uint32_t reduction_mask = reductions.empty() ? 0 : reductions[0];
      const uint32_t reduction = (reduction_mask & CUBLASLT_REDUCTION_SCHEME_OUTPUT_TYPE)
                                     ? CUBLASLT_REDUCTION_SCHEME_OUTPUT_TYPE
                                 : (reduction_mask & CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE)
                                     ? CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE
                                     : CUBLASLT_REDUCTION_SCHEME_INPLACE;
      const int swizzles = (!swizzle.empty() && swizzle[0] != 0) ? 2 : 1;
      for (const uint32_t tile : tiles)
        for (int32_t splits = 1; splits <= (can_split ? 4 : 1); ++splits)
          for (uint32_t swz = 0; swz < uint32_t(swizzles); ++swz) {
            cublasLtMatmulAlgo_t algo = base;
            const uint32_t scheme = splits > 1 ? reduction : CUBLASLT_REDUCTION_SCHEME_NONE;
            cublasLtMatmulAlgoConfigSetAttribute(&algo, CUBLASLT_ALGO_CONFIG_TILE_ID, &tile,
                                                 sizeof(tile));
            cublasLtMatmulAlgoConfigSetAttribute(&algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &splits,
                                                 sizeof(splits));
            cublasLtMatmulAlgoConfigSetAttribute(&algo, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME,
                                                 &scheme, sizeof(scheme));
            cublasLtMatmulAlgoConfigSetAttribute(&algo, CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING, &swz,
                                                 sizeof(swz));
            cublasLtMatmulHeuristicResult_t result{};
            if (cublasLtMatmulAlgoCheck(handle_, op_, a_, b_, d_, d_, &algo, &result) ==
                    CUBLAS_STATUS_SUCCESS &&
                result.workspaceSize <= kWorkspaceBytes)
              out.push_back(Candidate{algo, result.workspaceSize, 0.0f});
          }
    }
    return out;
  }

  // Mean µs a call over `bursts` bursts (median burst); infinity when the kernel fails to run.
  float time(const Candidate& c, int bursts) {
    const float alpha = 1.0f;
    size_t turn = 0;
    auto call = [&] {
      return cublasLtMatmul(handle_, op_, &alpha, weights_[turn++ % weights_.size()], a_, x_, b_,
                            &shape_.beta, y_, d_, y_, d_, &c.algo, workspace_, kWorkspaceBytes,
                            nullptr);
    };
    if (call() != CUBLAS_STATUS_SUCCESS || cudaDeviceSynchronize() != cudaSuccess) {
      cudaGetLastError();
      return 1e30f;
    }
    std::vector<float> ms(size_t(bursts), 0.0f);
    for (float& t : ms) {
      check(cudaEventRecord(start_), "event");
      for (int i = 0; i < kBurst; ++i) call();
      check(cudaEventRecord(stop_), "event");
      check(cudaEventSynchronize(stop_), "event");
      check(cudaEventElapsedTime(&t, start_, stop_), "event");
    }
    std::nth_element(ms.begin(), ms.begin() + bursts / 2, ms.end());
    return ms[size_t(bursts / 2)] * 1000.0f / kBurst;
  }

 private:
  static void fill_bf16(void* p, size_t count) {
    std::vector<uint16_t> host(count);
    uint32_t state = 12345;
    for (uint16_t& v : host) {
      state = state * 1664525u + 1013904223u;
      v = uint16_t(0x3c00 + (state >> 24) % 64) ^
          uint16_t((state >> 16) & 0x8000);  // ±[0.0078, 0.016)
    }
    check(cudaMemcpy(p, host.data(), count * 2, cudaMemcpyHostToDevice), "fill");
  }

  cublasLtHandle_t handle_;
  Shape shape_;
  void* workspace_;
  cublasLtMatmulDesc_t op_ = nullptr;
  cublasLtMatrixLayout_t a_ = nullptr, b_ = nullptr, d_ = nullptr;
  std::vector<void*> weights_;
  void *x_ = nullptr, *y_ = nullptr, *bias_ = nullptr;
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
};

}  // namespace

int main(int argc, char** argv) {
  const std::string filter = argc > 1 ? argv[1] : "";
  cublasLtHandle_t handle = nullptr;
  check(cublasLtCreate(&handle), "cublasLtCreate");
  void* workspace = nullptr;
  check(cudaMalloc(&workspace, kWorkspaceBytes), "workspace");
  const std::vector<Shape> shapes = {
      {"vision qkv 512²", 1296, 1536, 4608, CUDA_R_16BF, true, 0.0f},
      {"vision proj 512²", 1296, 1536, 1536, CUDA_R_32F, false, 1.0f},
      {"vision gate_up 512²", 1296, 1536, 8192, CUDA_R_16BF, false, 0.0f},
      {"vision down 512²", 1296, 4096, 1536, CUDA_R_32F, false, 1.0f},
      {"merger downsample 512²", 324, 6144, 4096, CUDA_R_32F, true, 0.0f},
      {"merger gate_up 512²", 324, 4096, 27392, CUDA_R_16BF, false, 0.0f},
      {"merger down 512²", 324, 13696, 4096, CUDA_R_32F, false, 0.0f},
      {"vision qkv 1920×1080", 10764, 1536, 4608, CUDA_R_16BF, true, 0.0f},
      {"vision down 1920×1080", 10764, 4096, 1536, CUDA_R_32F, false, 1.0f},
  };
  std::printf(
      "| GEMM | [rows, in] → out | configs | heuristic first µs | best of heuristic µs | "
      "best of all µs | first / best | best's TFLOP/s | best's configuration |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  for (const Shape& shape : shapes) {
    if (std::string(shape.name).find(filter) == std::string::npos) continue;
    ShapeRun run(handle, shape, workspace);
    std::vector<Candidate> answers = run.heuristic(64, CUBLASLT_SEARCH_BEST_FIT);
    if (answers.empty()) continue;
    const float first = run.time(answers[0], 7);
    float best_heuristic = first;
    for (Candidate& c : answers) best_heuristic = std::min(best_heuristic, c.us = run.time(c, 3));
    std::vector<Candidate> all = run.enumerate();
    const size_t configs = answers.size() + all.size();
    for (Candidate& c : all) c.us = run.time(c, 1);
    all.insert(all.end(), answers.begin(), answers.end());
    std::sort(all.begin(), all.end(),
              [](const Candidate& a, const Candidate& b) { return a.us < b.us; });
    all.resize(std::min<size_t>(all.size(), 12));
    for (Candidate& c : all) c.us = run.time(c, 7);
    std::sort(all.begin(), all.end(),
              [](const Candidate& a, const Candidate& b) { return a.us < b.us; });
    const Candidate& best = all.front();
    std::printf("| %s | [%lld, %lld] → %lld | %zu | %.1f | %.1f | %.1f | %.2f | %.0f | %s |\n",
                shape.name, (long long)shape.rows, (long long)shape.in, (long long)shape.out,
                configs, first, best_heuristic, best.us, first / best.us,
                run.gflop() / best.us * 1e3, describe(best.algo).c_str());
    std::printf("|  | heuristic first: %s | | | | | | | |\n", describe(answers[0].algo).c_str());
    std::fflush(stdout);
  }
  return 0;
}
