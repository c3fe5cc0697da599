// config.json / generation_config.json → ModelConfig, following configuration_glm4v.py,
// configuration_glm46v.py and modeling_rope_utils.py of transformers 5.17 for every default and for
// the 4.x spelling (rope_scaling + rope_theta + partial_rotary_factor) vs 5.x (rope_parameters).
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <optional>
#include <sstream>

#include "core/error.h"
#include "model/config.h"

namespace glimpse::model {
namespace {

using Json = nlohmann::json;

// Config files are a few KB; anything near this is not a config.
constexpr std::uintmax_t kMaxConfigBytes = 16u << 20;
// Upper bound for every size in the config: keeps products of sizes far from int64 overflow.
constexpr int64_t kMaxSize = int64_t(1) << 24;
// Layer counts above this are refused before anything is sized by them (the largest GLM has 92).
constexpr int64_t kMaxLayers = 4096;

const char* json_kind(const Json& value) {
  switch (value.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::object:
      return "object";
    case Json::value_t::array:
      return "array";
    case Json::value_t::string:
      return "string";
    case Json::value_t::boolean:
      return "boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return "integer";
    case Json::value_t::number_float:
      return "number";
    default:
      return "unknown";
  }
}

Json parse_json_object(const std::string& text, const std::string& label) {
  Json root;
  try {
    root = Json::parse(text);
  } catch (const Json::exception& e) {
    std::string what = e.what();  // drop nlohmann's "[json.exception.parse_error.101] " tag
    if (const size_t pos = what.find("] "); pos != std::string::npos) what = what.substr(pos + 2);
    fail(ErrorKind::kCorrupt, "{}: invalid JSON: {}", label, what);
  }
  if (!root.is_object())
    fail(ErrorKind::kCorrupt, "{}: expected a JSON object, got {}", label, json_kind(root));
  return root;
}

Json read_json_file(const std::filesystem::path& path, const std::string& label) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    fail(ErrorKind::kNotFound, "{}: not found", path.string());
  if (std::filesystem::file_size(path, ec) > kMaxConfigBytes)
    fail(ErrorKind::kLimitExceeded, "{}: larger than {} bytes", label, kMaxConfigBytes);
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::kIo, "{}: cannot open", path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return parse_json_object(text.str(), label);
}

// Typed access to one JSON object; every error names the file and the JSON path of the field.
// A field set to null counts as absent, as transformers treats it.
class Fields {
 public:
  Fields(const Json& object, std::string file, std::string path)
      : object_(object), file_(std::move(file)), path_(std::move(path)) {}

  bool has(const char* key) const { return find(key) != nullptr; }
  bool is_explicit_null(const char* key) const {
    auto it = object_.find(key);
    return it != object_.end() && it->is_null();
  }

  Fields object(const char* key) const {
    const Json& v = require(key);
    if (!v.is_object()) type_error(key, "an object", v);
    return Fields(v, file_, where(key));
  }
  std::optional<Fields> object_opt(const char* key) const {
    if (!has(key)) return std::nullopt;
    return object(key);
  }

  std::optional<int64_t> int_opt(const char* key) const {
    const Json* v = find(key);
    if (!v) return std::nullopt;
    if (v->is_number_unsigned() && v->get<uint64_t>() > uint64_t(INT64_MAX))
      fail(ErrorKind::kCorrupt, "{}: {}: integer {} out of range", file_, where(key),
           v->get<uint64_t>());
    if (!v->is_number_integer()) type_error(key, "an integer", *v);
    return v->get<int64_t>();
  }
  int64_t int_or(const char* key, int64_t fallback) const {
    return int_opt(key).value_or(fallback);
  }

  // A dimension of the architecture: a positive integer no larger than kMaxSize.
  int64_t size(const char* key) const { return checked_size(key, int_opt(key), true, 0); }
  int64_t layer_count(const char* key) const {
    const int64_t value = size(key);
    if (value > kMaxLayers)
      fail(ErrorKind::kLimitExceeded, "{}: {}: {} layers exceeds the limit of {}", file_,
           where(key), value, kMaxLayers);
    return value;
  }
  int64_t size_or(const char* key, int64_t fallback) const {
    return checked_size(key, int_opt(key), false, fallback);
  }

