// Loads the safetensors of a model directory and checks every tensor the architecture needs
// (names, shapes and biases as modeling_glm4v.py builds them in transformers 5.17).
#include "model/weights.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.h"
#include "model/safetensors.h"

namespace glimpse::model {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr const char* kSingleFile = "model.safetensors";
constexpr const char* kIndexFile = "model.safetensors.index.json";
constexpr const char* kEmbedTokens = "model.language_model.embed_tokens.weight";
constexpr const char* kLmHead = "lm_head.weight";
constexpr std::uintmax_t kMaxIndexBytes = 64u << 20;

bool starts_with(const std::string& s, std::string_view prefix) {
  return s.rfind(prefix, 0) == 0;
}

// The shard file names of an index, in order of first appearance, each with one tensor it holds
// (for error messages). Shard names must be plain file names inside the model directory.
std::vector<std::pair<std::string, std::string>> read_index(
    const fs::path& path, std::map<std::string, std::string>* map) {
  std::error_code ec;
  if (fs::file_size(path, ec) > kMaxIndexBytes)
    fail(ErrorKind::kLimitExceeded, "{}: larger than {} bytes", kIndexFile, kMaxIndexBytes);
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::kIo, "{}: cannot open", path.string());
  std::ostringstream text;
  text << in.rdbuf();
  const Json root = Json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) fail(ErrorKind::kCorrupt, "{}: invalid JSON", kIndexFile);
  if (!root.is_object() || !root.contains("weight_map") || !root["weight_map"].is_object())
    fail(ErrorKind::kCorrupt, "{}: weight_map: expected an object of tensor name -> shard file",
         kIndexFile);
  std::vector<std::pair<std::string, std::string>> shards;
  std::set<std::string> seen;
  for (const auto& [name, shard] : root["weight_map"].items()) {
    if (!shard.is_string())
      fail(ErrorKind::kCorrupt, "{}: weight_map.{}: expected a file name, got {}", kIndexFile, name,
           shard.type_name());
    const std::string file = shard.get<std::string>();
    if (file.empty() || file == "." || file == ".." || file.find('/') != std::string::npos ||
        file.find('\\') != std::string::npos)
      fail(ErrorKind::kCorrupt, "{}: weight_map.{}: '{}' is not a file name in the model directory",
           kIndexFile, name, file);
    (*map)[name] = file;
    if (seen.insert(file).second) shards.emplace_back(file, name);
  }
  if (shards.empty()) fail(ErrorKind::kCorrupt, "{}: weight_map is empty", kIndexFile);
  return shards;
}

struct Found {
  const SafetensorsFile* file;
  const SafetensorsEntry* entry;
};

std::string file_name(const SafetensorsFile& file) {
  return fs::path(file.path()).filename().string();
}

void check_weight_dtype(const Found& found) {
  const DType dtype = found.entry->dtype;
  if (is_float_weight(dtype)) return;
  const std::string where =
      fmt::format("{}: tensor '{}'", file_name(*found.file), found.entry->name);
  if (dtype == DType::kF8E4M3 || dtype == DType::kF8E5M2 || dtype == DType::kF64)
    fail(ErrorKind::kUnsupported,
         "{}: dtype {} is not supported yet (weights must be F32, BF16 or F16)", where,
         dtype_name(dtype));
  fail(ErrorKind::kCorrupt,
       "{}: dtype {} is not a floating-point weight type (expected F32, BF16 or F16)", where,
       dtype_name(dtype));
}

std::string list_names(const std::vector<std::string>& names) {
  constexpr size_t kShown = 5;
  std::string text;
  for (size_t i = 0; i < names.size() && i < kShown; ++i)
    text += (i ? ", '" : "'") + names[i] + "'";
  if (names.size() > kShown) text += fmt::format(" and {} more", names.size() - kShown);
  return text;
}

}  // namespace

