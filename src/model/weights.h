// The weights of one model directory: every tensor the architecture needs, checked for presence,
// dtype and exact shape against the config before anything runs. Tensors are zero-copy views into
// the memory-mapped safetensors file(s).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "model/config.h"

namespace glimpse::model {

class ModelWeights {
 public:
  // Loads DIR/model.safetensors or DIR/model.safetensors.index.json (sharded). Names are
  // canonicalised to the transformers 5.x spelling ("model.visual.*", "model.language_model.*",
  // "lm_head.weight"); the older top-level spelling ("visual.*", "model.layers.*") is accepted.
  // With tie_word_embeddings and no lm_head.weight, "lm_head.weight" aliases the embedding.
  static ModelWeights load(const std::string& model_dir, const ModelConfig& config);

  // Throws Error(kNotFound) naming the tensor.
  const Tensor& get(const std::string& name) const;
  bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
  const std::map<std::string, Tensor>& all() const { return tensors_; }
  // Tensors in the files that the architecture does not use (reported, not fatal), as spelled in
  // the files. A checkpoint lm_head.weight always wins over tying, as in transformers 5.17.
  const std::vector<std::string>& unused() const { return unused_; }
  // The safetensors files read, in order.
  const std::vector<std::string>& files() const { return files_; }
  // True when lm_head.weight is the embedding (tied, and the files hold no lm_head of their own).
  bool lm_head_tied() const { return lm_head_tied_; }
  // Tensors whose bytes were not aligned to their dtype in the file, so were copied; all others
  // are zero-copy views into the read-only memory map (never write through them).
  int64_t copied_for_alignment() const { return copied_for_alignment_; }

 private:
  std::map<std::string, Tensor> tensors_;
  std::vector<std::string> unused_;
  std::vector<std::string> files_;
  bool lm_head_tied_ = false;
  int64_t copied_for_alignment_ = 0;
};

// The transformers 5.x spelling of a weight name: "visual.X" -> "model.visual.X", and
// "model.X" (neither visual nor language_model) -> "model.language_model.X".
std::string canonical_weight_name(const std::string& name);

// The tensors the architecture needs for `config`: canonical name → shape. The single source of
// truth for loading checks, `glimpse info` and tools that write model directories.
std::map<std::string, Shape> expected_tensors(const ModelConfig& config);

}  // namespace glimpse::model
