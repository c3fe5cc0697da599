// full_size_parity: glimpse on the full-size GLM-4.6V-Flash-shaped random model against the
// transformers reference cases of tools/device/peer/reference.py (bf16, sdpa, GPU). Not a ctest
// test: it needs the 20 GB model and the cases, which only exist on the device machine
// (tools/device/model_check.sh runs it).
//
//   full_size_parity [--model /root/glm46v-random] [--cases /root/peer-cases] [--device cuda|cpu]
//                    [--dtype bf16|f32|checkpoint] [--markdown FILE] [--json FILE]
//
// The network is fed the reference's own input_ids and pixel_values (glimpse's preprocessing parity
// is the golden tests' business), and per case it checks:
//   * M-RoPE positions equal to the reference's get_rope_index (exact);
//   * first-step logits within rel. L2 --logits-tolerance (3e-2) of the reference's;
//   * teacher forcing: fed the reference's greedy tokens, glimpse's argmax equals the reference's
//     token at the steps whose reference top-1/top-2 margin is >= --margin (0.1); over all cases at
//     least --agreement (95 %) of those steps must agree.
// Vision embeddings (once per image) are reported against the reference's get_image_features.
// Prints a table; exit 0 when everything passes, 1 when a check fails, 3/5 on bad input or errors.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "model/glm4v.h"
#include "parity_util.h"

