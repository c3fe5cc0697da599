// tokenizer.json -> TokenizerModel. Anything malformed is Error(kCorrupt) and anything outside the
// supported subset (see tokenizer_pretokenizer.h, tokenizer_normalizer.h) Error(kUnsupported),
// each naming the JSON field.
#include <nlohmann/json.hpp>

#include <limits>
#include <unordered_set>

#include "core/error.h"
#include "io/tokenizer_model.h"
#include "io/tokenizer_utf8.h"

namespace glimpse::io {
namespace {

using nlohmann::json;

// Ids are int32_t in the API.
constexpr int64_t kMaxTokenId = std::numeric_limits<int32_t>::max();

struct Context {
  const std::string& origin;
  std::string at(std::string_view path) const { return fmt::format("{}: {}", origin, path); }
};

const json& field(const json& object, const char* key, const std::string& where) {
  const auto it = object.find(key);
  if (it == object.end()) fail(ErrorKind::kCorrupt, "{}: missing field '{}'", where, key);
  return *it;
}

const json& object_field(const json& object, const char* key, const std::string& where) {
  const json& value = field(object, key, where);
  if (!value.is_object()) fail(ErrorKind::kCorrupt, "{}.{}: expected an object", where, key);
  return value;
}

const json& array_field(const json& object, const char* key, const std::string& where) {
  const json& value = field(object, key, where);
  if (!value.is_array()) fail(ErrorKind::kCorrupt, "{}.{}: expected an array", where, key);
  return value;
}

std::string string_field(const json& object, const char* key, const std::string& where) {
  const json& value = field(object, key, where);
  if (!value.is_string()) fail(ErrorKind::kCorrupt, "{}.{}: expected a string", where, key);
  return value.get<std::string>();
}

// A missing or null flag takes its default, as serde does for HF's optional fields.
bool bool_field(const json& object, const char* key, bool fallback, const std::string& where) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) fail(ErrorKind::kCorrupt, "{}.{}: expected true or false", where, key);
  return it->get<bool>();
}

int32_t token_id(const json& value, const std::string& where) {
  if (!value.is_number_integer())
    fail(ErrorKind::kCorrupt, "{}: token id must be an integer", where);
  const auto id = value.get<int64_t>();
  if (id < 0 || id > kMaxTokenId)
    fail(ErrorKind::kCorrupt, "{}: token id {} is outside 0..{}", where, id, kMaxTokenId);
  return static_cast<int32_t>(id);
}

std::string type_of(const json& object, const std::string& where) {
  if (!object.is_object()) fail(ErrorKind::kCorrupt, "{}: expected an object", where);
  return string_field(object, "type", where);
}

void require_utf8(std::string_view text, const std::string& where) {
  if (const size_t bad = utf8::find_invalid(text); bad != utf8::kValid)
    fail(ErrorKind::kCorrupt, "{}: invalid UTF-8 at byte {}", where, bad);
}

// GPT-2's reversible byte <-> character map: printable Latin-1 bytes stand for themselves, the
// other 68 bytes for U+0100 onwards in byte order.
struct ByteLevelAlphabet {
  char32_t byte_to_char[256];
  std::array<int16_t, 324> char_to_byte;  // every mapped character is below U+0144

  ByteLevelAlphabet() {
    char_to_byte.fill(-1);
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      byte_to_char[b] = printable ? static_cast<char32_t>(b) : next++;
      char_to_byte[byte_to_char[b]] = static_cast<int16_t>(b);
    }
  }

  // The bytes a byte-level token stands for; false if it has a character outside the alphabet.
  bool to_bytes(std::string_view token, std::string& bytes) const {
    bytes.clear();
    for (size_t pos = 0; pos < token.size();) {
      const char32_t cp = utf8::next_code_point(token, pos);
      if (cp >= char_to_byte.size() || char_to_byte[cp] < 0) return false;
      bytes.push_back(static_cast<char>(char_to_byte[cp]));
    }
    return true;
  }
};

const ByteLevelAlphabet& alphabet() {
  static const ByteLevelAlphabet instance;
  return instance;
}

