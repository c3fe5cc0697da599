// glimpse._core: the C++ engine for Python (notebooks, scripts). Python only builds the request and
// reads the result; image decoding, preprocessing and generation run in C++ with the GIL released.
// The statistics the %glimpse_timeit magic prints come from bench/ (the code `glimpse bench` uses).
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/runner.h"
#include "bench/sla.h"
#include "bench/stats.h"
#include "core/error.h"
#include "core/paths.h"
#include "engine/cpu_threads.h"
#include "engine/generator.h"
#include "io/image_decode.h"
#include "io/image_preprocess.h"
#include "io/prompt.h"
#include "model/glm4v.h"

namespace py = pybind11;

namespace glimpse::python {
namespace {

using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

// An image as Python handed it over, copied out of Python objects while the GIL is held.
using ImageSource = std::variant<io::PreparedImage, std::vector<uint8_t>, io::RgbImage>;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// HxWx3 uint8, C-contiguous (NumPy arrays; PIL images arrive as NumPy views in Python).
io::RgbImage rgb_from_buffer(const py::buffer& buffer) {
  const py::buffer_info info = buffer.request();
  if (info.ndim != 3 || info.shape[2] != 3 ||
      info.format != py::format_descriptor<uint8_t>::format())
    fail(ErrorKind::kInvalidArgument, "an image array must be HxWx3 uint8 (RGB); got {}-d '{}'",
         info.ndim, info.format);
  if (info.strides[2] != 1 || info.strides[1] != 3 || info.strides[0] != info.shape[1] * 3)
    fail(ErrorKind::kInvalidArgument, "an image array must be C-contiguous");
  if (info.shape[0] < 1 || info.shape[1] < 1)
    fail(ErrorKind::kInvalidArgument, "an image array must not be empty");
  io::RgbImage image;
  image.height = int32_t(info.shape[0]);
  image.width = int32_t(info.shape[1]);
  const auto* data = static_cast<const uint8_t*>(info.ptr);
  image.pixels.assign(data, data + info.size);
  return image;
}

ImageSource image_source(const py::handle& item) {
  if (py::isinstance<io::PreparedImage>(item)) return item.cast<io::PreparedImage>();
  if (py::isinstance<py::bytes>(item)) {
    const std::string_view bytes = item.cast<std::string_view>();
    return std::vector<uint8_t>(bytes.begin(), bytes.end());
  }
  if (py::isinstance<py::buffer>(item)) return rgb_from_buffer(item.cast<py::buffer>());
  fail(ErrorKind::kInvalidArgument,
       "an image must be encoded bytes, an HxWx3 uint8 array or a "
       "prepared image");
}

// "cpu"/"cuda" and None/"bf16"/"f16"/"f32" as model::LoadOptions.
model::LoadOptions load_options(const std::string& device, const std::optional<std::string>& dtype) {
  model::LoadOptions options;
  if (device == "cuda") options.device = Device::kCUDA;
  else if (device != "cpu")
    fail(ErrorKind::kInvalidArgument, "device must be 'cpu' or 'cuda', got '{}'", device);
  if (dtype) {
    DType parsed;
    const std::string upper = *dtype == "bf16" ? "BF16" : *dtype == "f16" ? "F16"
                              : *dtype == "f32"  ? "F32" : "";
    if (upper.empty() || !parse_dtype(upper, &parsed))
      fail(ErrorKind::kInvalidArgument, "dtype must be 'bf16', 'f16' or 'f32', got '{}'", *dtype);
    options.matrix_dtype = parsed;
  }
  return options;
}

// One loaded model directory: prompt builder, weights, generator.
class Engine {
 public:
  Engine(const std::string& model_dir, const std::string& device,
         const std::optional<std::string>& dtype)
      : prompts_(model_dir),
        model_(model::Glm4vModel::load(model_dir, load_options(device, dtype))),
        generator_(*model_, prompts_),
        default_sampling_(engine::default_sampling(model_->config().generation)) {}