std::string canonical_weight_name(const std::string& name) {
  // The Qwen2-VL-era layout transformers still converts: visual.* at top level, the text model
  // directly under model.*.
  if (starts_with(name, "visual.")) return "model." + name;
  if (starts_with(name, "model.") && !starts_with(name, "model.visual.") &&
      !starts_with(name, "model.language_model."))
    return "model.language_model." + name.substr(6);
  return name;
}

std::map<std::string, Shape> expected_tensors(const ModelConfig& config) {
  std::map<std::string, Shape> out;
  const VisionConfig& v = config.vision;
  const std::string vis = "model.visual.";
  const int64_t grid = v.image_size / v.patch_size;
  out[vis + "embeddings.position_embedding.weight"] = {grid * grid, v.hidden_size};
  out[vis + "patch_embed.proj.weight"] = {v.hidden_size, v.in_channels, v.temporal_patch_size,
                                          v.patch_size, v.patch_size};
  out[vis + "patch_embed.proj.bias"] = {v.hidden_size};
  out[vis + "post_conv_layernorm.weight"] = {v.hidden_size};
  for (int64_t i = 0; i < v.depth; ++i) {
    const std::string b = vis + "blocks." + std::to_string(i) + ".";
    out[b + "norm1.weight"] = {v.hidden_size};
    out[b + "norm2.weight"] = {v.hidden_size};
    out[b + "attn.qkv.weight"] = {3 * v.hidden_size, v.hidden_size};
    if (v.attention_bias) out[b + "attn.qkv.bias"] = {3 * v.hidden_size};
    out[b + "attn.proj.weight"] = {v.hidden_size, v.hidden_size};
    // The blocks' MLP width is out_hidden_size (Glm4VisionMlp), not intermediate_size.
    out[b + "mlp.gate_proj.weight"] = {v.out_hidden_size, v.hidden_size};
    out[b + "mlp.up_proj.weight"] = {v.out_hidden_size, v.hidden_size};
    out[b + "mlp.down_proj.weight"] = {v.hidden_size, v.out_hidden_size};
  }
  out[vis + "post_layernorm.weight"] = {v.hidden_size};
  out[vis + "downsample.weight"] = {v.out_hidden_size, v.hidden_size, v.spatial_merge_size,
                                    v.spatial_merge_size};
  out[vis + "downsample.bias"] = {v.out_hidden_size};
  const std::string merger = vis + "merger.";
  out[merger + "proj.weight"] = {v.out_hidden_size, v.out_hidden_size};
  out[merger + "post_projection_norm.weight"] = {v.out_hidden_size};
  out[merger + "post_projection_norm.bias"] = {v.out_hidden_size};
  out[merger + "gate_proj.weight"] = {v.intermediate_size, v.out_hidden_size};
  out[merger + "up_proj.weight"] = {v.intermediate_size, v.out_hidden_size};
  out[merger + "down_proj.weight"] = {v.out_hidden_size, v.intermediate_size};

  const TextConfig& t = config.text;
  const std::string text = "model.language_model.";
  const int64_t q_dim = t.num_attention_heads * t.head_dim,
                kv_dim = t.num_key_value_heads * t.head_dim;
  out[text + "embed_tokens.weight"] = {t.vocab_size, t.hidden_size};
  for (int64_t i = 0; i < t.num_hidden_layers; ++i) {
    const std::string l = text + "layers." + std::to_string(i) + ".";
    out[l + "input_layernorm.weight"] = {t.hidden_size};
    out[l + "self_attn.q_proj.weight"] = {q_dim, t.hidden_size};
    out[l + "self_attn.q_proj.bias"] = {q_dim};
    out[l + "self_attn.k_proj.weight"] = {kv_dim, t.hidden_size};
    out[l + "self_attn.k_proj.bias"] = {kv_dim};
    out[l + "self_attn.v_proj.weight"] = {kv_dim, t.hidden_size};
    out[l + "self_attn.v_proj.bias"] = {kv_dim};
    out[l + "self_attn.o_proj.weight"] = {t.hidden_size, q_dim};
    out[l + "post_self_attn_layernorm.weight"] = {t.hidden_size};
    out[l + "post_attention_layernorm.weight"] = {t.hidden_size};
    out[l + "mlp.gate_up_proj.weight"] = {2 * t.intermediate_size, t.hidden_size};
    out[l + "mlp.down_proj.weight"] = {t.hidden_size, t.intermediate_size};
    out[l + "post_mlp_layernorm.weight"] = {t.hidden_size};
  }
  out[text + "norm.weight"] = {t.hidden_size};
  out[kLmHead] = {t.vocab_size, t.hidden_size};
  return out;
}

