// `glimpse prompt --model DIR --messages FILE.json [--json] [--dump-pixels OUT.npy]`: what the
// model would be fed for a chat: the rendered prompt, the token ids with every image placeholder
// expanded, and per image its grid (t, h, w), token count and content hash.
//
// FILE.json holds OpenAI chat messages, either as a list or as a request body
// {"messages": [...], "tools": [...], "chat_template_kwargs": {...}}. Image URLs may be data:
// URLs, file:///abs/path or paths relative to the messages file's folder.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/commands.h"
#include "core/error.h"
#include "core/npy.h"
#include "core/paths.h"
#include "io/prompt.h"

namespace glimpse::cli {
namespace {

struct PromptOptions {
  std::string model;
  std::string messages;
  std::string template_kwargs;
  std::string dump_pixels;
  bool json = false;
  bool no_generation_prompt = false;
};

nlohmann::ordered_json parse_json(const std::string& text, const std::string& origin) {
  try {
    return nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    fail(ErrorKind::kInvalidArgument, "{}: invalid JSON: {}", origin, e.what());
  }
}

io::PromptRequest read_request(const PromptOptions& opts) {
  std::ifstream in(opts.messages, std::ios::binary);
  if (!in) fail(ErrorKind::kNotFound, "{}: cannot open the messages file", opts.messages);
  std::ostringstream text;
  text << in.rdbuf();
  const nlohmann::ordered_json body = parse_json(text.str(), opts.messages);

  io::PromptRequest request;
  if (body.is_array()) {
    request.messages = body;
  } else if (body.is_object() && body.contains("messages")) {
    request.messages = body["messages"];
    if (body.contains("tools")) request.tools = body["tools"];
    if (body.contains("chat_template_kwargs")) {
      if (!body["chat_template_kwargs"].is_object())
        fail(ErrorKind::kInvalidArgument, "{}: chat_template_kwargs must be an object",
             opts.messages);
      request.template_kwargs = body["chat_template_kwargs"];
    }
  } else {
    fail(ErrorKind::kInvalidArgument,
         "{}: expected a list of messages or an object with \"messages\"", opts.messages);
  }
  if (!opts.template_kwargs.empty()) {
    const auto extra = parse_json(opts.template_kwargs, "--template-kwargs");
    if (!extra.is_object())
      fail(ErrorKind::kInvalidArgument, "--template-kwargs: expected a JSON object");
    for (const auto& [key, value] : extra.items()) request.template_kwargs[key] = value;
  }
  request.add_generation_prompt = !opts.no_generation_prompt;
  return request;
}

// All images' pixel_values stacked in prompt order, as the processor returns them.
Tensor stacked_pixels(const std::vector<io::PreparedImage>& images) {
  if (images.empty()) fail(ErrorKind::kInvalidArgument, "--dump-pixels: the prompt has no images");
  int64_t rows = 0;
  for (const auto& image : images) rows += image.pixel_values.size(0);
  Tensor out = Tensor::empty({rows, images.front().pixel_values.size(1)}, DType::kF32);
  auto* dst = static_cast<std::byte*>(out.raw_data());
  for (const auto& image : images) {
    const auto bytes = image.pixel_values.bytes();
    std::memcpy(dst, bytes.data(), bytes.size());
    dst += bytes.size();
  }
  return out;
}

void print_json(const io::Prompt& prompt) {
  nlohmann::ordered_json images = nlohmann::ordered_json::array();
  for (const auto& image : prompt.images)
    images.push_back({{"grid_thw", {image.t, image.h, image.w}},
                      {"num_tokens", image.num_tokens},
                      {"content_hash", image.content_hash}});
  const nlohmann::ordered_json out = {
      {"text", prompt.text}, {"input_ids", prompt.ids}, {"images", images}};
  std::puts(out.dump(2).c_str());
}

void print_plain(const io::Prompt& prompt) {
  std::printf("rendered prompt (placeholders not expanded):\n%s\n\n", prompt.text.c_str());
  std::printf("input_ids (%zu tokens, image placeholders expanded):\n", prompt.ids.size());
  std::string ids;
  for (size_t i = 0; i < prompt.ids.size(); ++i)
    ids += (i ? " " : "") + std::to_string(prompt.ids[i]);
  std::printf("%s\n", ids.c_str());
  for (size_t i = 0; i < prompt.images.size(); ++i) {
    const auto& image = prompt.images[i];
    std::printf("image %zu: grid (t, h, w) = (%lld, %lld, %lld), %lld tokens, sha256 %s\n", i,
                static_cast<long long>(image.t), static_cast<long long>(image.h),
                static_cast<long long>(image.w), static_cast<long long>(image.num_tokens),
                image.content_hash.c_str());
  }
}

int run(const PromptOptions& opts) {
  io::PromptBuilder builder(opts.model);
  // The rows: what the processor returns, and what --dump-pixels writes.
  builder.set_pixel_form(io::PixelForm::kRows);
  io::MediaPolicy policy;
  policy.allow_local_paths = true;  // the user's own files, named in their own messages file
  policy.base_dir = std::filesystem::absolute(opts.messages).parent_path().string();
  const io::Prompt prompt = builder.build(read_request(opts), policy);
  if (!opts.dump_pixels.empty()) write_npy(opts.dump_pixels, stacked_pixels(prompt.images));
  if (opts.json) {
    print_json(prompt);
  } else {
    print_plain(prompt);
  }
  return 0;
}

const CommandRegistrar kRegister(40, [](CLI::App& app) -> std::function<int()> {
  auto* cmd = app.add_subcommand(
      "prompt", "Show the prompt a chat becomes: rendered text, token ids, image grids");
  auto opts = std::make_shared<PromptOptions>();
  opts->model = default_model_dir();
  cmd->add_option("--model", opts->model, "Model directory")->capture_default_str();
  cmd->add_option("--messages", opts->messages,
                  "JSON file: OpenAI chat messages (a list, or an object with \"messages\")")
      ->required();
  cmd->add_flag("--json", opts->json, "Print {text, input_ids, images} as JSON");
  cmd->add_option("--dump-pixels", opts->dump_pixels,
                  "Write all images' pixel_values, stacked, to this .npy file (float32)");
  cmd->add_option("--template-kwargs", opts->template_kwargs,
                  "Extra chat template variables as a JSON object, e.g. '{\"enable_thinking\": "
                  "false}'");
  cmd->add_flag("--no-generation-prompt", opts->no_generation_prompt,
                "Do not append the assistant turn opener");
  return [opts] { return run(*opts); };
});

}  // namespace
}  // namespace glimpse::cli
