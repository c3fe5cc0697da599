#include "model/model_info.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "core/error.h"

namespace glimpse::model {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr std::uintmax_t kMaxTokenizerBytes = 256u << 20;

std::string component_of(const std::string& name) {
  if (name.rfind("model.visual.merger.", 0) == 0) return "merger";
  if (name.rfind("model.visual.", 0) == 0) return "vision";
  if (name.rfind("lm_head.", 0) == 0) return "lm_head";
  return "text";
}

std::optional<Json> read_json_if_present(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return std::nullopt;
  if (fs::file_size(path, ec) > kMaxTokenizerBytes)
    fail(ErrorKind::kLimitExceeded, "{}: larger than {} bytes", path.string(), kMaxTokenizerBytes);
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  Json root = Json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object())
    fail(ErrorKind::kCorrupt, "{}: not a valid JSON object", path.string());
  return root;
}

// id -> content of the tokenizer's added (special) tokens; the small tokenizer_config.json first.
std::map<int64_t, std::string> added_tokens(const fs::path& dir) {
  std::map<int64_t, std::string> tokens;
  if (auto config = read_json_if_present(dir / "tokenizer_config.json")) {
    auto decoder = config->find("added_tokens_decoder");
    if (decoder != config->end() && decoder->is_object()) {
      for (const auto& [id, token] : decoder->items()) {
        if (!token.is_object() || !token.contains("content") || !token["content"].is_string())
          continue;
        char* end = nullptr;
        const long long value = std::strtoll(id.c_str(), &end, 10);
        if (end && *end == '\0') tokens[value] = token["content"].get<std::string>();
      }
      if (!tokens.empty()) return tokens;
    }
  }
  if (auto tokenizer = read_json_if_present(dir / "tokenizer.json")) {
    auto list = tokenizer->find("added_tokens");
    if (list != tokenizer->end() && list->is_array()) {
      for (const Json& token : *list) {
        if (token.is_object() && token.contains("id") && token["id"].is_number_integer() &&
            token.contains("content") && token["content"].is_string())
          tokens[token["id"].get<int64_t>()] = token["content"].get<std::string>();
      }
    }
  }
  return tokens;
}

std::string human_bytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = double(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) value /= 1024, ++unit;
  return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.2f} {}", value, units[unit]);
}

std::string human_count(int64_t count) {
  if (count >= 1'000'000'000) return fmt::format("{:.2f} B", double(count) / 1e9);
  if (count >= 1'000'000) return fmt::format("{:.2f} M", double(count) / 1e6);
  if (count >= 1'000) return fmt::format("{:.2f} K", double(count) / 1e3);
  return std::to_string(count);
}

std::string join(const std::vector<std::string>& items, const char* separator) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? separator : "") + items[i];
  return out;
}

}  // namespace

ModelInfo describe_model(const std::string& model_dir, const ModelConfig& config,
                         const ModelWeights& weights) {
  ModelInfo info;
  info.model_dir = model_dir;
  info.config = config;
  info.files = weights.files();
  info.copied_for_alignment = weights.copied_for_alignment();
  info.lm_head_tied = weights.lm_head_tied();
  info.unused_tensors = weights.unused();

  std::map<std::string, ComponentInfo> by_name;
  std::map<std::string, std::set<std::string>> dtypes;
  for (const char* name : {"vision", "merger", "text", "lm_head"}) by_name[name].name = name;
  for (const auto& [name, tensor] : weights.all()) {
    if (name == "lm_head.weight" && info.lm_head_tied) continue;  // its bytes are the embedding's
    ComponentInfo& c = by_name[component_of(name)];
    c.tensors += 1;
    c.parameters += tensor.numel();
    c.bytes += tensor.nbytes();
    dtypes[c.name].insert(std::string(dtype_name(tensor.dtype())));
  }
  for (const char* name : {"vision", "merger", "text", "lm_head"}) {
    ComponentInfo c = by_name[name];
    c.dtypes.assign(dtypes[name].begin(), dtypes[name].end());
    info.total_parameters += c.parameters;
    info.total_bytes += c.bytes;
    info.components.push_back(std::move(c));
  }

  const Tensor& embed = weights.get("model.language_model.embed_tokens.weight");
  info.kv_dtype = std::string(dtype_name(embed.dtype()));
  const TextConfig& t = config.text;
  const uint64_t kv_elements =
      2 * uint64_t(t.num_hidden_layers) * uint64_t(t.num_key_value_heads) * uint64_t(t.head_dim);
  info.kv_bytes_per_token = kv_elements * dtype_size(embed.dtype());
  info.kv_bytes_per_token_f32 = kv_elements * sizeof(float);

  const std::map<int64_t, std::string> texts = added_tokens(fs::path(model_dir));
  auto add = [&](const std::string& role, int64_t id) {
    auto it = texts.find(id);
    info.special_tokens.push_back({role, id, it == texts.end() ? "" : it->second});
  };
  add("image", config.image_token_id);
  add("image_start", config.image_start_token_id);
  add("image_end", config.image_end_token_id);
  add("video", config.video_token_id);
  add("video_start", config.video_start_token_id);
  add("video_end", config.video_end_token_id);
  for (int64_t id : config.generation.eos_token_ids) add("eos", id);
  if (config.generation.pad_token_id) add("pad", *config.generation.pad_token_id);
  return info;
}

