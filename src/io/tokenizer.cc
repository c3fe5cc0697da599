#include "io/tokenizer.h"

#include <fstream>
#include <limits>
#include <sstream>

#include "core/error.h"
#include "io/tokenizer_model.h"
#include "io/tokenizer_utf8.h"

namespace glimpse::io {

void TokenizerModel::encode(std::string_view text, std::vector<int32_t>& ids) const {
  std::vector<TextPiece> pieces;
  if (raw_added_.empty()) {
    if (!text.empty()) pieces.push_back({text, -1});
  } else {
    raw_added_.split(text, pieces);
  }
  for (const TextPiece& piece : pieces) {
    if (piece.added_id >= 0) {
      ids.push_back(piece.added_id);
    } else if (normalizer_.empty()) {
      encode_normalized_piece(piece.text, ids);
    } else {
      encode_normalized_piece(normalizer_.apply(piece.text), ids);
    }
  }
}

void TokenizerModel::encode_normalized_piece(std::string_view piece,
                                             std::vector<int32_t>& ids) const {
  const auto encode_words = [&](std::string_view text) {
    pre_tokenizer_.run(text, [&](std::string_view word) { bpe_.encode_word(word, ids); });
  };
  if (normalized_added_.empty()) {
    encode_words(piece);
    return;
  }
  std::vector<TextPiece> pieces;
  normalized_added_.split(piece, pieces);
  for (const TextPiece& sub : pieces) {
    if (sub.added_id >= 0) {
      ids.push_back(sub.added_id);
    } else {
      encode_words(sub.text);
    }
  }
}

const TokenEntry& TokenizerModel::entry(int32_t id) const {
  if (id < 0 || id >= size() || !entries_[static_cast<size_t>(id)].present)
    fail(ErrorKind::kInvalidArgument, "token id {} names no token (vocabulary size {})", id,
         size());
  return entries_[static_cast<size_t>(id)];
}

Tokenizer::Tokenizer(std::unique_ptr<TokenizerModel> model) : model_(std::move(model)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_json(std::string_view json_text, const std::string& origin) {
  return Tokenizer(load_tokenizer_model(json_text, origin));
}

Tokenizer Tokenizer::from_file(const std::string& tokenizer_json_path) {
  std::ifstream file(tokenizer_json_path, std::ios::binary);
  if (!file) fail(ErrorKind::kNotFound, "{}: cannot open the tokenizer file", tokenizer_json_path);
  std::ostringstream contents;
  contents << file.rdbuf();
  if (file.bad()) fail(ErrorKind::kIo, "{}: read failed", tokenizer_json_path);
  return from_json(contents.str(), tokenizer_json_path);
}

Tokenizer Tokenizer::from_model_dir(const std::string& dir) {
  return from_file(dir + "/tokenizer.json");
}

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  // ICU and the id arena index with 32-bit sizes.
  if (text.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max()))
    fail(ErrorKind::kLimitExceeded, "text of {} bytes is too long to tokenize", text.size());
  if (const size_t bad = utf8::find_invalid(text); bad != utf8::kValid)
    fail(ErrorKind::kInvalidArgument, "text to tokenize is not valid UTF-8 (byte {} of {})", bad,
         text.size());
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 4 + 1);
  model_->encode(text, ids);
  return ids;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::string bytes;
  for (const int32_t id : ids) {
    const TokenEntry& entry = model_->entry(id);
    if (!(skip_special_tokens && entry.special)) bytes += entry.bytes;
  }
  std::string text;
  text.reserve(bytes.size());
  utf8::append_lossy(bytes, text);
  return text;
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  const auto it = model_->token_ids().find(token);
  if (it == model_->token_ids().end()) return std::nullopt;
  return it->second;
}

std::string Tokenizer::id_to_token(int32_t id) const {
  return model_->entry(id).text;
}
int64_t Tokenizer::vocab_size() const {
  return model_->size();
}
bool Tokenizer::is_special(int32_t id) const {
  return model_->entry(id).special;
}
std::string_view Tokenizer::token_bytes(int32_t id) const {
  return model_->entry(id).bytes;
}

StreamingDetokenizer::StreamingDetokenizer(const Tokenizer& tok, bool skip_special_tokens)
    : tok_(&tok), skip_special_tokens_(skip_special_tokens) {}

std::string StreamingDetokenizer::push(int32_t id) {
  if (skip_special_tokens_ && tok_->is_special(id)) return {};
  pending_ += tok_->token_bytes(id);
  std::string text;
  pending_.erase(0, utf8::append_lossy_complete(pending_, text));
  return text;
}

std::string StreamingDetokenizer::finish() {
  std::string text;
  utf8::append_lossy(pending_, text);
  pending_.clear();
  return text;
}

}  // namespace glimpse::io