  // A token id: a non-negative integer.
  std::optional<int64_t> token_id_opt(const char* key) const {
    std::optional<int64_t> id = int_opt(key);
    if (id && *id < 0)
      fail(ErrorKind::kCorrupt, "{}: {}: expected a token id (>= 0), got {}", file_, where(key),
           *id);
    return id;
  }
  int64_t token_id_or(const char* key, int64_t fallback) const {
    return token_id_opt(key).value_or(fallback);
  }
  // An id or a list of ids (eos_token_id is spelled both ways).
  std::optional<std::vector<int64_t>> token_ids_opt(const char* key) const {
    const Json* v = find(key);
    if (!v) return std::nullopt;
    if (!v->is_array()) return std::vector<int64_t>{*token_id_opt(key)};
    std::vector<int64_t> ids;
    for (size_t i = 0; i < v->size(); ++i) {
      const Json& item = (*v)[i];
      if (!item.is_number_integer() || item.get<int64_t>() < 0)
        fail(ErrorKind::kCorrupt, "{}: {}[{}]: expected a token id (>= 0), got {}", file_,
             where(key), i, item.dump());
      ids.push_back(item.get<int64_t>());
    }
    return ids;
  }

  std::optional<double> number_opt(const char* key) const {
    const Json* v = find(key);
    if (!v) return std::nullopt;
    if (!v->is_number()) type_error(key, "a number", *v);
    return v->get<double>();
  }
  double positive_number_or(const char* key, double fallback) const {
    const double value = number_opt(key).value_or(fallback);
    if (!(value > 0) || !std::isfinite(value))
      fail(ErrorKind::kCorrupt, "{}: {}: expected a positive number, got {}", file_, where(key),
           value);
    return value;
  }

  std::optional<bool> bool_opt(const char* key) const {
    const Json* v = find(key);
    if (!v) return std::nullopt;
    if (!v->is_boolean()) type_error(key, "a boolean", *v);
    return v->get<bool>();
  }

  std::optional<std::string> string_opt(const char* key) const {
    const Json* v = find(key);
    if (!v) return std::nullopt;
    if (!v->is_string()) type_error(key, "a string", *v);
    return v->get<std::string>();
  }
  std::string string_or(const char* key, const std::string& fallback) const {
    return string_opt(key).value_or(fallback);
  }
  std::string string(const char* key) const {
    require(key);
    return *string_opt(key);
  }

  std::optional<std::vector<int64_t>> int_list_opt(const char* key) const {
    const Json* v = find(key);
    if (!v) return std::nullopt;
    if (!v->is_array()) type_error(key, "an array of integers", *v);
    std::vector<int64_t> values;
    for (size_t i = 0; i < v->size(); ++i) {
      const Json& item = (*v)[i];
      if (!item.is_number_integer() || item.get<int64_t>() < 0 || item.get<int64_t>() > kMaxSize)
        fail(ErrorKind::kCorrupt, "{}: {}[{}]: expected an integer in [0, {}], got {}", file_,
             where(key), i, kMaxSize, item.dump());
      values.push_back(item.get<int64_t>());
    }
    return values;
  }

  std::string where(const char* key) const { return path_.empty() ? key : path_ + "." + key; }
  const std::string& file() const { return file_; }

 private:
  const Json* find(const char* key) const {
    auto it = object_.find(key);
    return it == object_.end() || it->is_null() ? nullptr : &*it;
  }
  const Json& require(const char* key) const {
    const Json* v = find(key);
    if (!v) fail(ErrorKind::kNotFound, "{}: {}: required field is missing", file_, where(key));
    return *v;
  }
  [[noreturn]] void type_error(const char* key, const char* expected, const Json& got) const {
    fail(ErrorKind::kCorrupt, "{}: {}: expected {}, got {}", file_, where(key), expected,
         json_kind(got));
  }
  int64_t checked_size(const char* key, std::optional<int64_t> value, bool required,
                       int64_t fallback) const {
    if (!value) {
      if (required) require(key);
      return fallback;
    }
    if (*value < 1 || *value > kMaxSize)
      fail(ErrorKind::kCorrupt, "{}: {}: expected an integer in [1, {}], got {}", file_, where(key),
           kMaxSize, *value);
    return *value;
  }

