// `glimpse tokenize --model DIR (--text T | --file F) [--json]` and `--decode IDS`: the model's
// tokenizer (DIR/tokenizer.json) from the command line. Ids print space-separated, or with --json
// as {"ids": [...], "tokens": [...]}; decoding prints the text ({"text": ...} with --json).
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "core/error.h"
#include "core/paths.h"
#include "io/tokenizer.h"

namespace glimpse::cli {
namespace {

struct TokenizeOptions {
  std::string model;
  std::string text;
  std::string file;
  std::string decode;
  bool json = false;
  bool skip_special_tokens = false;
};

std::string read_input_file(const std::string& path) {
  std::ostringstream contents;
  if (path == "-") {
    contents << std::cin.rdbuf();
    return contents.str();
  }
  std::ifstream file(path, std::ios::binary);
  if (!file) fail(ErrorKind::kNotFound, "{}: cannot open the text file", path);
  contents << file.rdbuf();
  return contents.str();
}

// "1,2,3" or "1 2 3" (any mix of commas and whitespace).
std::vector<int32_t> parse_ids(const std::string& list) {
  std::vector<int32_t> ids;
  size_t pos = 0;
  while (pos < list.size()) {
    const size_t start = list.find_first_not_of(", \t\r\n", pos);
    if (start == std::string::npos) break;
    size_t end = list.find_first_of(", \t\r\n", start);
    if (end == std::string::npos) end = list.size();
    const std::string item = list.substr(start, end - start);
    size_t used = 0;
    long long value = 0;
    try {
      value = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || value < 0 || value > INT32_MAX)
      fail(ErrorKind::kInvalidArgument, "--decode: '{}' is not a token id", item);
    ids.push_back(static_cast<int32_t>(value));
    pos = end;
  }
  return ids;
}

void print(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
}

int run(const TokenizeOptions& opts) {
  const io::Tokenizer tokenizer = io::Tokenizer::from_model_dir(opts.model);
  if (!opts.decode.empty()) {
    const std::vector<int32_t> ids = parse_ids(opts.decode);
    const std::string text = tokenizer.decode(ids, opts.skip_special_tokens);
    print(opts.json ? nlohmann::json{{"text", text}}.dump() + "\n" : text + "\n");
    return 0;
  }
  const std::string input = opts.file.empty() ? opts.text : read_input_file(opts.file);
  const std::vector<int32_t> ids = tokenizer.encode(input);
  if (opts.json) {
    nlohmann::json tokens = nlohmann::json::array();
    for (const int32_t id : ids) tokens.push_back(tokenizer.id_to_token(id));
    print(nlohmann::json{{"ids", ids}, {"tokens", tokens}}.dump() + "\n");
    return 0;
  }
  std::string line;
  for (size_t i = 0; i < ids.size(); ++i) line += (i ? " " : "") + std::to_string(ids[i]);
  print(line + "\n");
  return 0;
}

const CommandRegistrar kRegister(30, [](CLI::App& app) -> std::function<int()> {
  auto* cmd = app.add_subcommand("tokenize", "Encode text to token ids, or decode ids to text");
  auto opts = std::make_shared<TokenizeOptions>();
  opts->model = default_model_dir();
  cmd->add_option("--model", opts->model, "Model directory holding tokenizer.json")
      ->capture_default_str();
  auto* text = cmd->add_option("--text", opts->text, "Text to encode");
  auto* file =
      cmd->add_option("--file", opts->file, "File whose UTF-8 text to encode ('-': stdin)");
  auto* decode = cmd->add_option("--decode", opts->decode, "Token ids to decode, e.g. '9,42,7'");
  text->excludes(file)->excludes(decode);
  file->excludes(decode);
  cmd->add_flag("--skip-special-tokens", opts->skip_special_tokens,
                "When decoding, drop special tokens");
  cmd->add_flag("--json", opts->json, "Print JSON");
  return [opts, text, file, decode] {
    if (text->count() + file->count() + decode->count() == 0)
      fail(ErrorKind::kInvalidArgument, "tokenize: give --text, --file or --decode");
    return run(*opts);
  };
});

}  // namespace
}  // namespace glimpse::cli