namespace glimpse::model {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

struct Options {
  std::string model = "/root/glm46v-random";
  std::string cases = "/root/peer-cases";
  std::string device = "cuda";
  std::string dtype = "bf16";
  double logits_tolerance = 3e-2;
  double margin = 0.1;
  double agreement = 0.95;
  int limit = 0;
  std::string markdown, json;
};

struct Row {
  std::string id, resolution;
  int64_t prompt_tokens = 0;
  bool positions_equal = false;
  double logits_rel_l2 = 0;
  int checked = 0, agreed = 0;
  std::vector<int> disagreements;  // steps
  double prefill_ms = 0, decode_ms = 0;
};

int run(const Options& o) {
  namespace fs = std::filesystem;
  LoadOptions load_options{.device = o.device == "cpu" ? Device::kCPU : Device::kCUDA};
  if (o.dtype == "bf16") load_options.matrix_dtype = DType::kBF16;
  if (o.dtype == "f32") load_options.matrix_dtype = DType::kF32;

  const auto load_start = Clock::now();
  const auto model = Glm4vModel::load(o.model, load_options);
  const double load_ms = ms_since(load_start);
  std::cout << fmt::format("loaded {} on {} ({} matrices) in {:.2f} s\n", o.model, o.device,
                           o.dtype, load_ms / 1e3);

  std::ifstream manifest_file(fs::path(o.cases) / "manifest.json");
  if (!manifest_file) fail(ErrorKind::kNotFound, "{}/manifest.json: cannot open", o.cases);
  const nlohmann::json manifest = nlohmann::json::parse(manifest_file);

  std::map<std::string, Tensor>
      vision_by_resolution;  // the image's embeddings, on the model's device
  std::map<std::string, double> vision_err;
  std::vector<Row> rows;
  for (const auto& entry : manifest.at("cases")) {
    if (o.limit > 0 && int(rows.size()) >= o.limit) break;
    Row row;
    row.id = entry.at("id");
    row.resolution = entry.at("resolution");
    const fs::path dir = fs::path(o.cases) / row.id;
    const std::vector<int32_t> ids = parity::read_ids(dir / "input_ids.npy");
    row.prompt_tokens = int64_t(ids.size());
    const Tensor grid_thw = read_npy(dir / "image_grid_thw.npy");
    const int64_t* g = grid_thw.data<int64_t>();
    const ImageGrid grid{g[0], g[1], g[2]};

    const MropePositions positions = model->rope_positions(ids, {grid});
    const Tensor expected_positions = read_npy(dir / "position_ids.npy");
    row.positions_equal =
        positions.positions.shape() == expected_positions.shape() &&
        std::equal(positions.positions.data<int64_t>(),
                   positions.positions.data<int64_t>() + expected_positions.numel(),
                   expected_positions.data<int64_t>());

    auto& vision = vision_by_resolution[row.resolution];
    if (!vision.defined()) {
      const Tensor pixels = read_npy(dir / "pixel_values.npy");
      vision = model->encode_images({{pixels, grid}});
      vision_err[row.resolution] = parity::relative_l2(
          vision, read_npy(fs::path(o.cases) / "images" / row.resolution / "vision_embeds.npy"));
    }

    const Tensor expected_logits = read_npy(dir / "logits.npy");
    const Tensor tokens = read_npy(dir / "tokens.npy");
    const Tensor margins = read_npy(dir / "margins.npy");
    const int64_t steps = tokens.numel();
    KvCache cache = model->new_cache(int64_t(ids.size()) + steps);

    auto check_step = [&](const Tensor& logits, int64_t step) {
      const double margin = margins.data<float>()[step];
      if (margin < o.margin) return;
      const Tensor host = parity::host_f32(logits);
      const parity::Top2 top = parity::top2(host.data<float>(), host.numel());
      ++row.checked;
      if (top.first == tokens.data<int64_t>()[step])
        ++row.agreed;
      else
        row.disagreements.push_back(int(step));
    };

    auto start = Clock::now();
    const Tensor logits = model->forward(ids, positions.positions, &vision, cache);
    row.logits_rel_l2 = parity::relative_l2(logits, expected_logits);
    row.prefill_ms = ms_since(start);
    check_step(logits, 0);
    start = Clock::now();
    for (int64_t step = 1; step < steps; ++step) {
      const std::vector<int32_t> token = {int32_t(tokens.data<int64_t>()[step - 1])};
      const Tensor next = model->forward(
          token, parity::decode_position(positions.next_position + step - 1), nullptr, cache);
      check_step(next, step);
    }
    row.decode_ms = steps > 1 ? ms_since(start) / double(steps - 1) : 0;
    std::cout << fmt::format("  {:<22} {:>5} tokens  logits rel L2 {:.2e}  agree {}/{}\n", row.id,
                             row.prompt_tokens, row.logits_rel_l2, row.agreed, row.checked)
              << std::flush;
    rows.push_back(std::move(row));
  }
  if (rows.empty()) fail(ErrorKind::kNotFound, "{}/manifest.json lists no cases", o.cases);

  int checked = 0, agreed = 0, positions_bad = 0, logits_bad = 0;
  double worst = 0;
  for (const Row& r : rows) {
    checked += r.checked;
    agreed += r.agreed;
    positions_bad += !r.positions_equal;
    logits_bad += !(r.logits_rel_l2 <= o.logits_tolerance);
    worst = std::max(worst, r.logits_rel_l2);
  }
  const double agreement = checked ? double(agreed) / checked : 0;
  const bool pass =
      positions_bad == 0 && logits_bad == 0 && checked > 0 && agreement >= o.agreement;

  std::string md = fmt::format(
      "# glimpse full-size parity: {} ({} matrices on {}) vs transformers ({})\n\n"
      "Model load {:.2f} s. Inputs: the reference's input_ids and pixel_values. Greedy: teacher "
      "forcing, steps with reference margin >= {}.\n\n"
      "| case | prompt tokens | positions | logits rel. L2 | top-1 agree | disagreeing steps | "
      "prefill ms | decode ms/step |\n|---|---|---|---|---|---|---|---|\n",
      o.model, o.dtype, o.device, manifest.value("compute", std::string("?")), load_ms / 1e3,
      o.margin);
  for (const Row& r : rows) {
    std::string bad;
    for (int s : r.disagreements) bad += (bad.empty() ? "" : ",") + std::to_string(s);
    md += fmt::format("| {} | {} | {} | {:.2e}{} | {}/{} | {} | {:.1f} | {:.2f} |\n", r.id,
                      r.prompt_tokens, r.positions_equal ? "equal" : "DIFFER", r.logits_rel_l2,
                      r.logits_rel_l2 <= o.logits_tolerance ? "" : " FAIL", r.agreed, r.checked,
                      bad.empty() ? "-" : bad, r.prefill_ms, r.decode_ms);
  }
  md += "\n| image | vision embeddings rel. L2 |\n|---|---|\n";
  for (const auto& [resolution, err] : vision_err)
    md += fmt::format("| {} | {:.2e} |\n", resolution, err);
  md += fmt::format(
      "\n**{}**: {} cases; positions equal in {}/{}; first-step logits rel. L2 worst {:.2e} "
      "(limit {:.0e}, {} over); top-1 agreement {}/{} = {:.1f} % of the steps with margin >= {} "
      "(required {:.0f} %).\n",
      pass ? "PASS" : "FAIL", rows.size(), rows.size() - size_t(positions_bad), rows.size(), worst,
      o.logits_tolerance, logits_bad, agreed, checked, 100 * agreement, o.margin,
      100 * o.agreement);
  std::cout << "\n" << md;
  if (!o.markdown.empty()) std::ofstream(o.markdown) << md;
  if (!o.json.empty()) {
    nlohmann::json j = {{"pass", pass},
                        {"model", o.model},
                        {"dtype", o.dtype},
                        {"device", o.device},
                        {"load_s", load_ms / 1e3},
                        {"worst_logits_rel_l2", worst},
                        {"agreement", agreement},
                        {"checked", checked},
                        {"agreed", agreed},
                        {"vision_rel_l2", vision_err},
                        {"cases", nlohmann::json::array()}};
    for (const Row& r : rows)
      j["cases"].push_back({{"id", r.id},
                            {"prompt_tokens", r.prompt_tokens},
                            {"positions_equal", r.positions_equal},
                            {"logits_rel_l2", r.logits_rel_l2},
                            {"checked", r.checked},
                            {"agreed", r.agreed},
                            {"disagreements", r.disagreements},
                            {"prefill_ms", r.prefill_ms},
                            {"decode_ms", r.decode_ms}});
    std::ofstream(o.json) << j.dump(1) << "\n";
  }
  return pass ? 0 : 1;
}

}  // namespace
}  // namespace glimpse::model

