// generate_bench: end-to-end generation timing on the CPU. For each model it reports TTFT and
// decode throughput of one request (greedy, eos ignored) and compares decode with the machine's
// memory bandwidth, measured by a multi-threaded copy loop in the same run: decode streams every
// decoder weight (all but the embedding table, which is read one row per token) and the KV cache
// once per token, so bytes/token x tokens/s over the copy bandwidth is the fraction of the memory
// system decode uses.
//
//   generate_bench --model DIR [--model DIR]... [--image PATH] [--decode-tokens N] [--runs N]
//
// Copy bandwidth counts bytes read plus bytes written (STREAM's convention for Copy).
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "core/error.h"
#include "core/paths.h"
#include "core/thread_pool.h"
#include "engine/cpu_threads.h"
#include "engine/generator.h"
#include "io/prompt.h"
#include "model/glm4v.h"
#include "model/weights.h"

namespace glimpse::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::vector<std::string> models;
  std::string image;
  std::string prompt =
      "Describe this picture in detail: the objects, their colours, where the light comes from, "
      "and what might happen next.";
  int64_t decode_tokens = 64;
  int runs = 3;
  int threads = 0;
  int64_t copy_mib = 512;
};

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

// Best of several passes of a parallel memcpy between two buffers of `bytes` each; bytes/s
// counting both the read and the write.
double copy_bandwidth(size_t bytes) {
  std::vector<char> source(bytes, 1), target(bytes, 0);  // both touched before timing
  auto& pool = ThreadPool::global();
  const int64_t chunks = pool.size() * 16;
  const size_t chunk = (bytes + size_t(chunks) - 1) / size_t(chunks);
  double best = 0;
  for (int pass = 0; pass < 6; ++pass) {
    const auto start = Clock::now();
    pool.parallel_for(chunks, 1, [&](int64_t begin, int64_t end) {
      for (int64_t c = begin; c < end; ++c) {
        const size_t from = size_t(c) * chunk;
        if (from < bytes) std::memcpy(&target[from], &source[from], std::min(chunk, bytes - from));
      }
    });
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    best = std::max(best, 2.0 * double(bytes) / seconds);
  }
  if (target[bytes / 2] != 1) fail(ErrorKind::kInternal, "copy loop did not copy");
  return best;
}

struct WeightCounts {
  int64_t parameters = 0;
  // What one decode step reads: every language-model tensor except the embedding table, plus
  // lm_head (a tied lm_head is the embedding, read in full as the output projection).
  uint64_t decode_bytes = 0;
};

WeightCounts count_weights(const std::string& model_dir, const model::ModelConfig& config) {
  WeightCounts counts;
  const auto weights = model::ModelWeights::load(model_dir, config);
  for (const auto& [name, tensor] : weights.all()) {
    const bool text = name.rfind("model.language_model.", 0) == 0;
    if ((text && name != "model.language_model.embed_tokens.weight") || name == "lm_head.weight")
      counts.decode_bytes += tensor.nbytes();
    if (name != "lm_head.weight" || !config.tie_word_embeddings)
      counts.parameters += tensor.numel();
  }
  return counts;
}

std::string cpu_name() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

struct Row {
  std::string model;
  int64_t parameters = 0, prompt_tokens = 0, image_tokens = 0, generated = 0;
  double ttft_ms = 0, prefill_tok_s = 0, decode_tok_s = 0, bytes_per_token = 0;
};

