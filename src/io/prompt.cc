#include "io/prompt.h"

#include <algorithm>

#include "core/error.h"
#include "io/chat_template.h"
#include "io/messages.h"
#include "io/tokenizer.h"

namespace glimpse::io {
namespace {

// The placeholder the GLM-4.1V/4.6V chat templates emit once per image (Glm4vProcessor's
// image_token); the processor repeats it once per merged patch.
constexpr const char* kImageToken = "<|image|>";

std::string shorten_url(const std::string& url) {
  constexpr size_t kShown = 48;
  return url.size() <= kShown ? url : url.substr(0, kShown) + "...";
}

}  // namespace

PromptBuilder::PromptBuilder(const std::string& model_dir)
    : tokenizer_(std::make_unique<Tokenizer>(Tokenizer::from_model_dir(model_dir))),
      template_(std::make_unique<ChatTemplate>(ChatTemplate::from_model_dir(model_dir))),
      image_config_(ImageProcessorConfig::from_model_dir(model_dir)) {
  const auto id = tokenizer_->token_to_id(kImageToken);
  if (!id)
    fail(ErrorKind::kNotFound, "{}: the tokenizer has no {} token for image placeholders",
         model_dir, kImageToken);
  image_token_id_ = *id;
}

PromptBuilder::~PromptBuilder() = default;
PromptBuilder::PromptBuilder(PromptBuilder&&) noexcept = default;
PromptBuilder& PromptBuilder::operator=(PromptBuilder&&) noexcept = default;

const Tokenizer& PromptBuilder::tokenizer() const {
  return *tokenizer_;
}
const ChatTemplate& PromptBuilder::chat_template() const {
  return *template_;
}

PreparedImage PromptBuilder::prepare_image(std::span<const uint8_t> encoded) const {
  return prepare_image(encoded, ImageLimits{});
}

PreparedImage PromptBuilder::prepare_image(std::span<const uint8_t> encoded,
                                           const ImageLimits& limits) const {
  PreparedImage prepared =
      preprocess_image(decode_image(encoded, limits), image_config_, pixel_form_);
  prepared.content_hash = sha256_hex(encoded);
  return prepared;
}

std::string PromptBuilder::render(const PromptRequest& request,
                                  std::vector<std::string>* image_urls) const {
  const nlohmann::ordered_json messages = to_template_messages(request.messages, image_urls);
  TemplateOptions options;
  options.add_generation_prompt = request.add_generation_prompt;
  options.tools = request.tools;
  options.extra = request.template_kwargs.is_null() ? nlohmann::ordered_json::object()
                                                    : request.template_kwargs;
  return template_->render(messages, options);
}

Prompt PromptBuilder::build(const PromptRequest& request, const MediaPolicy& policy) const {
  std::vector<std::string> image_urls;
  std::string text = render(request, &image_urls);
  if (int64_t(image_urls.size()) > policy.max_images)
    fail(ErrorKind::kLimitExceeded, "messages hold {} images; at most {} are allowed",
         image_urls.size(), policy.max_images);

  std::vector<PreparedImage> images;
  images.reserve(image_urls.size());
  for (size_t i = 0; i < image_urls.size(); ++i) {
    images.push_back(with_context(
        fmt::format("image {} ({})", i, shorten_url(image_urls[i])),
        [&] { return prepare_image(fetch_image_bytes(image_urls[i], policy), policy.limits); }));
  }
  return assemble(std::move(text), std::move(images));
}

Prompt PromptBuilder::build(const PromptRequest& request,
                            std::vector<PreparedImage> images) const {
  std::vector<std::string> image_urls;
  std::string text = render(request, &image_urls);
  if (image_urls.size() != images.size())
    fail(ErrorKind::kInvalidArgument,
         "messages hold {} image parts but {} prepared images were given", image_urls.size(),
         images.size());
  return assemble(std::move(text), std::move(images));
}

Prompt PromptBuilder::assemble(std::string text, std::vector<PreparedImage> images) const {
  Prompt prompt;
  prompt.text = std::move(text);
  prompt.images = std::move(images);
  // Tokenizing the rendered text and then repeating each placeholder id equals tokenizing the
  // text with the placeholders expanded (what Glm4vProcessor does), because <|image|> is an added
  // token matched before BPE; this way the tokenizer never sees the long runs.
  const std::vector<int32_t> ids = tokenizer_->encode(prompt.text);
  const auto placeholders = std::count(ids.begin(), ids.end(), image_token_id_);
  if (size_t(placeholders) != prompt.images.size())
    fail(ErrorKind::kInvalidArgument,
         "the rendered prompt has {} {} placeholders but the messages hold {} images", placeholders,
         kImageToken, prompt.images.size());
  int64_t total = int64_t(ids.size()) - placeholders;
  for (const auto& image : prompt.images) total += image.num_tokens;
  prompt.ids.reserve(size_t(total));
  size_t next_image = 0;
  for (const int32_t id : ids) {
    if (id != image_token_id_) {
      prompt.ids.push_back(id);
      continue;
    }
    prompt.ids.insert(prompt.ids.end(), size_t(prompt.images[next_image++].num_tokens), id);
  }
  return prompt;
}

}  // namespace glimpse::io