int main(int argc, char** argv) {
  glimpse::model::Options o;
  CLI::App app{"glimpse on the full-size random model vs the transformers reference cases"};
  app.add_option("--model", o.model, "Model directory")->capture_default_str();
  app.add_option("--cases", o.cases, "reference.py output directory")->capture_default_str();
  app.add_option("--device", o.device, "cuda or cpu")
      ->check(CLI::IsMember({"cuda", "cpu"}))
      ->capture_default_str();
  app.add_option("--dtype", o.dtype, "Weight matrices: bf16, f32, or checkpoint (no conversion)")
      ->check(CLI::IsMember({"bf16", "f32", "checkpoint"}))
      ->capture_default_str();
  app.add_option("--logits-tolerance", o.logits_tolerance, "First-step logits rel. L2 limit")
      ->capture_default_str();
  app.add_option("--margin", o.margin, "Compare greedy tokens where the reference margin >= this")
      ->capture_default_str();
  app.add_option("--agreement", o.agreement, "Required top-1 agreement over compared steps")
      ->capture_default_str();
  app.add_option("--limit", o.limit, "Only the first N cases (0: all)");
  app.add_option("--markdown", o.markdown, "Write the table here");
  app.add_option("--json", o.json, "Write every number here");
  CLI11_PARSE(app, argc, argv);
  try {
    return glimpse::model::run(o);
  } catch (const glimpse::Error& e) {
    std::cerr << "full_size_parity: " << e.what() << "\n";
    return glimpse::exit_code_for(e.kind());
  } catch (const std::exception& e) {
    std::cerr << "full_size_parity: " << e.what() << "\n";
    return glimpse::kExitInternal;
  }
}
