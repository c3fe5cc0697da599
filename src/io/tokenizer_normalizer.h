// Normalization (tokenizer.json "normalizer"): none, or Unicode normal forms (NFC as Qwen2 uses,
// NFD, NFKC, NFKD), alone or in a Sequence, computed with ICU.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <unicode/uversion.h>

U_NAMESPACE_BEGIN
class Normalizer2;
U_NAMESPACE_END

namespace glimpse::io {

class TextNormalizer {
 public:
  enum class Form { kNfc, kNfd, kNfkc, kNfkd };
  explicit TextNormalizer(const std::vector<Form>& forms);

  bool empty() const { return forms_.empty(); }
  // text must be valid UTF-8.
  std::string apply(std::string_view text) const;

 private:
  std::vector<const icu::Normalizer2*> forms_;
};

}  // namespace glimpse::io