  const Json& object_;
  std::string file_, path_;
};

void require_silu(const Fields& fields, const std::string& act) {
  if (act != "silu")
    fail(ErrorKind::kUnsupported, "{}: {}: activation '{}' is not supported (GLM-4V uses silu)",
         fields.file(), fields.where("hidden_act"), act);
}

// The rotary parameters of the text decoder. 5.x writes them all in rope_parameters; 4.x writes
// rope_scaling (with "type" and mrope_section) and rope_theta / partial_rotary_factor beside it.
// As in RotaryEmbeddingConfigMixin, a value inside the dict wins over the one beside it.
void read_text_rope(const Fields& text, TextConfig& out) {
  const char* dict_key = text.has("rope_scaling") ? "rope_scaling" : "rope_parameters";
  const std::optional<Fields> dict = text.object_opt(dict_key);

  std::string rope_type = "default";
  if (dict) rope_type = dict->string_or("rope_type", dict->string_or("type", "default"));
  if (rope_type != "default")
    fail(ErrorKind::kUnsupported, "{}: {}: rope type '{}' is not supported (only 'default' M-RoPE)",
         text.file(), dict->where("rope_type"), rope_type);

  auto theta = dict ? dict->number_opt("rope_theta") : std::nullopt;
  out.rope_theta = theta ? dict->positive_number_or("rope_theta", 0)
                         : text.positive_number_or("rope_theta", 10000.0);
  auto factor = dict ? dict->number_opt("partial_rotary_factor") : std::nullopt;
  const Fields& factor_owner = factor ? *dict : text;
  out.partial_rotary_factor = factor_owner.positive_number_or("partial_rotary_factor", 1.0);
  if (out.partial_rotary_factor > 1.0)
    fail(ErrorKind::kCorrupt, "{}: {}: expected a value in (0, 1], got {}", text.file(),
         factor_owner.where("partial_rotary_factor"), out.partial_rotary_factor);

  const int64_t rotary_dim = out.rotary_dim();
  if (rotary_dim < 2 || rotary_dim % 2 != 0)
    fail(ErrorKind::kCorrupt,
         "{}: {}: head_dim {} x partial_rotary_factor {} gives a rotary dim of {}; it must be even "
         "and >= 2",
         text.file(), factor_owner.where("partial_rotary_factor"), out.head_dim,
         out.partial_rotary_factor, rotary_dim);

  out.mrope_section = {8, 12, 12};  // the reference's default
  if (dict) {
    if (auto section = dict->int_list_opt("mrope_section")) out.mrope_section = *section;
  }
  const int64_t sum =
      std::accumulate(out.mrope_section.begin(), out.mrope_section.end(), int64_t(0));
  if (out.mrope_section.size() != 3 || sum * 2 != rotary_dim)
    fail(ErrorKind::kCorrupt,
         "{}: {}.mrope_section: expected 3 sections (temporal, height, width) summing to "
         "rotary_dim / 2 = {}, got {} summing to {}",
         text.file(), text.where(dict_key), rotary_dim / 2, out.mrope_section.size(), sum);
}

TextConfig read_text_config(const Fields& text) {
  if (auto type = text.string_opt("model_type"); type && *type != "glm4v_text")
    fail(ErrorKind::kUnsupported, "{}: {}: '{}' is not supported (expected glm4v_text)",
         text.file(), text.where("model_type"), *type);
  TextConfig out;
  out.vocab_size = text.size("vocab_size");
  out.hidden_size = text.size("hidden_size");
  out.intermediate_size = text.size("intermediate_size");
  out.num_hidden_layers = text.layer_count("num_hidden_layers");
  out.num_attention_heads = text.size("num_attention_heads");
  // Glm4vTextConfig: absent means its class default 2; an explicit null means "as many as heads".
  out.num_key_value_heads = 2;
  if (text.has("num_key_value_heads"))
    out.num_key_value_heads = text.size("num_key_value_heads");
  else if (text.is_explicit_null("num_key_value_heads"))
    out.num_key_value_heads = out.num_attention_heads;
  if (out.hidden_size % out.num_attention_heads != 0)
    fail(ErrorKind::kCorrupt, "{}: {}: hidden_size {} is not a multiple of num_attention_heads {}",
         text.file(), text.where("hidden_size"), out.hidden_size, out.num_attention_heads);
  if (out.num_attention_heads % out.num_key_value_heads != 0)
    fail(ErrorKind::kCorrupt,
         "{}: {}: num_attention_heads {} is not a multiple of num_key_value_heads {}", text.file(),
         text.where("num_key_value_heads"), out.num_attention_heads, out.num_key_value_heads);
  // The reference's attention always uses hidden_size / heads; a different head_dim would only
  // reach its rotary embedding, an inconsistency we refuse rather than reproduce.
  out.head_dim = out.hidden_size / out.num_attention_heads;
  if (auto head_dim = text.int_opt("head_dim"); head_dim && *head_dim != out.head_dim)
    fail(ErrorKind::kUnsupported, "{}: {}: {} differs from hidden_size / num_attention_heads = {}",
         text.file(), text.where("head_dim"), *head_dim, out.head_dim);
  out.max_position_embeddings = text.size_or("max_position_embeddings", 32768);
  out.rms_norm_eps = text.positive_number_or("rms_norm_eps", 1e-5);
  out.hidden_act = text.string_or("hidden_act", "silu");
  require_silu(text, out.hidden_act);
  read_text_rope(text, out);
  return out;
}

VisionConfig read_vision_config(const Fields& vision) {
  if (auto type = vision.string_opt("model_type"); type && *type != "glm4v_vision")
    fail(ErrorKind::kUnsupported, "{}: {}: '{}' is not supported (expected glm4v_vision)",
         vision.file(), vision.where("model_type"), *type);
  VisionConfig out;
  out.depth = vision.layer_count("depth");
  out.hidden_size = vision.size("hidden_size");
  // Glm4vVisionConfig maps num_attention_heads onto num_heads; given both, the alias is applied
  // last and wins.
  out.num_heads = vision.has("num_attention_heads") ? vision.size("num_attention_heads")
                                                    : vision.size("num_heads");
  out.intermediate_size = vision.size("intermediate_size");
  out.out_hidden_size = vision.size("out_hidden_size");
  out.in_channels = vision.size_or("in_channels", 3);
  out.image_size = vision.size_or("image_size", 336);
  out.patch_size = vision.size_or("patch_size", 14);
  out.temporal_patch_size = vision.size_or("temporal_patch_size", 2);
  out.spatial_merge_size = vision.size_or("spatial_merge_size", 2);
  out.rms_norm_eps = vision.positive_number_or("rms_norm_eps", 1e-5);
  out.attention_bias = vision.bool_opt("attention_bias").value_or(false);
  out.hidden_act = vision.string_or("hidden_act", "silu");
  require_silu(vision, out.hidden_act);
  if (out.hidden_size % out.num_heads != 0)
    fail(ErrorKind::kCorrupt, "{}: {}: hidden_size {} is not a multiple of num_heads {}",
         vision.file(), vision.where("hidden_size"), out.hidden_size, out.num_heads);
  if (out.image_size < out.patch_size)
    fail(ErrorKind::kCorrupt, "{}: {}: image_size {} is smaller than patch_size {}", vision.file(),
         vision.where("image_size"), out.image_size, out.patch_size);
  std::optional<Fields> rope = vision.object_opt("rope_parameters");
  if (rope) {
    const std::string type = rope->string_or("rope_type", "axial");
    if (type != "axial" && type != "default")  // the reference turns "default" into "axial"
      fail(ErrorKind::kUnsupported, "{}: {}: rope type '{}' is not supported (only 'axial')",
           vision.file(), rope->where("rope_type"), type);
  }
  out.rope_theta = rope && rope->has("rope_theta")
                       ? rope->positive_number_or("rope_theta", 0)
                       : vision.positive_number_or("rope_theta", 10000.0);
  return out;
}

GenerationDefaults read_generation_config(const std::filesystem::path& path) {
  const std::string label = "generation_config.json";
  const Json root = read_json_file(path, label);
  const Fields gen(root, label, "");
  GenerationDefaults out;
  out.eos_token_ids = gen.token_ids_opt("eos_token_id").value_or(std::vector<int64_t>{});
  out.pad_token_id = gen.token_id_opt("pad_token_id");
  out.temperature = gen.number_opt("temperature");
  out.top_p = gen.number_opt("top_p");
  out.top_k = gen.int_opt("top_k");
  out.do_sample = gen.bool_opt("do_sample");
  if (out.temperature && *out.temperature < 0)
    fail(ErrorKind::kCorrupt, "{}: temperature: expected >= 0, got {}", label, *out.temperature);
  if (out.top_p && !(*out.top_p > 0 && *out.top_p <= 1))
    fail(ErrorKind::kCorrupt, "{}: top_p: expected a value in (0, 1], got {}", label, *out.top_p);
  if (out.top_k && *out.top_k < 0)
    fail(ErrorKind::kCorrupt, "{}: top_k: expected >= 0, got {}", label, *out.top_k);
  return out;
}

// `generation`: the contents of generation_config.json, when the directory has one.
ModelConfig config_from_json(const Json& root,
                             const std::optional<GenerationDefaults>& generation) {
  const std::string label = "config.json";
  const Fields top(root, label, "");

  ModelConfig config;
  config.model_type = top.string("model_type");
  const bool is_glm46v = config.model_type == "glm46v";
  if (config.model_type != "glm4v" && !is_glm46v)
    fail(ErrorKind::kUnsupported,
         "{}: model_type: '{}' is not supported (glimpse runs glm4v and glm46v)", label,
         config.model_type);
  config.architecture =
      is_glm46v ? "Glm46VForConditionalGeneration" : "Glm4vForConditionalGeneration";
  if (top.has("architectures")) {
    const Json& archs = root.at("architectures");
    if (!archs.is_array() || archs.empty() || !archs[0].is_string())
      fail(ErrorKind::kCorrupt, "{}: architectures: expected a non-empty array of strings", label);
    if (archs[0].get<std::string>() != config.architecture)
      fail(ErrorKind::kUnsupported,
           "{}: architectures: '{}' is not supported for model_type '{}' (expected {})", label,
           archs[0].get<std::string>(), config.model_type, config.architecture);
  }

  const Fields text = top.object("text_config");
  config.text = read_text_config(text);
  config.vision = read_vision_config(top.object("vision_config"));
  if (config.vision.out_hidden_size != config.text.hidden_size)
    fail(ErrorKind::kCorrupt,
         "{}: vision_config.out_hidden_size {} differs from text_config.hidden_size {}", label,
         config.vision.out_hidden_size, config.text.hidden_size);

  config.image_token_id = top.token_id_or("image_token_id", 151343);
  config.video_token_id = top.token_id_or("video_token_id", 151344);
  config.image_start_token_id = top.token_id_or("image_start_token_id", 151339);
  config.image_end_token_id = top.token_id_or("image_end_token_id", 151340);
  config.video_start_token_id =
      top.token_id_or("video_start_token_id", is_glm46v ? 151361 : 151341);
  config.video_end_token_id = top.token_id_or("video_end_token_id", is_glm46v ? 151362 : 151342);

  config.tie_word_embeddings = top.bool_opt("tie_word_embeddings").value_or(false);
  // Glm4vConfig (not Glm46VConfig) also ties when only the text config asks for it.
  if (!is_glm46v && text.bool_opt("tie_word_embeddings").value_or(false))
    config.tie_word_embeddings = true;

  // 5.x writes "dtype", 4.x "torch_dtype"; either may sit in text_config only.
  for (const Fields* fields : {&top, &text}) {
    for (const char* key : {"dtype", "torch_dtype"}) {
      if (config.torch_dtype.empty()) config.torch_dtype = fields->string_or(key, "");
    }
  }

  // eos/pad come from generation_config.json when present, else from the model config, as
  // GenerationConfig.from_model_config does.
  if (generation) config.generation = *generation;
  if (config.generation.eos_token_ids.empty()) {
    auto ids = text.token_ids_opt("eos_token_id");
    if (!ids) ids = top.token_ids_opt("eos_token_id");
    config.generation.eos_token_ids = ids.value_or(std::vector<int64_t>{});
  }
  if (!config.generation.pad_token_id)
    config.generation.pad_token_id = text.token_id_opt("pad_token_id");
  return config;
}

}  // namespace

ModelConfig parse_model_config(const std::string& config_json) {
  return config_from_json(parse_json_object(config_json, "config.json"), std::nullopt);
}

ModelConfig load_model_config(const std::string& model_dir) {
  const std::filesystem::path dir(model_dir);
  const Json root = read_json_file(dir / "config.json", "config.json");
  const std::filesystem::path gen_path = dir / "generation_config.json";
  std::error_code ec;
  std::optional<GenerationDefaults> generation;
  if (std::filesystem::exists(gen_path, ec)) generation = read_generation_config(gen_path);
  return config_from_json(root, generation);
}

}  // namespace glimpse::model
