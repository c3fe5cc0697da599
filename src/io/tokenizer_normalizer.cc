#include "io/tokenizer_normalizer.h"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>

#include "core/error.h"

namespace glimpse::io {
namespace {

const icu::Normalizer2* instance(TextNormalizer::Form form) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* normalizer = nullptr;
  switch (form) {
    case TextNormalizer::Form::kNfc:
      normalizer = icu::Normalizer2::getNFCInstance(status);
      break;
    case TextNormalizer::Form::kNfd:
      normalizer = icu::Normalizer2::getNFDInstance(status);
      break;
    case TextNormalizer::Form::kNfkc:
      normalizer = icu::Normalizer2::getNFKCInstance(status);
      break;
    case TextNormalizer::Form::kNfkd:
      normalizer = icu::Normalizer2::getNFKDInstance(status);
      break;
  }
  if (U_FAILURE(status) || normalizer == nullptr)
    fail(ErrorKind::kInternal, "ICU normalizer unavailable: {}", u_errorName(status));
  return normalizer;
}

}  // namespace

TextNormalizer::TextNormalizer(const std::vector<Form>& forms) {
  for (const Form form : forms) forms_.push_back(instance(form));
}

std::string TextNormalizer::apply(std::string_view text) const {
  std::string current(text);
  for (const icu::Normalizer2* normalizer : forms_) {
    std::string next;
    icu::StringByteSink<std::string> sink(&next, static_cast<int32_t>(current.size()));
    UErrorCode status = U_ZERO_ERROR;
    normalizer->normalizeUTF8(
        0, icu::StringPiece(current.data(), static_cast<int32_t>(current.size())), sink, nullptr,
        status);
    if (U_FAILURE(status))
      fail(ErrorKind::kInvalidArgument, "Unicode normalization failed: {}", u_errorName(status));
    current = std::move(next);
  }
  return current;
}

}  // namespace glimpse::io
