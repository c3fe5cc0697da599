// `glimpse bench --model DIR`: requests go straight to an engine Scheduler in this process (the
// same continuous-batching engine `glimpse serve` runs), so no HTTP or JSON is timed.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "bench/runner.h"
#include "engine/generator.h"
#include "engine/scheduler.h"
#include "io/prompt.h"
#include "model/glm4v.h"

namespace glimpse::bench {

struct RequestShape {
  std::string prompt = "Describe the image.";
  int64_t max_tokens = 32;
  bool ignore_eos = false;
  // Sampling in place of the model's defaults (its generation_config.json) where set.
  std::optional<double> temperature, top_p;
  bool cold_cache = false;          // caches emptied / defeated for every request
  bool include_preprocess = false;  // decode + preprocess the image inside each timed request
};

// How the in-process engine is set up: where the model runs and how large its KV pool is.
struct EngineSetup {
  model::LoadOptions load;
  size_t kv_cache_bytes = size_t(1) << 30;
  int64_t max_step_tokens = 0;  // the scheduler's default when 0
};

class InProcessBackend : public Backend {
 public:
  InProcessBackend(const std::string& model_dir, RequestShape shape, EngineSetup setup = {});
  ~InProcessBackend() override;
  double load_ms() const { return load_ms_; }

  void begin_point(const PointSpec& point) override;
  std::function<RequestSample()> prepare(int64_t index) override;

 private:
  io::PromptRequest request_for(const PointSpec& point) const;
  RequestSample submit_and_wait(io::Prompt prompt, double preprocess_ms) const;

  RequestShape shape_;
  EngineSetup setup_;
  io::PromptBuilder prompts_;
  std::unique_ptr<model::Glm4vModel> model_;
  engine::GenerationParams params_;
  double load_ms_ = 0;
  PointSpec point_;
  io::Prompt prepared_;  // built once per point unless preprocessing is timed
  std::unique_ptr<engine::Scheduler> scheduler_;
};

}  // namespace glimpse::bench