ModelWeights ModelWeights::load(const std::string& model_dir, const ModelConfig& config) {
  const fs::path dir(model_dir);
  std::error_code ec;
  ModelWeights weights;
  std::vector<SafetensorsFile> files;
  std::map<std::string, std::string> index;  // tensor name (as written) -> shard, when sharded
  if (fs::exists(dir / kSingleFile, ec)) {
    files.push_back(SafetensorsFile::open((dir / kSingleFile).string()));
  } else if (fs::exists(dir / kIndexFile, ec)) {
    for (const auto& [shard, example] : read_index(dir / kIndexFile, &index)) {
      if (!fs::exists(dir / shard, ec))
        fail(ErrorKind::kNotFound, "{}: shard '{}' (holding '{}') is missing from {}", kIndexFile,
             shard, example, model_dir);
      files.push_back(SafetensorsFile::open((dir / shard).string()));
    }
  } else {
    fail(ErrorKind::kNotFound, "{}: neither {} nor {} is there", model_dir, kSingleFile,
         kIndexFile);
  }

  std::map<std::string, Found> found;  // canonical name -> where it is
  for (const SafetensorsFile& file : files) {
    weights.files_.push_back(file.path());
    for (const SafetensorsEntry& entry : file.entries()) {
      auto [it, inserted] = found.emplace(canonical_weight_name(entry.name), Found{&file, &entry});
      if (!inserted)
        fail(ErrorKind::kCorrupt, "{}: tensor '{}' is also in {} as '{}'", file_name(file),
             entry.name, file_name(*it->second.file), it->second.entry->name);
    }
  }
  for (const auto& [name, shard] : index) {
    auto it = found.find(canonical_weight_name(name));
    if (it == found.end() || file_name(*it->second.file) != shard || it->second.entry->name != name)
      fail(ErrorKind::kCorrupt, "{}: tensor '{}' is listed in shard '{}' but is not in it",
           kIndexFile, name, shard);
  }

  std::vector<std::string> missing;
  for (const auto& [name, shape] : expected_tensors(config)) {
    auto it = found.find(name);
    if (it == found.end()) {
      // As transformers does: tie only when the checkpoint has no lm_head of its own.
      if (name == kLmHead && config.tie_word_embeddings) continue;
      missing.push_back(name);
      continue;
    }
    const Found& source = it->second;
    check_weight_dtype(source);
    if (source.entry->shape != shape)
      fail(ErrorKind::kCorrupt, "{}: tensor '{}': shape {}, but the config needs {}",
           file_name(*source.file), source.entry->name, shape_string(source.entry->shape),
           shape_string(shape));
    bool copied = false;
    weights.tensors_[name] = source.file->tensor(*source.entry, &copied);
    weights.copied_for_alignment_ += copied ? 1 : 0;
  }
  if (!missing.empty())
    fail(ErrorKind::kNotFound, "{}: {} tensor(s) the config needs are missing: {}", model_dir,
         missing.size(), list_names(missing));
  if (!weights.tensors_.count(kLmHead)) {
    weights.tensors_[kLmHead] = weights.tensors_.at(kEmbedTokens);
    weights.lm_head_tied_ = true;
  }
  for (const auto& [name, source] : found)
    if (!weights.tensors_.count(name) || (name == kLmHead && weights.lm_head_tied_))
      weights.unused_.push_back(source.entry->name);
  return weights;
}

const Tensor& ModelWeights::get(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) fail(ErrorKind::kNotFound, "weight '{}' is not loaded", name);
  return it->second;
}

}  // namespace glimpse::model
