// HF tokenizer.json (byte-level BPE, as GLM-4 and Qwen2 ship it): encode text to ids and decode
// ids to text with the same results as the `tokenizers` library (checked by tests/io/tokenizer_*).
//
// Input text must be valid UTF-8 (HF takes a Python str); invalid UTF-8 is rejected with an
// Error naming the byte offset. Decoding never fails: byte sequences that are not UTF-8 (e.g. a
// token cut inside a character) become U+FFFD, as HF's lossy decode does.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace glimpse::io {

class TokenizerModel;  // tokenizer_model.h: the parsed tokenizer.json

class Tokenizer {
 public:
  // Parses a tokenizer.json; a malformed or unsupported file throws Error (kCorrupt/kUnsupported).
  static Tokenizer from_file(const std::string& tokenizer_json_path);
  // DIR/tokenizer.json.
  static Tokenizer from_model_dir(const std::string& dir);
  // Parses tokenizer.json text already in memory; `origin` names it in error messages.
  static Tokenizer from_json(std::string_view json_text, const std::string& origin);

  // Encodes text; added/special tokens written in the text are matched before BPE (as HF does).
  // No post-processor template is applied (add_special_tokens=False in transformers terms).
  std::vector<int32_t> encode(std::string_view text) const;
  // Concatenates the tokens' text; ids outside the vocabulary throw Error (kInvalidArgument).
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const;
  std::optional<int32_t> token_to_id(std::string_view token) const;
  std::string id_to_token(int32_t id) const;  // raw vocab string (byte-level form)
  int64_t vocab_size() const;                 // including added tokens
  bool is_special(int32_t id) const;

  // The bytes one token decodes to, before UTF-8 repair (byte-level tokens may hold part of a
  // character). Used by StreamingDetokenizer.
  std::string_view token_bytes(int32_t id) const;

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

 private:
  explicit Tokenizer(std::unique_ptr<TokenizerModel> model);
  std::unique_ptr<TokenizerModel> model_;
};

// Streaming decode: never emits a partial UTF-8 sequence, and the concatenation of all push()
// results plus finish() equals tok.decode(all ids, skip_special_tokens).
class StreamingDetokenizer {
 public:
  StreamingDetokenizer(const Tokenizer& tok, bool skip_special_tokens);
  std::string push(int32_t id);
  std::string finish();

 private:
  const Tokenizer* tok_;
  bool skip_special_tokens_;
  std::string pending_;  // bytes of an incomplete UTF-8 sequence held back until it completes
};

}  // namespace glimpse::io
