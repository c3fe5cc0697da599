// Tokenizer throughput (docs/benchmarks/tokenizer.md): encode ~10 MB of English prose with the
// tiny-a tokenizer (tests/golden/models/tiny-a) on one thread, plus decode and streaming decode.
//
//   build/release/benchmarks/tokenizer_bench [--benchmark_filter=Encode]
//
// The prose is generated here from a fixed seed. To time exactly the text the transformers
// figure in tests/golden/README.md used, write it with
//   python -c 'import sys; sys.path.insert(0, "tools/reference"); import text_sources;
//              open("/tmp/prose.txt", "w").write(text_sources.english_prose(10_000_000))'
// and set GLIMPSE_BENCH_PROSE=/tmp/prose.txt. GLIMPSE_BENCH_TOKENIZER picks another tokenizer.json.
#include <benchmark/benchmark.h>

#include <array>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "io/tokenizer.h"

namespace glimpse::io {
namespace {

constexpr size_t kProseBytes = 10'000'000;

constexpr std::array kPassages = {
    "The harbour was quiet in the early morning, and the fishing boats rocked gently against "
    "their moorings while gulls argued over the remains of yesterday's catch.",
    "She had always believed that a well-written letter could change a person's mind, so she "
    "wrote slowly, crossing out every sentence that said less than it should.",
    "It's not that the committee couldn't agree; they'd simply spent three hours discussing the "
    "colour of the new sign before anyone mentioned the budget.",
    "In 1887 the bridge was rebuilt in stone, and for more than a century it carried carts, "
    "trams, buses and, eventually, 40,000 cars a day across the river.",
    "\"Where are you going?\" asked the old man at the gate. \"To the market,\" I said, \"and "
    "then home again before the rain.\"",
};

constexpr std::array kWords = {
    "the",
    "a",
    "of",
    "and",
    "to",
    "in",
    "that",
    "it",
    "was",
    "for",
    "on",
    "with",
    "as",
    "his",
    "her",
    "they",
    "at",
    "by",
    "from",
    "but",
    "not",
    "which",
    "when",
    "there",
    "their",
    "would",
    "could",
    "about",
    "house",
    "river",
    "garden",
    "window",
    "morning",
    "evening",
    "letter",
    "village",
    "station",
    "teacher",
    "children",
    "question",
    "answer",
    "problem",
    "history",
    "evidence",
    "government",
    "industry",
    "knowledge",
    "mountain",
    "weather",
    "walked",
    "opened",
    "carried",
    "watched",
    "remembered",
    "explained",
    "discovered",
    "quickly",
    "slowly",
    "quietly",
    "carefully",
    "suddenly",
    "together",
    "nevertheless",
    "old",
    "new",
    "small",
    "large",
    "bright",
    "strange",
    "important",
    "understanding",
    "responsibility",
    "international",
    "approximately",
    "communication",
};

// Seeded, so every run and machine times the same bytes (std::mt19937's output is specified).
std::string generate_prose(size_t bytes) {
  std::mt19937 rng(20240611);
  auto pick = [&rng](size_t n) { return static_cast<size_t>(rng() % n); };
  std::string text;
  text.reserve(bytes + 1024);
  while (text.size() < bytes) {
    if (!text.empty()) text += "\n\n";
    const size_t sentences = 3 + pick(7);
    for (size_t s = 0; s < sentences; ++s) {
      if (s > 0) text += ' ';
      if (pick(5) == 0) {
        text += kPassages[pick(kPassages.size())];
        continue;
      }
      const size_t words = 5 + pick(12);
      for (size_t w = 0; w < words; ++w) {
        std::string word = kWords[pick(kWords.size())];
        if (w == 0) word[0] = static_cast<char>(word[0] - 'a' + 'A');
        if (w > 0) text += pick(9) == 0 ? ", " : " ";
        text += word;
      }
      if (pick(4) == 0) {
        text += ' ';
        text += std::to_string(rng() % 100000);
      }
      text += ".?!;."[pick(5)];
    }
  }
  return text;
}

const std::string& prose() {
  static const std::string text = [] {
    const char* path = std::getenv("GLIMPSE_BENCH_PROSE");
    if (path == nullptr || *path == '\0') return generate_prose(kProseBytes);
    std::ifstream file(path, std::ios::binary);
    if (!file) throw std::runtime_error(std::string(path) + ": cannot open GLIMPSE_BENCH_PROSE");
    return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
  }();
  return text;
}

std::string tokenizer_path() {
  const char* path = std::getenv("GLIMPSE_BENCH_TOKENIZER");
  if (path != nullptr && *path != '\0') return path;
  return std::string(GLIMPSE_SOURCE_DIR) + "/tests/golden/models/tiny-a/tokenizer.json";
}

const Tokenizer& tokenizer() {
  static const Tokenizer tok = Tokenizer::from_file(tokenizer_path());
  return tok;
}

std::vector<std::string> paragraphs() {
  std::vector<std::string> out;
  const std::string& text = prose();
  for (size_t pos = 0; pos <= text.size();) {
    const size_t end = std::min(text.find("\n\n", pos), text.size());
    out.push_back(text.substr(pos, end - pos));
    pos = end + 2;
  }
  return out;
}

void report(benchmark::State& state, size_t bytes, size_t tokens) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  state.counters["tokens"] = static_cast<double>(tokens);
  state.counters["MB/s"] = benchmark::Counter(static_cast<double>(state.iterations() * bytes) / 1e6,
                                              benchmark::Counter::kIsRate);
}

// The whole text in one call; after the first iteration the per-word cache is warm.
void BM_EncodeProse(benchmark::State& state) {
  const std::string& text = prose();
  size_t tokens = 0;
  for (auto _ : state) tokens = tokenizer().encode(text).size();
  report(state, text.size(), tokens);
}

// A freshly loaded tokenizer per iteration: every word's BPE is computed once (cold cache).
void BM_EncodeProseColdCache(benchmark::State& state) {
  const std::string& text = prose();
  size_t tokens = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const Tokenizer fresh = Tokenizer::from_file(tokenizer_path());
    state.ResumeTiming();
    tokens = fresh.encode(text).size();
  }
  report(state, text.size(), tokens);
}

// One call per paragraph, as the transformers figure's list input.
void BM_EncodeParagraphs(benchmark::State& state) {
  const std::vector<std::string> list = paragraphs();
  size_t tokens = 0;
  for (auto _ : state) {
    tokens = 0;
    for (const std::string& paragraph : list) tokens += tokenizer().encode(paragraph).size();
  }
  report(state, prose().size(), tokens);
}

void BM_Decode(benchmark::State& state) {
  const std::vector<int32_t> ids = tokenizer().encode(prose());
  for (auto _ : state) benchmark::DoNotOptimize(tokenizer().decode(ids));
  report(state, prose().size(), ids.size());
}

void BM_StreamingDecode(benchmark::State& state) {
  const std::vector<int32_t> ids = tokenizer().encode(prose());
  for (auto _ : state) {
    StreamingDetokenizer stream(tokenizer(), false);
    size_t bytes = 0;
    for (const int32_t id : ids) bytes += stream.push(id).size();
    benchmark::DoNotOptimize(bytes + stream.finish().size());
  }
  report(state, prose().size(), ids.size());
}

BENCHMARK(BM_EncodeProse)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_EncodeProseColdCache)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_EncodeParagraphs)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_Decode)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_StreamingDecode)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace glimpse::io

BENCHMARK_MAIN();
