// `glimpse bench`: %timeit for multimodal inference, in-process (--model) or against a server
// (--url); `glimpse bench compare A.json B.json` tells a real difference from noise.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "bench/compare.h"
#include "bench/html_report.h"
#include "bench/http_backend.h"
#include "bench/inprocess_backend.h"
#include "bench/report.h"
#include "bench/sla.h"
#include "bench/synthetic_image.h"
#include "cli/commands.h"
#include "cli/device_options.h"
#include "core/device_memory.h"
#include "core/error.h"
#include "core/paths.h"
#include "engine/cpu_threads.h"
#include "io/image_decode.h"
#include "ops/dispatch.h"

namespace glimpse::cli {
namespace {

struct BenchOptions {
  std::string model, url;
  std::vector<std::string> images, resolutions;
  std::vector<int64_t> concurrency{1};
  double request_rate = 0, duration = 10;
  std::string cache = "warm";
  bool include_preprocess = false;
  bench::RequestShape shape;
  bench::Discipline discipline;
  int64_t loops = 0;
  CLI::Option* loops_flag = nullptr;
  CLI::Option* model_flag = nullptr;
  std::string sla, json_file, csv_file, html_file;
  bool markdown = false;
  int threads = 0;
  DeviceChoice device;
  double kv_cache_gib = 1.0;
  int64_t max_step_tokens = 0;
  std::string compare_a, compare_b;
};

std::string read_file(const std::string& path, const char* flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::kNotFound, "{} {}: cannot open the file", flag, path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_file(const std::string& path, const std::string& text, const char* flag) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) fail(ErrorKind::kIo, "{} {}: cannot write the file", flag, path);
}

std::string command_line() {
  std::string raw = read_file("/proc/self/cmdline", "command line");
  for (char& c : raw)
    if (c == '\0') c = ' ';
  while (!raw.empty() && raw.back() == ' ') raw.pop_back();
  return raw;
}

std::string machine_line() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line, model = "unknown CPU";
  while (std::getline(cpuinfo, line))
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  return fmt::format("{}, {} logical CPUs", model, std::thread::hardware_concurrency());
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return text;
}

std::vector<bench::PointSpec> workload_points(const BenchOptions& o) {
  std::vector<bench::PointSpec> images;
  for (const auto& path : o.images) {
    bench::PointSpec p;
    const std::string bytes = read_file(path, "--image");
    p.image.assign(bytes.begin(), bytes.end());
    const io::ImageHeader header = io::read_image_header(p.image);
    p.width = header.width;
    p.height = header.height;
    p.mime = header.format == io::ImageFormat::kPng    ? "image/png"
             : header.format == io::ImageFormat::kJpeg ? "image/jpeg"
                                                       : "image/webp";
    p.label = std::filesystem::path(path).filename().string();
    images.push_back(std::move(p));
  }
  std::vector<std::string> resolutions = o.resolutions;
  if (resolutions.empty() && images.empty()) resolutions.push_back("512x512");
  for (const auto& r : resolutions) {
    bench::PointSpec p;
    std::tie(p.width, p.height) = bench::parse_resolution(r);
    p.image = bench::synthetic_png(p.width, p.height);
    p.label = fmt::format("{}x{}", p.width, p.height);
    p.synthetic = true;
    images.push_back(std::move(p));
  }
  std::vector<bench::PointSpec> points;
  for (const auto& image : images)
    for (int64_t c : o.request_rate > 0 ? std::vector<int64_t>{1} : o.concurrency) {
      if (c < 1) fail(ErrorKind::kInvalidArgument, "--concurrency {}: must be at least 1", c);
      points.push_back(image);
      points.back().concurrency = c;
    }
  return points;
}

void progress_bar(const std::string& label, int64_t done, int64_t total) {
  constexpr int kWidth = 30;
  const int filled = total > 0 ? int(kWidth * done / total) : 0;
  std::fprintf(stderr, "\r%s [%s%s] %lld/%lld requests", label.c_str(),
               std::string(size_t(filled), '#').c_str(),
               std::string(size_t(kWidth - filled), ' ').c_str(), static_cast<long long>(done),
               static_cast<long long>(total));
  std::fflush(stderr);
}

// Prints the verdict table; true when every clause held at every point.
bool report_sla(const std::string& spec, const std::vector<bench::PointResult>& points) {
  const auto clauses = bench::parse_sla(spec);
  bool all = true;
  std::string out = fmt::format("\nSLA {}\n{:<24}{:<22}{:>14}  {}\n", spec, "point", "clause",
                                "measured", "verdict");
  for (const auto& p : points) {
    const auto verdicts =
        bench::evaluate_sla(clauses, [&](const std::string& m) { return bench::sla_metric(p, m); });
    for (const auto& v : verdicts) {
      all = all && v.pass;
      const bool duration = v.clause.metric != "rps" && v.clause.metric != "tok_s";
      const std::string measured = !v.measured ? "not measured"
                                   : duration  ? bench::format_duration(*v.measured)
                                               : fmt::format("{:.2f}", *v.measured);
      out += fmt::format("{:<24}{:<22}{:>14}  {}\n",
                         fmt::format("{} @ {}", p.spec.label, p.spec.concurrency), v.clause.text,
                         measured, v.pass ? "pass" : "FAIL");
    }
  }
  std::fputs(out.c_str(), stdout);
  return all;
}