std::string info_to_json(const ModelInfo& info) {
  const ModelConfig& c = info.config;
  Json out;
  out["model_dir"] = info.model_dir;
  out["model_type"] = c.model_type;
  out["architecture"] = c.architecture;
  out["declared_dtype"] = c.torch_dtype;
  out["files"] = info.files;
  out["tensors_copied_for_alignment"] = info.copied_for_alignment;
  Json components = Json::object();
  for (const ComponentInfo& comp : info.components)
    components[comp.name] = {{"tensors", comp.tensors},
                             {"parameters", comp.parameters},
                             {"bytes", comp.bytes},
                             {"dtypes", comp.dtypes}};
  components["lm_head"]["tied_to_embed_tokens"] = info.lm_head_tied;
  out["components"] = components;
  out["total_parameters"] = info.total_parameters;
  out["total_bytes"] = info.total_bytes;
  out["text"] = {{"layers", c.text.num_hidden_layers},
                 {"hidden_size", c.text.hidden_size},
                 {"intermediate_size", c.text.intermediate_size},
                 {"attention_heads", c.text.num_attention_heads},
                 {"kv_heads", c.text.num_key_value_heads},
                 {"head_dim", c.text.head_dim},
                 {"vocab_size", c.text.vocab_size},
                 {"rope_theta", c.text.rope_theta},
                 {"rotary_dim", c.text.rotary_dim()},
                 {"mrope_section", c.text.mrope_section}};
  out["vision"] = {{"depth", c.vision.depth},
                   {"hidden_size", c.vision.hidden_size},
                   {"heads", c.vision.num_heads},
                   {"patch_size", c.vision.patch_size},
                   {"temporal_patch_size", c.vision.temporal_patch_size},
                   {"spatial_merge_size", c.vision.spatial_merge_size},
                   {"image_size", c.vision.image_size},
                   {"out_hidden_size", c.vision.out_hidden_size}};
  out["max_context"] = c.text.max_position_embeddings;
  Json special = Json::array();
  for (const SpecialTokenInfo& token : info.special_tokens) {
    Json entry = {{"role", token.role}, {"id", token.id}};
    entry["text"] = token.text.empty() ? Json(nullptr) : Json(token.text);
    special.push_back(entry);
  }
  out["special_tokens"] = special;
  out["kv_cache"] = {{"dtype", info.kv_dtype},
                     {"bytes_per_token", info.kv_bytes_per_token},
                     {"bytes_per_token_f32", info.kv_bytes_per_token_f32}};
  Json generation = Json::object();
  if (c.generation.temperature) generation["temperature"] = *c.generation.temperature;
  if (c.generation.top_p) generation["top_p"] = *c.generation.top_p;
  if (c.generation.top_k) generation["top_k"] = *c.generation.top_k;
  if (c.generation.do_sample) generation["do_sample"] = *c.generation.do_sample;
  out["generation_defaults"] = generation;
  out["unused_tensors"] = info.unused_tensors;
  return out.dump(2);
}

