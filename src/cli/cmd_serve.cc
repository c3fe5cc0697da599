// glimpse serve: the OpenAI-compatible server and web UI.
#include <cstdlib>
#include <filesystem>

#include "cli/commands.h"
#include "cli/device_options.h"
#include "core/paths.h"
#include "core/thread_pool.h"
#include "server/http_server.h"

namespace glimpse::cli {
namespace {

struct ServeOptions {
  std::string model = default_model_dir();
  std::string served_name;
  server::HttpOptions http;
  std::vector<std::string> media_dirs;
  bool allow_remote_media = false;
  int64_t max_image_pixels = 50'000'000;
  int max_images = 16;
  double kv_cache_gib = 1.0;
  int64_t kv_block_size = 16;
  int64_t max_running = 64, max_waiting = 256, max_step_tokens = 0;
  bool no_prefix_cache = false;
  double image_cache_mib = 64;
  double shutdown_timeout_s = 10;
  int threads = 0;
  DeviceChoice device;
};

const CommandRegistrar kRegister(50, [](CLI::App& app) -> std::function<int()> {
  auto* cmd = app.add_subcommand(
      "serve", "Serve the model over an OpenAI-compatible HTTP API with a web UI");
  auto o = std::make_shared<ServeOptions>();
  cmd->add_option("--model", o->model,
                  "Hugging Face model directory (default: the bundled demo model)");
  cmd->add_option("--served-model-name", o->served_name,
                  "Model id in /v1/models (default: the directory name)");
  cmd->add_option("--host", o->http.host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", o->http.port, "Port (0: any free port)")->capture_default_str();
  cmd->add_option("--api-key", o->http.api_key,
                  "Require 'Authorization: Bearer KEY' (or set GLIMPSE_API_KEY)");
  cmd->add_option("--max-body", o->http.max_body_bytes, "Largest request body in bytes")
      ->capture_default_str();
  cmd->add_option("--http-threads", o->http.http_threads, "Connections served at once")
      ->capture_default_str();
  cmd->add_option("--allowed-media-dir", o->media_dirs,
                  "Folder file:// image URLs may read from (repeatable)");
  cmd->add_flag("--allow-remote-media", o->allow_remote_media,
                "Accept http(s) image URLs in requests (glimpse still fetches nothing: they are "
                "refused clearly)");
  cmd->add_option("--max-image-pixels", o->max_image_pixels, "Largest image (width × height)")
      ->capture_default_str();
  cmd->add_option("--max-images", o->max_images, "Images per request")->capture_default_str();
  cmd->add_option("--kv-cache-gib", o->kv_cache_gib, "KV-cache pool size in GiB")
      ->capture_default_str();
  cmd->add_option("--kv-block-size", o->kv_block_size, "Tokens per KV-cache block")
      ->capture_default_str();
  cmd->add_option("--max-running", o->max_running, "Requests decoding at once")
      ->capture_default_str();
  cmd->add_option("--max-waiting", o->max_waiting, "Queued requests before answering 429")
      ->capture_default_str();
  cmd->add_option("--max-step-tokens", o->max_step_tokens,
                  "Tokens per engine step (chunked prefill budget; 0: 512 on the CPU, 2048 on "
                  "the GPU)")
      ->capture_default_str();
  cmd->add_flag("--no-prefix-cache", o->no_prefix_cache,
                "Do not reuse KV blocks of identical prompt prefixes");
  cmd->add_option("--image-cache-mib", o->image_cache_mib, "Image-embedding cache size (0: off)")
      ->capture_default_str();
  cmd->add_option("--shutdown-timeout", o->shutdown_timeout_s,
                  "Seconds to finish in-flight work on SIGTERM")
      ->capture_default_str();
  cmd->add_option("--threads", o->threads, "Compute threads (default: all cores)");
  add_device_options(cmd, &o->device);
  return [o] {
    if (o->threads > 0) ThreadPool::set_global_threads(o->threads);
    if (o->http.api_key.empty())
      if (const char* key = std::getenv("GLIMPSE_API_KEY")) o->http.api_key = key;
    o->http.shutdown_timeout = std::chrono::milliseconds(int64_t(o->shutdown_timeout_s * 1000));

    server::ServiceOptions service_options;
    service_options.model_dir = o->model;
    service_options.load = load_options(o->device);
    service_options.served_model_name = o->served_name;
    auto& sched = service_options.scheduler;
    sched.kv_cache_bytes = size_t(o->kv_cache_gib * double(1ull << 30));
    sched.kv_block_size = o->kv_block_size;
    sched.max_running = o->max_running;
    sched.max_waiting = o->max_waiting;
    sched.max_step_tokens = o->max_step_tokens;
    sched.prefix_caching = !o->no_prefix_cache;
    sched.image_cache_bytes = size_t(o->image_cache_mib * double(1u << 20));
    auto& media = service_options.media;
    for (const auto& dir : o->media_dirs)
      media.allowed_dirs.push_back(std::filesystem::absolute(dir).string());
    media.allow_local_paths = !media.allowed_dirs.empty();
    media.allow_remote = o->allow_remote_media;
    media.limits.max_pixels = o->max_image_pixels;
    media.max_images = o->max_images;

    server::Service service(service_options);
    server::HttpServer http(service, o->http);
    return http.run();
  };
});

}  // namespace
}  // namespace glimpse::cli