int run_bench(BenchOptions& o) {
  if (!o.url.empty() && o.model_flag->count() > 0)
    fail(ErrorKind::kInvalidArgument, "give --model (in-process) or --url (a server), not both");
  if (!o.url.empty() && o.include_preprocess)
    fail(ErrorKind::kInvalidArgument,
         "--include-preprocess is in-process only: over HTTP the server always preprocesses, and "
         "its share is reported from the server's timings");
  if (o.request_rate < 0 || o.duration <= 0)
    fail(ErrorKind::kInvalidArgument, "--request-rate must be >= 0 and --duration > 0");
  if (!o.sla.empty()) bench::parse_sla(o.sla);  // a bad SLA fails before the run, not after
  o.shape.cold_cache = o.cache == "cold";
  o.shape.include_preprocess = o.include_preprocess;
  if (o.loops_flag->count()) o.discipline.loops = o.loops;
  o.discipline.request_rate = o.request_rate;
  o.discipline.duration_s = o.duration;

  bench::RunInfo info;
  info.command = command_line();
  info.date = utc_now();
  info.machine = machine_line();
  if (o.url.empty() && o.device.device == "cuda") info.machine += ", " + describe_cuda_device();
  info.timer_overhead_ns = bench::timer_overhead_ns();
  info.settings = {{"prompt", o.shape.prompt},
                   {"max_tokens", o.shape.max_tokens},
                   {"ignore_eos", o.shape.ignore_eos},
                   {"temperature", o.shape.temperature ? nlohmann::json(*o.shape.temperature)
                                                       : nlohmann::json()},
                   {"top_p", o.shape.top_p ? nlohmann::json(*o.shape.top_p) : nlohmann::json()},
                   {"cache", o.cache},
                   {"include_preprocess", o.include_preprocess},
                   {"warmup", o.discipline.warmup},
                   {"repeats", o.discipline.repeats},
                   {"request_rate", o.request_rate},
                   {"duration_s", o.duration}};
  std::unique_ptr<bench::Backend> backend;
  if (o.url.empty()) {
    engine::set_cpu_threads(o.threads);
    bench::EngineSetup setup{load_options(o.device),
                             size_t(o.kv_cache_gib * double(size_t(1) << 30)), o.max_step_tokens};
    info.settings["device"] = o.device.device;
    info.settings["dtype"] = o.device.dtype;
    info.settings["kv_cache_gib"] = o.kv_cache_gib;
    info.settings["max_step_tokens"] = o.max_step_tokens;
    auto local = std::make_unique<bench::InProcessBackend>(o.model, o.shape, setup);
    info.load_ms = local->load_ms();
    backend = std::move(local);
    info.mode = "in-process";
    info.target = o.model;
  } else {
    backend = std::make_unique<bench::HttpBackend>(o.url, o.shape);
    info.mode = "http";
    info.target = o.url;
  }

  const bool show_progress = isatty(STDERR_FILENO);
  std::vector<bench::PointResult> results;
  for (auto& spec : workload_points(o)) {
    const std::string label = fmt::format("{} @ {}", spec.label, spec.concurrency);
    bench::Progress progress;
    if (show_progress)
      progress = [&](int64_t done, int64_t total) { progress_bar(label, done, total); };
    results.push_back(bench::run_point(*backend, std::move(spec), o.discipline, progress));
    if (show_progress) std::fputs("\r\033[K", stderr);
  }

  if (o.url.empty() && o.device.device == "cuda") {
    const DeviceMemoryStats memory = device_memory_stats();
    info.peak_gpu_mib = double(memory.peak_in_use) / double(1 << 20);
    info.reserved_gpu_mib = double(memory.reserved) / double(1 << 20);
  }
  const std::string text =
      o.markdown ? bench::markdown_report(info, results) : bench::terminal_report(info, results);
  std::fputs(text.c_str(), stdout);
  if (!o.json_file.empty())
    write_file(o.json_file, bench::report_json(info, results).dump(1) + "\n", "--json");
  if (!o.csv_file.empty()) write_file(o.csv_file, bench::csv_report(results), "--csv");
  if (!o.html_file.empty()) write_file(o.html_file, bench::html_report(info, results), "--html");
  std::fflush(stdout);
  // GLIMPSE_PROFILE_OPS=1: where the GPU time of the whole run went, op by op.
  if (const std::string profile = ops::op_profile_report(); !profile.empty())
    std::fputs(profile.c_str(), stderr);
  if (!o.sla.empty() && !report_sla(o.sla, results)) return kExitFailure;
  return kExitOk;
}