Row measure(const Options& o, const std::string& model_dir) {
  const io::PromptBuilder prompts(model_dir);
  const auto model = model::Glm4vModel::load(model_dir);
  const engine::Generator generator(*model, prompts);

  io::PromptRequest request;
  nlohmann::ordered_json parts = nlohmann::ordered_json::array();
  if (!o.image.empty()) parts.push_back({{"type", "image_url"}, {"image_url", {{"url", o.image}}}});
  parts.push_back({{"type", "text"}, {"text", o.prompt}});
  request.messages = nlohmann::ordered_json::array({{{"role", "user"}, {"content", parts}}});
  io::MediaPolicy media;
  media.allow_local_paths = true;
  media.base_dir = std::filesystem::current_path().string();

  engine::GenerationParams params;
  params.sampling.temperature = 0.0;
  params.ignore_eos = true;
  params.max_tokens = 2;
  // Warm-up: pages the weights in and grows the allocator's pools.
  generator.generate(request, media, params, nullptr);

  params.max_tokens = o.decode_tokens;
  std::vector<double> ttft, prefill_rate, decode_rate;
  engine::GenerationResult last;
  for (int run = 0; run < o.runs; ++run) {
    last = generator.generate(request, media, params, nullptr);
    const auto& t = last.timings;
    ttft.push_back(t.ttft_ms);
    prefill_rate.push_back(double(last.prompt_ids.size()) * 1e3 / t.prefill_ms);
    decode_rate.push_back(1e3 / t.decode_ms_per_token().value_or(0));
  }

  const auto& config = model->config();
  Row row;
  row.model = std::filesystem::path(model_dir).lexically_normal().filename().string();
  row.prompt_tokens = int64_t(last.prompt_ids.size());
  row.image_tokens = last.image_tokens;
  row.generated = int64_t(last.tokens.size());
  row.ttft_ms = median(ttft);
  row.prefill_tok_s = median(prefill_rate);
  row.decode_tok_s = median(decode_rate);
  // The KV cache read per step, at the mean context length during decode (f32 K and V).
  const double mean_context = double(row.prompt_tokens) + double(row.generated) / 2;
  const double kv_bytes = 2.0 * double(config.text.num_hidden_layers) *
                          double(config.text.num_key_value_heads * config.text.head_dim) *
                          sizeof(float) * mean_context;
  const WeightCounts weights = count_weights(model_dir, config);
  row.bytes_per_token = double(weights.decode_bytes) + kv_bytes;
  row.parameters = weights.parameters;
  return row;
}

int run(const Options& o) {
  engine::set_cpu_threads(o.threads);
  const int threads = ThreadPool::global().size();
  fmt::print("machine: {}, {} hardware threads, {} used\n", cpu_name(),
             std::thread::hardware_concurrency(), threads);
  fmt::print("request: greedy, eos ignored, {} generated tokens, median of {} runs{}\n\n",
             o.decode_tokens, o.runs, o.image.empty() ? "" : ", one image: " + o.image);

  // Bandwidth before and after the models, the better one counting: on a shared machine the
  // load changes over a run, and the denominator should be what the memory system can do.
  const double bandwidth_before = copy_bandwidth(size_t(o.copy_mib) << 20);
  std::vector<Row> rows;
  for (const auto& dir : o.models) rows.push_back(measure(o, dir));
  const double bandwidth_after = copy_bandwidth(size_t(o.copy_mib) << 20);
  const double bandwidth = std::max(bandwidth_before, bandwidth_after);
  fmt::print("copy loop: {:.2f} GB/s before, {:.2f} GB/s after the models (read + write)\n\n",
             bandwidth_before / 1e9, bandwidth_after / 1e9);

  fmt::print(
      "| model | params | prompt tokens (image) | TTFT ms | prefill tok/s | decode tok/s | "
      "decode MB/token | decode GB/s | copy GB/s | fraction |\n"
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const auto& r : rows) {
    const double achieved = r.bytes_per_token * r.decode_tok_s;
    fmt::print(
        "| {} | {:.1f} M | {} ({}) | {:.1f} | {:.0f} | {:.2f} | {:.2f} | {:.2f} | {:.2f} | {:.0f} "
        "% |\n",
        r.model, double(r.parameters) / 1e6, r.prompt_tokens, r.image_tokens, r.ttft_ms,
        r.prefill_tok_s, r.decode_tok_s, r.bytes_per_token / 1e6, achieved / 1e9, bandwidth / 1e9,
        100.0 * achieved / bandwidth);
  }
  return 0;
}

}  // namespace
}  // namespace glimpse::bench

int main(int argc, char** argv) {
  using namespace glimpse;
  CLI::App app{"End-to-end generation timing: TTFT, decode tok/s, fraction of copy bandwidth"};
  bench::Options o;
  app.add_option("--model", o.models, "Model directory (repeatable)")->required();
  app.add_option("--image", o.image, "Image shown with the prompt");
  app.add_option("--prompt", o.prompt, "User text");
  app.add_option("--decode-tokens", o.decode_tokens, "Tokens generated per run")
      ->check(CLI::Range(int64_t(2), int64_t(1) << 20));
  app.add_option("--runs", o.runs, "Timed runs per model (median reported)")
      ->check(CLI::Range(1, 1000));
  app.add_option("--threads", o.threads, "CPU threads (default: all)");
  app.add_option("--copy-mib", o.copy_mib, "Size of each copy-loop buffer in MiB")
      ->check(CLI::Range(int64_t(16), int64_t(1) << 16));
  CLI11_PARSE(app, argc, argv);
  try {
    return bench::run(o);
  } catch (const Error& e) {
    std::fprintf(stderr, "generate_bench: %s: %s\n", to_string(e.kind()), e.what());
    return exit_code_for(e.kind());
  }
}