TextNormalizer parse_normalizer(const json& node, const std::string& where) {
  std::vector<TextNormalizer::Form> forms;
  auto add = [&](const auto& self, const json& n, const std::string& at) -> void {
    const std::string type = type_of(n, at);
    if (type == "NFC")
      forms.push_back(TextNormalizer::Form::kNfc);
    else if (type == "NFD")
      forms.push_back(TextNormalizer::Form::kNfd);
    else if (type == "NFKC")
      forms.push_back(TextNormalizer::Form::kNfkc);
    else if (type == "NFKD")
      forms.push_back(TextNormalizer::Form::kNfkd);
    else if (type == "Sequence") {
      const json& list = array_field(n, "normalizers", at);
      for (size_t i = 0; i < list.size(); ++i)
        self(self, list[i], fmt::format("{}.normalizers[{}]", at, i));
    } else {
      fail(ErrorKind::kUnsupported,
           "{}: normalizer type '{}' (supported: NFC, NFD, NFKC, NFKD, "
           "Sequence)",
           at, type);
    }
  };
  if (!node.is_null()) add(add, node, where);
  return TextNormalizer(forms);
}

SplitBehavior parse_behavior(const std::string& name, const std::string& where) {
  if (name == "Removed") return SplitBehavior::kRemoved;
  if (name == "Isolated") return SplitBehavior::kIsolated;
  if (name == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (name == "Contiguous") return SplitBehavior::kContiguous;
  fail(ErrorKind::kCorrupt, "{}: unknown split behavior '{}'", where, name);
}

PreTokenizerStep parse_split(const json& node, const std::string& where) {
  const json& pattern = object_field(node, "pattern", where);
  const std::string pattern_where = where + ".pattern";
  PreTokenizerStep step{PreTokenizerStep::Kind::kSplit, std::nullopt};
  std::string source;
  TokenizerRegex::Syntax syntax;
  if (pattern.contains("Regex")) {
    source = string_field(pattern, "Regex", pattern_where);
    syntax = TokenizerRegex::Syntax::kRegex;
  } else if (pattern.contains("String")) {
    source = string_field(pattern, "String", pattern_where);
    syntax = TokenizerRegex::Syntax::kLiteral;
  } else {
    fail(ErrorKind::kCorrupt, "{}: expected 'Regex' or 'String'", pattern_where);
  }
  require_utf8(source, pattern_where);
  step.regex.emplace(source, syntax, pattern_where);
  step.behavior = parse_behavior(string_field(node, "behavior", where), where + ".behavior");
  step.invert = bool_field(node, "invert", false, where);
  return step;
}

PreTokenizer parse_pre_tokenizer(const json& node, const std::string& where) {
  std::vector<PreTokenizerStep> steps;
  auto add = [&](const auto& self, const json& n, const std::string& at) -> void {
    const std::string type = type_of(n, at);
    if (!steps.empty() && steps.back().kind == PreTokenizerStep::Kind::kByteLevel)
      fail(ErrorKind::kUnsupported, "{}: a pre-tokenizer after ByteLevel", at);
    if (type == "Sequence") {
      const json& list = array_field(n, "pretokenizers", at);
      for (size_t i = 0; i < list.size(); ++i)
        self(self, list[i], fmt::format("{}.pretokenizers[{}]", at, i));
    } else if (type == "Split") {
      steps.push_back(parse_split(n, at));
    } else if (type == "ByteLevel") {
      PreTokenizerStep step{PreTokenizerStep::Kind::kByteLevel, std::nullopt};
      step.add_prefix_space = bool_field(n, "add_prefix_space", true, at);
      step.use_regex = bool_field(n, "use_regex", true, at);
      if (step.use_regex)
        step.regex.emplace(kByteLevelRegex, TokenizerRegex::Syntax::kRegex, at + " (GPT-2 regex)");
      steps.push_back(std::move(step));
    } else {
      fail(ErrorKind::kUnsupported,
           "{}: pre-tokenizer type '{}' (supported: Sequence, Split, "
           "ByteLevel)",
           at, type);
    }
  };
  if (node.is_null()) fail(ErrorKind::kUnsupported, "{}: null (a ByteLevel one is needed)", where);
  add(add, node, where);
  if (steps.empty() || steps.back().kind != PreTokenizerStep::Kind::kByteLevel)
    fail(ErrorKind::kUnsupported,
         "{}: no ByteLevel pre-tokenizer (only byte-level BPE is "
         "supported)",
         where);
  return PreTokenizer(std::move(steps));
}

void check_decoder(const json& node, const std::string& where) {
  if (node.is_null())
    fail(ErrorKind::kUnsupported, "{}: null (a ByteLevel decoder is needed)", where);
  const std::string type = type_of(node, where);
  if (type != "ByteLevel")
    fail(ErrorKind::kUnsupported, "{}: decoder type '{}' (supported: ByteLevel)", where, type);
}

void check_unsupported_bpe_options(const json& model, const std::string& where) {
  if (const auto it = model.find("dropout"); it != model.end() && !it->is_null()) {
    if (!it->is_number()) fail(ErrorKind::kCorrupt, "{}.dropout: expected a number", where);
    if (it->get<double>() != 0.0)
      fail(ErrorKind::kUnsupported, "{}.dropout: BPE dropout (random encodings)", where);
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const auto it = model.find(key);
    if (it == model.end() || it->is_null()) continue;
    if (!it->is_string()) fail(ErrorKind::kCorrupt, "{}.{}: expected a string", where, key);
    if (!it->get<std::string>().empty())
      fail(ErrorKind::kUnsupported, "{}.{}: subword affixes (not byte-level BPE)", where, key);
  }
  if (bool_field(model, "byte_fallback", false, where))
    fail(ErrorKind::kUnsupported, "{}.byte_fallback: true (not byte-level BPE)", where);
}

std::pair<std::string, std::string> parse_merge(const json& merge, const std::string& where) {
  if (merge.is_string()) {
    // "left right": exactly one space, as HF requires (byte-level tokens never contain one).
    const std::string text = merge.get<std::string>();
    const size_t space = text.find(' ');
    if (space == std::string::npos || text.find(' ', space + 1) != std::string::npos)
      fail(ErrorKind::kCorrupt, "{}: expected \"left right\", got \"{}\"", where, text);
    return {text.substr(0, space), text.substr(space + 1)};
  }
  if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string())
    return {merge[0].get<std::string>(), merge[1].get<std::string>()};
  fail(ErrorKind::kCorrupt, "{}: expected \"left right\" or [\"left\", \"right\"]", where);
}

}  // namespace

