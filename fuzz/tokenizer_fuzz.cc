// libFuzzer target for the tokenizer. The first input byte picks what the rest is:
//   0: text to encode with the tiny-a tokenizer (tests/golden/models/tiny-a). Invalid UTF-8 must
//      be rejected with Error(kInvalidArgument); valid text must round-trip, decode(encode(s)) ==
//      s.
//   1: token ids (16-bit little-endian, some past the vocabulary) to decode. Out-of-range ids must
//      give Error(kInvalidArgument); otherwise streaming decode must equal batch decode, with and
//      without skip_special_tokens, even when tokens split UTF-8 characters.
//   2: a tokenizer.json to load. Anything malformed must give glimpse::Error, never a crash; what
//      loads must encode and decode a sample text.
// Any other exception type, crash, sanitizer report or broken property is a finding.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/paths.h"
#include "io/tokenizer.h"
#include "io/tokenizer_utf8.h"

namespace {

using glimpse::Error;
using glimpse::ErrorKind;
using glimpse::io::StreamingDetokenizer;
using glimpse::io::Tokenizer;

void check(bool ok, const char* property) {
  if (!ok) {
    std::fprintf(stderr, "tokenizer_fuzz: property broken: %s\n", property);
    std::abort();
  }
}

const Tokenizer& golden_tokenizer() {
  static const Tokenizer tok =
      Tokenizer::from_model_dir(glimpse::source_dir() + "/tests/golden/models/tiny-a");
  return tok;
}

std::string streamed(const Tokenizer& tok, const std::vector<int32_t>& ids, bool skip_special) {
  StreamingDetokenizer stream(tok, skip_special);
  std::string text;
  for (const int32_t id : ids) text += stream.push(id);
  return text + stream.finish();
}

void fuzz_encode(std::string_view text) {
  const Tokenizer& tok = golden_tokenizer();
  const bool valid = glimpse::io::utf8::find_invalid(text) == glimpse::io::utf8::kValid;
  std::vector<int32_t> ids;
  try {
    ids = tok.encode(text);
  } catch (const Error& e) {
    check(!valid && e.kind() == ErrorKind::kInvalidArgument, "only invalid UTF-8 is rejected");
    return;
  }
  check(valid, "invalid UTF-8 is rejected");
  check(tok.decode(ids) == text, "decode(encode(s)) == s");
  check(streamed(tok, ids, false) == tok.decode(ids), "streaming decode == batch decode");
}

void fuzz_decode(std::string_view bytes) {
  const Tokenizer& tok = golden_tokenizer();
  std::vector<int32_t> ids;
  bool out_of_range = false;
  for (size_t i = 0; i + 1 < bytes.size(); i += 2) {
    const int32_t raw = static_cast<uint8_t>(bytes[i]) | (static_cast<uint8_t>(bytes[i + 1]) << 8);
    const auto id = static_cast<int32_t>(raw % (tok.vocab_size() + 8));
    out_of_range |= id >= tok.vocab_size();
    ids.push_back(id);
  }
  for (const bool skip : {false, true}) {
    std::string batch;
    try {
      batch = tok.decode(ids, skip);
    } catch (const Error& e) {
      check(out_of_range && e.kind() == ErrorKind::kInvalidArgument, "only bad ids are rejected");
      return;
    }
    check(!out_of_range, "bad ids are rejected");
    check(glimpse::io::utf8::find_invalid(batch) == glimpse::io::utf8::kValid,
          "decode gives UTF-8");
    check(streamed(tok, ids, skip) == batch, "streaming decode == batch decode (any ids)");
  }
}

void fuzz_json(std::string_view json) {
  try {
    const Tokenizer tok = Tokenizer::from_json(json, "fuzz.json");
    const std::string sample =
        "Hello world, it's 2024! <|user|> caf\xC3\xA9 \xE4\xBD\xA0\xE5\xA5\xBD\n";
    const std::vector<int32_t> ids = tok.encode(sample);
    check(streamed(tok, ids, false) == tok.decode(ids), "streaming == batch (fuzzed tokenizer)");
  } catch (const Error&) {
    // A clear error is the expected outcome for most mutations.
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 3) {
    case 0:
      fuzz_encode(rest);
      break;
    case 1:
      fuzz_decode(rest);
      break;
    default:
      fuzz_json(rest);
      break;
  }
  return 0;
}
