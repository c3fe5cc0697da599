// Builds a model prompt from OpenAI-style chat messages: renders the chat template, loads and
// preprocesses every image, expands each <|image|> placeholder to the image's token count (as
// Glm4vProcessor does) and tokenizes the result.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/image_preprocess.h"
#include "io/media.h"

namespace glimpse::io {

class Tokenizer;
class ChatTemplate;

// ordered_json keeps the client's key order, which templates can print (chat_template.h); a plain
// nlohmann::json converts implicitly.
struct PromptRequest {
  nlohmann::ordered_json messages;  // OpenAI chat messages (content: string or content parts)
  bool add_generation_prompt = true;
  nlohmann::ordered_json template_kwargs = nlohmann::ordered_json::object();  // template variables
  nlohmann::ordered_json tools;                                               // null when absent
};

struct Prompt {
  std::string text;          // rendered template, placeholders not yet expanded
  std::vector<int32_t> ids;  // tokenized with every <|image|> expanded to num_tokens copies
  std::vector<PreparedImage> images;  // in placeholder order
};

// Owns the tokenizer, chat template and image processor settings of one model directory.
class PromptBuilder {
 public:
  explicit PromptBuilder(const std::string& model_dir);
  ~PromptBuilder();
  PromptBuilder(PromptBuilder&&) noexcept;
  PromptBuilder& operator=(PromptBuilder&&) noexcept;

  // Throws Error naming the message / part at fault: kInvalidArgument for malformed messages or a
  // placeholder count that differs from the number of images, plus fetch/decode errors.
  Prompt build(const PromptRequest& request, const MediaPolicy& policy) const;
  // The same with images prepared beforehand (prepare_image, preprocess_image): the messages'
  // image parts are matched to `images` in order and their URLs are never read, so a caller that
  // times generation can leave decode and resize out. Throws kInvalidArgument when the counts
  // differ.
  Prompt build(const PromptRequest& request, std::vector<PreparedImage> images) const;
  // Decode + preprocess one encoded image (content_hash set), with the default ImageLimits.
  PreparedImage prepare_image(std::span<const uint8_t> encoded) const;
  PreparedImage prepare_image(std::span<const uint8_t> encoded, const ImageLimits& limits) const;

  const Tokenizer& tokenizer() const;
  const ChatTemplate& chat_template() const;
  const ImageProcessorConfig& image_config() const { return image_config_; }
  // The pixel forms prepare_image keeps (default: rows and samples). Set once, before the builder
  // is shared: a model's callers keep only what it reads (engine::pixel_form_for).
  void set_pixel_form(PixelForm form) { pixel_form_ = form; }
  int32_t image_token_id() const { return image_token_id_; }

 private:
  std::string render(const PromptRequest& request, std::vector<std::string>* image_urls) const;
  // Tokenizes `text` and expands its placeholders to the images' token counts.
  Prompt assemble(std::string text, std::vector<PreparedImage> images) const;

  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<ChatTemplate> template_;
  ImageProcessorConfig image_config_;
  PixelForm pixel_form_ = PixelForm::kRowsAndSamples;
  int32_t image_token_id_ = -1;
};

}  // namespace glimpse::io