std::unique_ptr<TokenizerModel> load_tokenizer_model(std::string_view json_text,
                                                     const std::string& origin) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::exception& e) {
    fail(ErrorKind::kCorrupt, "{}: not valid JSON: {}", origin, e.what());
  }
  const Context ctx{origin};
  if (!root.is_object()) fail(ErrorKind::kCorrupt, "{}: expected a JSON object", origin);

  const json& model = object_field(root, "model", origin);
  const std::string model_where = ctx.at("model");
  if (model.contains("type") && string_field(model, "type", model_where) != "BPE")
    fail(ErrorKind::kUnsupported, "{}: model type '{}' (supported: BPE)", model_where,
         model["type"].get<std::string>());
  check_unsupported_bpe_options(model, model_where);

  // Vocabulary: the id table, and the raw bytes of every byte-level token.
  std::vector<TokenEntry> entries;
  StringIdMap vocab_ids;
  BpeVocabulary bpe;
  bpe.fuse_unk = bool_field(model, "fuse_unk", false, model_where);
  bpe.ignore_merges = bool_field(model, "ignore_merges", false, model_where);
  const json& vocab = object_field(model, "vocab", model_where);
  const auto added_it = root.find("added_tokens");
  const bool has_added = added_it != root.end() && !added_it->is_null();
  if (has_added && !added_it->is_array())
    fail(ErrorKind::kCorrupt, "{}: expected an array", ctx.at("added_tokens"));
  // The id table has one entry per id up to the largest. Real vocabularies are dense; a sparse
  // one (a few huge ids) would let a corrupt file cost gigabytes, so it is refused.
  const size_t max_entries = 2 * (vocab.size() + (has_added ? added_it->size() : 0)) + 1024;
  auto entry_for = [&](int32_t id, const std::string& where) -> TokenEntry& {
    const auto index = static_cast<size_t>(id);
    if (index >= max_entries)
      fail(ErrorKind::kUnsupported, "{}: id {} is far past the {} tokens (sparse ids)", where, id,
           max_entries / 2);
    if (index >= entries.size()) entries.resize(index + 1);
    return entries[index];
  };
  for (const auto& [text, id_value] : vocab.items()) {
    const std::string where = fmt::format("{}.vocab[\"{}\"]", model_where, text);
    require_utf8(text, where);
    const int32_t id = token_id(id_value, where);
    TokenEntry& entry = entry_for(id, where);
    if (entry.present) fail(ErrorKind::kCorrupt, "{}: id {} is used twice", where, id);
    entry.present = true;
    entry.text = text;
    if (!alphabet().to_bytes(text, entry.bytes)) {
      entry.bytes = text;  // what HF's ByteLevel decoder falls back to
    } else if (bpe.ignore_merges) {
      bpe.words.emplace(entry.bytes, id);
    }
    vocab_ids.emplace(text, id);
  }
  for (int b = 0; b < 256; ++b) {
    std::string one;
    utf8::append_code_point(alphabet().byte_to_char[b], one);
    const auto it = vocab_ids.find(one);
    bpe.byte_ids[static_cast<size_t>(b)] = it == vocab_ids.end() ? -1 : it->second;
  }
  auto vocab_id = [&](const std::string& token, const std::string& where) {
    const auto it = vocab_ids.find(token);
    if (it == vocab_ids.end())
      fail(ErrorKind::kCorrupt, "{}: token \"{}\" is not in the vocab", where, token);
    return it->second;
  };
  const json& merges = array_field(model, "merges", model_where);
  bpe.merges.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const std::string where = fmt::format("{}.merges[{}]", model_where, rank);
    const auto [left, right] = parse_merge(merges[rank], where);
    bpe.merges.push_back(
        {vocab_id(left, where), vocab_id(right, where), vocab_id(left + right, where)});
  }
  if (const auto it = model.find("unk_token"); it != model.end() && !it->is_null()) {
    if (!it->is_string()) fail(ErrorKind::kCorrupt, "{}.unk_token: expected a string", model_where);
    bpe.unk_id = vocab_id(it->get<std::string>(), model_where + ".unk_token");
  }

  TextNormalizer normalizer =
      parse_normalizer(field(root, "normalizer", origin), ctx.at("normalizer"));

  // Added tokens: they override vocab entries with the same id and are looked up first by text.
  std::vector<AddedToken> raw_tokens, normalized_tokens;
  StringIdMap token_ids;
  std::unordered_set<std::string> special_contents;
  if (has_added) {
    for (size_t i = 0; i < added_it->size(); ++i) {
      const json& node = (*added_it)[i];
      const std::string where = fmt::format("{}[{}]", ctx.at("added_tokens"), i);
      if (!node.is_object()) fail(ErrorKind::kCorrupt, "{}: expected an object", where);
      AddedToken token;
      token.id = token_id(field(node, "id", where), where + ".id");
      token.content = string_field(node, "content", where);
      require_utf8(token.content, where + ".content");
      token.special = bool_field(node, "special", false, where);
      token.single_word = bool_field(node, "single_word", false, where);
      token.lstrip = bool_field(node, "lstrip", false, where);
      token.rstrip = bool_field(node, "rstrip", false, where);
      token.normalized = bool_field(node, "normalized", !token.special, where);
      TokenEntry& entry = entry_for(token.id, where);
      entry.present = true;
      // HF shows (and decodes) a normalized token by its normalized text, yet looks it up by the
      // text as written.
      entry.text =
          token.normalized && !normalizer.empty() ? normalizer.apply(token.content) : token.content;
      if (!alphabet().to_bytes(entry.text, entry.bytes)) entry.bytes = entry.text;
      token_ids.insert_or_assign(token.content, token.id);
      if (token.special) special_contents.insert(token.content);
      (token.normalized ? normalized_tokens : raw_tokens).push_back(std::move(token));
    }
  }
  for (auto& [text, id] : vocab_ids) token_ids.emplace(text, id);
  // HF decides "special" by a token's text, so a vocab entry spelled like one is special too.
  for (TokenEntry& entry : entries)
    entry.special = entry.present && special_contents.contains(entry.text);

  PreTokenizer pre_tokenizer =
      parse_pre_tokenizer(field(root, "pre_tokenizer", origin), ctx.at("pre_tokenizer"));
  check_decoder(field(root, "decoder", origin), ctx.at("decoder"));

  std::vector<std::string> raw_patterns, normalized_patterns;
  for (const AddedToken& token : raw_tokens) raw_patterns.push_back(token.content);
  for (const AddedToken& token : normalized_tokens)
    normalized_patterns.push_back(normalizer.empty() ? token.content
                                                     : normalizer.apply(token.content));
  return std::make_unique<TokenizerModel>(
      std::move(normalizer), std::move(pre_tokenizer), std::move(bpe),
      AddedTokenMatcher(std::move(raw_tokens), std::move(raw_patterns)),
      AddedTokenMatcher(std::move(normalized_tokens), std::move(normalized_patterns)),
      std::move(entries), std::move(token_ids));
}

}  // namespace glimpse::io
