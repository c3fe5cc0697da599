// The parsed tokenizer.json behind glimpse::io::Tokenizer, and its encoding pipeline:
// added tokens on the raw text -> normalizer -> added tokens on the normalized text ->
// pre-tokenizer -> byte-level BPE per word.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "io/tokenizer_added.h"
#include "io/tokenizer_bpe.h"
#include "io/tokenizer_normalizer.h"
#include "io/tokenizer_pretokenizer.h"

namespace glimpse::io {

struct TokenEntry {
  std::string text;   // the token as tokenizer.json spells it (byte-level form for BPE tokens)
  std::string bytes;  // what the ByteLevel decoder turns it into
  bool present = false;
  bool special = false;
};

class TokenizerModel {
 public:
  TokenizerModel(TextNormalizer normalizer, PreTokenizer pre_tokenizer, BpeVocabulary bpe,
                 AddedTokenMatcher raw_added, AddedTokenMatcher normalized_added,
                 std::vector<TokenEntry> entries, StringIdMap token_ids)
      : normalizer_(std::move(normalizer)),
        pre_tokenizer_(std::move(pre_tokenizer)),
        bpe_(std::move(bpe)),
        raw_added_(std::move(raw_added)),
        normalized_added_(std::move(normalized_added)),
        entries_(std::move(entries)),
        token_ids_(std::move(token_ids)) {}

  // text must be valid UTF-8.
  void encode(std::string_view text, std::vector<int32_t>& ids) const;

  // Throws Error(kInvalidArgument) for an id that names no token.
  const TokenEntry& entry(int32_t id) const;
  const StringIdMap& token_ids() const { return token_ids_; }
  int64_t size() const { return static_cast<int64_t>(entries_.size()); }

 private:
  void encode_normalized_piece(std::string_view piece, std::vector<int32_t>& ids) const;

  TextNormalizer normalizer_;
  PreTokenizer pre_tokenizer_;
  BytePairEncoder bpe_;
  AddedTokenMatcher raw_added_;         // normalized=false: matched in the text as given
  AddedTokenMatcher normalized_added_;  // normalized=true: matched after the normalizer
  std::vector<TokenEntry> entries_;     // indexed by id
  StringIdMap token_ids_;               // added token contents first, then the vocab
};

// Parses tokenizer.json text; `origin` (a path) prefixes error messages.
std::unique_ptr<TokenizerModel> load_tokenizer_model(std::string_view json_text,
                                                     const std::string& origin);

}  // namespace glimpse::io