  io::PreparedImage prepare(const ImageSource& source) const {
    if (const auto* prepared = std::get_if<io::PreparedImage>(&source)) return *prepared;
    if (const auto* encoded = std::get_if<std::vector<uint8_t>>(&source))
      return prompts_.prepare_image(*encoded);
    const auto& rgb = std::get<io::RgbImage>(source);
    io::PreparedImage prepared = io::preprocess_image(rgb, prompts_.image_config());
    prepared.content_hash = io::sha256_hex(rgb.pixels);
    return prepared;
  }

  // Messages whose image parts stand for `images`, in order; images not yet prepared are prepared
  // here, inside the preprocessing time.
  engine::GenerationResult generate_with_images(const io::PromptRequest& request,
                                                const std::vector<ImageSource>& images,
                                                const engine::GenerationParams& params,
                                                const engine::TokenCallback& on_token) const {
    const auto start = Clock::now();
    std::vector<io::PreparedImage> prepared;
    prepared.reserve(images.size());
    for (size_t i = 0; i < images.size(); ++i)
      prepared.push_back(
          with_context(fmt::format("image {}", i), [&] { return prepare(images[i]); }));
    const io::Prompt prompt = prompts_.build(request, std::move(prepared));
    return generator_.generate(prompt, params, on_token, ms_since(start));
  }

  // OpenAI messages with image URLs or local paths (relative to `base_dir`).
  engine::GenerationResult chat(const io::PromptRequest& request, const std::string& base_dir,
                                const engine::GenerationParams& params,
                                const engine::TokenCallback& on_token) const {
    io::MediaPolicy media;
    media.allow_local_paths = true;
    media.base_dir = base_dir;
    return generator_.generate(request, media, params, on_token);
  }

  const engine::SamplingParams& default_sampling() const { return default_sampling_; }
  int64_t context_limit() const { return generator_.context_limit(); }