std::string info_to_text(const ModelInfo& info) {
  const ModelConfig& c = info.config;
  std::string out;
  auto line = [&](const std::string& key, const std::string& value) {
    out += fmt::format("{:<15} {}\n", key, value);
  };
  line("model", info.model_dir);
  line("architecture", fmt::format("{} (model_type {})", c.architecture, c.model_type));
  line("declared dtype", c.torch_dtype.empty() ? "(none)" : c.torch_dtype);
  std::vector<std::string> names;
  for (const auto& f : info.files) names.push_back(std::filesystem::path(f).filename().string());
  line("files", fmt::format("{} ({} tensors copied for alignment, the rest zero-copy)",
                            join(names, ", "), info.copied_for_alignment));
  out += "\n";
  out += fmt::format("{:<10} {:>8} {:>12} {:>12}  {}\n", "component", "tensors", "parameters",
                     "bytes", "dtypes");
  for (const ComponentInfo& comp : info.components) {
    if (comp.name == "lm_head" && info.lm_head_tied) {
      out += fmt::format("{:<10} {:>8} {:>12} {:>12}  tied to embed_tokens (counted in text)\n",
                         comp.name, 0, 0, "0 B");
      continue;
    }
    out +=
        fmt::format("{:<10} {:>8} {:>12} {:>12}  {}\n", comp.name, comp.tensors,
                    human_count(comp.parameters), human_bytes(comp.bytes), join(comp.dtypes, ","));
  }
  out += fmt::format("{:<10} {:>8} {:>12} {:>12}\n\n", "total", "",
                     human_count(info.total_parameters), human_bytes(info.total_bytes));
  const TextConfig& t = c.text;
  line("text decoder",
       fmt::format("{} layers, hidden {}, MLP {}, {} heads ({} KV) x head_dim {}, vocab {}",
                   t.num_hidden_layers, t.hidden_size, t.intermediate_size, t.num_attention_heads,
                   t.num_key_value_heads, t.head_dim, t.vocab_size));
  line("rope", fmt::format("theta {}, M-RoPE sections [{}] over {} of {} dims", t.rope_theta,
                           fmt::join(t.mrope_section, ", "), t.rotary_dim(), t.head_dim));
  const VisionConfig& v = c.vision;
  line("vision",
       fmt::format("{} blocks, hidden {}, {} heads, patch {} (temporal {}), merge {}x{} -> {}",
                   v.depth, v.hidden_size, v.num_heads, v.patch_size, v.temporal_patch_size,
                   v.spatial_merge_size, v.spatial_merge_size, v.out_hidden_size));
  line("max context",
       fmt::format("{} tokens (max_position_embeddings)", t.max_position_embeddings));
  line("KV cache",
       fmt::format("{} bytes/token in {} ({} in F32) = 2 x {} layers x {} KV heads x {}",
                   info.kv_bytes_per_token, info.kv_dtype, info.kv_bytes_per_token_f32,
                   t.num_hidden_layers, t.num_key_value_heads, t.head_dim));
  std::vector<std::string> tokens;
  for (const SpecialTokenInfo& token : info.special_tokens)
    tokens.push_back(token.text.empty()
                         ? fmt::format("{} {}", token.role, token.id)
                         : fmt::format("{} {} {}", token.role, token.id, token.text));
  line("special tokens", join(tokens, "; "));
  std::vector<std::string> gen;
  if (c.generation.do_sample) gen.push_back(fmt::format("do_sample {}", *c.generation.do_sample));
  if (c.generation.temperature)
    gen.push_back(fmt::format("temperature {}", *c.generation.temperature));
  if (c.generation.top_p) gen.push_back(fmt::format("top_p {}", *c.generation.top_p));
  if (c.generation.top_k) gen.push_back(fmt::format("top_k {}", *c.generation.top_k));
  line("sampling", gen.empty() ? "(no defaults)" : join(gen, ", "));
  line("unused tensors",
       info.unused_tensors.empty()
           ? "none"
           : fmt::format("{}: {}", info.unused_tensors.size(), join(info.unused_tensors, ", ")));
  return out;
}

}  // namespace glimpse::model
