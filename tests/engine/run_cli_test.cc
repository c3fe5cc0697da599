// `glimpse run` as a user runs it: the JSON output for a golden image case is checked field by
// field and against transformers 5.17 (golden_compare.h tolerances); text mode streams the same
// answer; bad input exits with the documented code and a message naming the problem.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "golden_compare.h"

namespace glimpse::engine {
namespace {

namespace fs = std::filesystem;
using engine::testing::golden_dir;
using engine::testing::read_json_file;
using nlohmann::json;

struct Outcome {
  int exit_code = -1;
  std::string out, err;
};

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string shell_quoted(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

class RunCliTest : public ::testing::Test {
 protected:
  fs::path dir =
      fs::temp_directory_path() / ("glimpse_run_cli_" + std::to_string(::getpid()) + "_" +
                                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
  void SetUp() override { fs::create_directories(dir); }
  void TearDown() override { fs::remove_all(dir); }

  Outcome run(const std::string& args) const {
    const std::string command = shell_quoted(std::string(GLIMPSE_BINARY_DIR) + "/glimpse") +
                                " run " + args + " --threads 1 >" +
                                shell_quoted((dir / "out").string()) + " 2>" +
                                shell_quoted((dir / "err").string());
    const int status = std::system(command.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_text(dir / "out"),
            read_text(dir / "err")};
  }

  static std::string model(const std::string& name) {
    return shell_quoted((golden_dir() / "models" / name).string());
  }
};

json find_case(const std::string& id) {
  const json manifest = read_json_file(golden_dir() / "manifest.json");
  for (const auto& entry : manifest.at("cases"))
    if (entry.at("id") == id) return entry;
  throw std::runtime_error("golden case " + id + " missing");
}

TEST_F(RunCliTest, JsonOutputForAGoldenImageCase) {
  const json entry = find_case("image_odd_a");  // tiny-a, one image, enable_thinking undefined
  ASSERT_TRUE(entry.at("enable_thinking").is_null());
  // The messages file names images relative to itself; the golden one names them relative to
  // tests/golden, so write a copy with absolute paths.
  json messages = read_json_file(golden_dir() / entry.at("messages").get<std::string>());
  for (auto& message : messages)
    if (message.at("content").is_array())
      for (auto& part : message.at("content"))
        if (part.at("type") == "image_url")
          part["image_url"]["url"] =
              (golden_dir() / part["image_url"]["url"].get<std::string>()).string();
  std::ofstream(dir / "messages.json") << messages.dump();

  const Outcome r =
      run("--model " + model("tiny-a") + " --messages " +
          shell_quoted((dir / "messages.json").string()) +
          " --temperature 0 --max-tokens 16 --ignore-eos --logprobs 20 --format json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json body = json::parse(r.out);

  EXPECT_EQ(body.at("object"), "chat.completion");
  EXPECT_EQ(body.at("id").get<std::string>().rfind("chatcmpl-", 0), 0u);
  EXPECT_EQ(body.at("model"), "tiny-a");
  EXPECT_GT(body.at("created").get<int64_t>(), 1'600'000'000);
  const json& choice = body.at("choices").at(0);
  EXPECT_EQ(choice.at("index"), 0);
  EXPECT_EQ(choice.at("finish_reason"), "length");
  EXPECT_EQ(choice.at("message").at("role"), "assistant");
  EXPECT_TRUE(choice.at("message").at("content").is_string());

  const auto input_ids = engine::testing::read_int64_npy(
      golden_dir() / entry.at("files").at("input_ids").get<std::string>());
  EXPECT_EQ(body.at("prompt_token_ids").get<std::vector<int64_t>>(), input_ids);
  const int64_t image_token = read_json_file(golden_dir() / "manifest.json")
                                  .at("special_token_ids")
                                  .at("<|image|>")
                                  .get<int64_t>();
  const json& usage = body.at("usage");
  EXPECT_EQ(usage.at("prompt_tokens"), int64_t(input_ids.size()));
  EXPECT_EQ(usage.at("image_tokens"), std::count(input_ids.begin(), input_ids.end(), image_token));
  EXPECT_GT(usage.at("image_tokens").get<int64_t>(), 0);
  EXPECT_EQ(usage.at("completion_tokens"), 16);
  EXPECT_EQ(usage.at("total_tokens"), int64_t(input_ids.size()) + 16);

  const json& t = body.at("timings");
  for (const char* key : {"preprocess", "vision", "prefill", "ttft", "decode_per_token", "total"})
    EXPECT_GE(t.at(key).get<double>(), 0.0) << key;
  EXPECT_GE(t.at("ttft").get<double>(),
            t.at("prefill").get<double>() + t.at("vision").get<double>());
  EXPECT_GE(t.at("total").get<double>(), t.at("ttft").get<double>());

  const json& content = choice.at("logprobs").at("content");
  ASSERT_EQ(content.size(), 16u);
  std::vector<engine::testing::OurStep> steps;
  for (const auto& token : content) {
    engine::testing::OurStep step{token.at("token_id").get<int32_t>(), {}};
    EXPECT_TRUE(token.at("token").is_string());
    EXPECT_TRUE(token.at("bytes").is_array());
    const json& top = token.at("top_logprobs");
    ASSERT_EQ(top.size(), 20u);
    // Greedy: the chosen token is the most likely one, with the same logprob.
    EXPECT_EQ(top.at(0).at("token_id"), token.at("token_id"));
    EXPECT_DOUBLE_EQ(top.at(0).at("logprob").get<double>(), token.at("logprob").get<double>());
    for (const auto& alternative : top) {
      EXPECT_TRUE(alternative.at("token").is_string());
      step.logprobs[alternative.at("token_id").get<int32_t>()] =
          alternative.at("logprob").get<double>();
    }
    steps.push_back(std::move(step));
  }
  // Where every token matches the reference, the answer is the reference's decoded text.
  const json greedy =
      read_json_file(golden_dir() / entry.at("files").at("greedy").get<std::string>());
  std::vector<int32_t> ids;
  for (const auto& step : steps) ids.push_back(step.token_id);
  if (ids == greedy.at("tokens").get<std::vector<int32_t>>()) {
    EXPECT_EQ(choice.at("message").at("content"), greedy.at("text"));
  }
  EXPECT_GE(engine::testing::expect_matches_reference(greedy, steps, "glimpse run image_odd_a"), 1);
}

TEST_F(RunCliTest, TextModeStreamsTheSameAnswerAndEndsWithATimingLine) {
  const std::string args = "--model " + model("tiny-b") +
                           " --prompt 'Say something.' --system 'Be brief.' --no-think "
                           "--temperature 0 --max-tokens 8 --ignore-eos";
  const Outcome text = run(args);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  const Outcome as_json = run(args + " --format json");
  ASSERT_EQ(as_json.exit_code, 0) << as_json.err;
  const json body = json::parse(as_json.out);
  EXPECT_EQ(text.out,
            body.at("choices").at(0).at("message").at("content").get<std::string>() + "\n");
  EXPECT_NE(text.err.find("TTFT"), std::string::npos) << text.err;
  EXPECT_NE(text.err.find("tok/s"), std::string::npos) << text.err;
  EXPECT_EQ(std::count(text.err.begin(), text.err.end(), '\n'), 1) << text.err;
}

TEST_F(RunCliTest, DeviceAndDtypeFlags) {
  // Matrices converted to bf16 at load run on the CPU too.
  Outcome r = run("--model " + model("tiny-a") + " --prompt hi --max-tokens 2 --dtype bf16");
  EXPECT_EQ(r.exit_code, 0) << r.err;
#if GLIMPSE_WITH_CUDA
  GTEST_SKIP() << "this build has CUDA: --device cuda is checked on the device machine";
#else
  r = run("--model " + model("tiny-a") + " --prompt hi --device cuda");
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.err.find("--device cuda: this glimpse was built without CUDA"), std::string::npos)
      << r.err;
#endif
}

TEST_F(RunCliTest, BadInputExitsWithAMessageNotACrash) {
  Outcome r = run("--model " + model("tiny-a") + " --image " +
                  shell_quoted((dir / "missing.png").string()) + " --prompt 'What is this?'");
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("missing.png"), std::string::npos) << r.err;

  std::ofstream(dir / "not_an_image.png") << "plain text";
  r = run("--model " + model("tiny-a") + " --image " +
          shell_quoted((dir / "not_an_image.png").string()) + " --prompt 'What is this?'");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("glimpse: "), std::string::npos) << r.err;

  r = run("--model " + model("tiny-a") + " --prompt hi --messages x.json");
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("--messages"), std::string::npos) << r.err;

  r = run("--model " + model("tiny-a") + " --prompt hi --top-p 2 --format json");
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("top_p"), std::string::npos) << r.err;

  // tiny-a's context is 4096 tokens; 5000 words do not fit.
  std::string long_prompt;
  for (int i = 0; i < 5000; ++i) long_prompt += "word ";
  r = run("--model " + model("tiny-a") + " --prompt " + shell_quoted(long_prompt));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("limit exceeded"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("context"), std::string::npos) << r.err;

  r = run("--model " + shell_quoted((dir / "no_model").string()) + " --prompt hi");
  EXPECT_EQ(r.exit_code, 3) << r.err;

  // A well-formed config the engine does not implement: exit code 4 (unsupported), naming it.
  fs::copy(golden_dir() / "models" / "tiny-a", dir / "yarn_model");
  json config = read_json_file(dir / "yarn_model" / "config.json");
  config["text_config"]["rope_parameters"]["rope_type"] = "yarn";
  std::ofstream(dir / "yarn_model" / "config.json") << config.dump();
  r = run("--model " + shell_quoted((dir / "yarn_model").string()) + " --prompt hi");
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.err.find("rope_type"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace glimpse::engine