 private:
  io::PromptBuilder prompts_;
  std::unique_ptr<model::Glm4vModel> model_;
  engine::Generator generator_;
  engine::SamplingParams default_sampling_;
};

struct Request {
  io::PromptRequest prompt;
  engine::GenerationParams params;
};

Request make_request(const Engine& engine, const std::string& messages_json,
                     const std::string& template_kwargs_json, std::optional<int64_t> max_tokens,
                     std::optional<double> temperature, std::optional<double> top_p,
                     std::optional<uint64_t> seed) {
  Request r;
  try {
    r.prompt.messages = Json::parse(messages_json);
    r.prompt.template_kwargs = Json::parse(template_kwargs_json);
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::kInvalidArgument, "messages are not JSON-serialisable: {}", e.what());
  }
  engine::SamplingParams& s = r.params.sampling;
  s = engine.default_sampling();
  if (temperature) s.temperature = *temperature;
  if (top_p) s.top_p = *top_p;
  if (seed) s.seed = *seed;
  engine::validate(s);
  if (max_tokens && *max_tokens < 1)
    fail(ErrorKind::kInvalidArgument, "max_tokens must be at least 1, got {}", *max_tokens);
  r.params.max_tokens = max_tokens;
  return r;
}

// Streams text pieces to a Python callable; the GIL is taken only for the call itself.
engine::TokenCallback text_callback(const std::optional<py::function>& on_text) {
  if (!on_text) return {};
  return [fn = *on_text](const engine::TokenEvent& event) {
    if (event.text.empty()) return;
    py::gil_scoped_acquire gil;
    fn(py::str(event.text));
  };
}

py::dict timings_dict(const engine::Timings& t) {
  py::dict d;
  d["queue"] = t.queue_ms;
  d["preprocess"] = t.preprocess_ms;
  d["vision"] = t.vision_ms;
  d["prefill"] = t.prefill_ms;
  d["ttft"] = t.ttft_ms;
  d["decode"] = t.decode_ms;
  d["decode_per_token"] = py::cast(t.decode_ms_per_token());
  d["total"] = t.total_ms;
  return d;
}

void bind_engine(py::module_& m) {
  py::class_<io::PreparedImage>(m, "PreparedImage",
                                "An image decoded, resized and patchified for the model")
      .def_property_readonly(
          "grid", [](const io::PreparedImage& p) { return py::make_tuple(p.t, p.h, p.w); })
      .def_readonly("num_tokens", &io::PreparedImage::num_tokens)
      .def_readonly("content_hash", &io::PreparedImage::content_hash)
      .def("__repr__", [](const io::PreparedImage& p) {
        return fmt::format("<glimpse.PreparedImage grid=({}, {}, {}) tokens={}>", p.t, p.h, p.w,
                           p.num_tokens);
      });

  py::class_<engine::GenerationResult>(m, "GenerationResult")
      .def_readonly("text", &engine::GenerationResult::text)
      .def_property_readonly("token_ids",
                             [](const engine::GenerationResult& r) {
                               std::vector<int32_t> ids;
                               for (const auto& t : r.tokens) ids.push_back(t.token_id);
                               return ids;
                             })
      .def_readonly("prompt_ids", &engine::GenerationResult::prompt_ids)
      .def_readonly("image_tokens", &engine::GenerationResult::image_tokens)
      .def_property_readonly("finish_reason",
                             [](const engine::GenerationResult& r) {
                               return std::string(engine::to_string(r.finish_reason));
                             })
      .def_property_readonly(
          "timings", [](const engine::GenerationResult& r) { return timings_dict(r.timings); });

  py::class_<Engine>(m, "Engine")
      .def(py::init<const std::string&, const std::string&, const std::optional<std::string>&>(),
           py::arg("model_dir"), py::arg("device") = "cpu", py::arg("dtype") = py::none(),
           py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("context_limit", &Engine::context_limit)
      .def(
          "prepare",
          [](const Engine& e, const py::object& image) {
            const ImageSource source = image_source(image);
            py::gil_scoped_release release;
            return e.prepare(source);
          },
          py::arg("image"))
      .def(
          "generate",
          [](const Engine& e, const std::string& messages_json, const py::list& images,
             const std::string& template_kwargs_json, std::optional<int64_t> max_tokens,
             std::optional<double> temperature, std::optional<double> top_p,
             std::optional<uint64_t> seed, std::optional<py::function> on_text) {
            const Request r = make_request(e, messages_json, template_kwargs_json, max_tokens,
                                           temperature, top_p, seed);
            std::vector<ImageSource> sources;
            for (const auto& item : images) sources.push_back(image_source(item));
            const engine::TokenCallback callback = text_callback(on_text);
            py::gil_scoped_release release;
            return e.generate_with_images(r.prompt, sources, r.params, callback);
          },
          py::arg("messages_json"), py::arg("images"), py::arg("template_kwargs_json") = "{}",
          py::arg("max_tokens") = py::none(), py::arg("temperature") = py::none(),
          py::arg("top_p") = py::none(), py::arg("seed") = py::none(),
          py::arg("on_text") = py::none())
      .def(
          "chat",
          [](const Engine& e, const std::string& messages_json, const std::string& base_dir,
             const std::string& template_kwargs_json, std::optional<int64_t> max_tokens,
             std::optional<double> temperature, std::optional<double> top_p,
             std::optional<uint64_t> seed, std::optional<py::function> on_text) {
            const Request r = make_request(e, messages_json, template_kwargs_json, max_tokens,
                                           temperature, top_p, seed);
            const engine::TokenCallback callback = text_callback(on_text);
            py::gil_scoped_release release;
            return e.chat(r.prompt, base_dir, r.params, callback);
          },
          py::arg("messages_json"), py::arg("base_dir"), py::arg("template_kwargs_json") = "{}",
          py::arg("max_tokens") = py::none(), py::arg("temperature") = py::none(),
          py::arg("top_p") = py::none(), py::arg("seed") = py::none(),
          py::arg("on_text") = py::none());

  m.def("set_cpu_threads", &engine::set_cpu_threads, py::arg("threads"),
        "Compute threads for the whole process (<= 0: one per hardware thread); before loading");
  m.def("default_model_dir", &default_model_dir);
#ifdef GLIMPSE_WITH_CUDA
  m.attr("built_with_cuda") = true;
#else
  m.attr("built_with_cuda") = false;
#endif
}

void bind_stats(py::module_& m) {
  py::class_<bench::Summary>(m, "Summary")
      .def_readonly("count", &bench::Summary::count)
      .def_readonly("min", &bench::Summary::min)
      .def_readonly("max", &bench::Summary::max)
      .def_readonly("mean", &bench::Summary::mean)
      .def_readonly("stddev", &bench::Summary::stddev)
      .def_readonly("p50", &bench::Summary::p50)
      .def_readonly("p90", &bench::Summary::p90)
      .def_readonly("p95", &bench::Summary::p95)
      .def_readonly("p99", &bench::Summary::p99);
  m.def("summarize", &bench::summarize, py::arg("samples"));

  py::class_<bench::TimeitResult>(m, "TimeitResult")
      .def(py::init([](int64_t loops, std::vector<double> repeat_seconds) {
             if (loops < 1 || repeat_seconds.empty())
               fail(ErrorKind::kInvalidArgument, "a timeit result needs loops >= 1 and a repeat");
             return bench::TimeitResult{loops, std::move(repeat_seconds)};
           }),
           py::arg("loops"), py::arg("repeat_seconds"))
      .def_readonly("loops", &bench::TimeitResult::loops)
      .def_readonly("repeat_seconds", &bench::TimeitResult::repeat_seconds)
      .def_property_readonly("best", &bench::TimeitResult::best_per_loop)
      .def_property_readonly("worst", &bench::TimeitResult::worst_per_loop)
      .def_property_readonly("average", &bench::TimeitResult::mean_per_loop)
      .def_property_readonly("stdev", &bench::TimeitResult::stddev_per_loop)
      .def("ipython_line", &bench::TimeitResult::ipython_line)
      .def("best_line", &bench::TimeitResult::best_line)
      .def("caching_warning", &bench::TimeitResult::caching_warning)
      .def("__str__", &bench::TimeitResult::ipython_line);

  m.def("choose_loops", &bench::choose_loops, py::arg("time_loops"), py::arg("min_seconds") = 0.2,
        "IPython's choice of loops per repeat when -n is omitted");
  m.def(
      "evaluate_sla",
      [](const std::string& spec, const std::map<std::string, double>& measured) {
        const auto verdicts = bench::evaluate_sla(
            bench::parse_sla(spec), [&](const std::string& metric) -> std::optional<double> {
              const auto it = measured.find(metric);
              if (it == measured.end()) return std::nullopt;
              return it->second;
            });
        std::vector<py::tuple> rows;
        for (const auto& v : verdicts)
          rows.push_back(py::make_tuple(v.clause.text, v.measured, v.pass));
        return rows;
      },
      py::arg("spec"), py::arg("measured"),
      "glimpse bench's --sla clauses against measured values (seconds for durations): "
      "[(clause, measured or None, passed)]");
  m.def("format_duration", &bench::format_duration, py::arg("seconds"), py::arg("precision") = 3);
  m.def("peak_rss_bytes", &bench::peak_rss_bytes);
  m.def("reset_peak_rss", &bench::reset_peak_rss);
}

}  // namespace
}  // namespace glimpse::python

PYBIND11_MODULE(_core, m) {
  m.doc() = "glimpse's C++ engine (see the glimpse package for the Python API)";
  static py::exception<glimpse::Error> error(m, "Error");
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const glimpse::Error& e) {
      error(e.what());
    }
  });
  glimpse::python::bind_engine(m);
  glimpse::python::bind_stats(m);
}