int run_compare(const BenchOptions& o) {
  auto load = [](const std::string& path) {
    try {
      return nlohmann::json::parse(read_file(path, "compare"));
    } catch (const nlohmann::json::parse_error& e) {
      fail(ErrorKind::kInvalidArgument, "compare {}: not JSON ({})", path, e.what());
    }
  };
  const auto rows = bench::compare_reports(load(o.compare_a), load(o.compare_b));
  std::fputs(bench::comparison_table(rows, o.compare_a, o.compare_b).c_str(), stdout);
  return kExitOk;
}

const CommandRegistrar kRegister(60, [](CLI::App& app) -> std::function<int()> {
  auto* cmd = app.add_subcommand(
      "bench", "Time multimodal requests like %timeit: in-process (--model) or over HTTP (--url)");
  auto o = std::make_shared<BenchOptions>();
  o->model = default_model_dir();
  o->model_flag = cmd->add_option("--model", o->model, "Model directory (in-process engine)")
                      ->capture_default_str();
  cmd->add_option("--url", o->url, "A running server (glimpse serve or any OpenAI-compatible one)");
  cmd->add_option("--image", o->images, "Image file(s) to send (repeatable)");
  cmd->add_option("--resolution", o->resolutions,
                  "Synthetic PNG image sizes, e.g. 512x512,1920x1080 (default 512x512)")
      ->delimiter(',');
  cmd->add_option("--prompt", o->shape.prompt, "The user message")->capture_default_str();
  cmd->add_option("--max-tokens", o->shape.max_tokens, "Tokens to generate per request")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 20))
      ->capture_default_str();
  cmd->add_flag("--ignore-eos", o->shape.ignore_eos, "Always generate --max-tokens tokens");
  cmd->add_option("--temperature", o->shape.temperature,
                  "Sample at this temperature (default: the model's generation config)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-p", o->shape.top_p, "Nucleus sampling mass (default: the model's)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--concurrency", o->concurrency, "Requests in flight at once, e.g. 1,4,16,64")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--request-rate", o->request_rate,
                  "Poisson arrivals at R requests/s for --duration seconds (instead of loops)");
  cmd->add_option("--duration", o->duration, "Seconds of Poisson arrivals")->capture_default_str();
  cmd->add_option("--cache", o->cache,
                  "warm: caches kept and pre-filled by warm-up; cold: every request misses them")
      ->check(CLI::IsMember({"warm", "cold"}))
      ->capture_default_str();
  cmd->add_flag("--include-preprocess", o->include_preprocess,
                "Decode and preprocess the image inside each timed request (in-process)");
  o->loops_flag = cmd->add_option("-n,--loops", o->loops,
                                  "Batches per repeat (default: 1, 2, 5, 10, ... until >= 0.2 s)");
  cmd->add_option("-r,--repeats", o->discipline.repeats, "Repeats")
      ->check(CLI::Range(int64_t(1), int64_t(1000)))
      ->capture_default_str();
  cmd->add_option("--warmup", o->discipline.warmup, "Untimed batches before timing")
      ->check(CLI::Range(int64_t(0), int64_t(1000)))
      ->capture_default_str();
  cmd->add_option("--seed", o->discipline.seed, "Seed of the Poisson arrival times");
  cmd->add_option("--sla", o->sla,
                  "e.g. \"ttft_p90<100ms,tpot_p50<20ms,rps>=50\" (exit 1 on failure)");
  cmd->add_option("--json", o->json_file, "Write the full report with raw samples here");
  cmd->add_option("--csv", o->csv_file, "Write one row per point and metric here");
  cmd->add_option("--html", o->html_file, "Write a self-contained HTML report with charts here");
  cmd->add_flag("--markdown", o->markdown, "Print Markdown tables instead of the terminal table");
  cmd->add_option("--threads", o->threads, "CPU threads for the in-process engine (default: all)");
  add_device_options(cmd, &o->device);
  cmd->add_option("--kv-cache-gib", o->kv_cache_gib, "In-process KV-cache pool size in GiB")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--max-step-tokens", o->max_step_tokens,
                  "In-process tokens per engine step (chunked prefill budget; 0: 512 on the CPU, "
                  "2048 on the GPU)")
      ->check(CLI::Range(int64_t(0), int64_t(1) << 20))
      ->capture_default_str();

  auto* compare = cmd->add_subcommand("compare", "Ratios B/A per metric with bootstrap 95 % CIs");
  compare->add_option("A", o->compare_a, "Baseline `glimpse bench --json` report")->required();
  compare->add_option("B", o->compare_b, "Candidate report")->required();
  cmd->require_subcommand(0, 1);
  return [o, compare] { return compare->parsed() ? run_compare(*o) : run_bench(*o); };
});

}  // namespace
}  // namespace glimpse::cli
