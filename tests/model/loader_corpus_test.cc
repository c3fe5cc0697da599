// The corrupted-file corpus (tests/model/corrupt/, written by make_corpus.py): every file must give
// exactly the error kind and message its row of expected_messages.tsv names, never a crash.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "loader_test_util.h"
#include "model/config.h"
#include "model/safetensors.h"

namespace glimpse::model {
namespace {

struct CorpusCase {
  std::string file, kind, message;
};

std::string corpus_dir() {
  return std::string(GLIMPSE_SOURCE_DIR) + "/tests/model/corrupt";
}

std::vector<CorpusCase> read_table() {
  std::ifstream in(corpus_dir() + "/expected_messages.tsv");
  std::vector<CorpusCase> cases;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    CorpusCase c;
    std::getline(fields, c.file, '\t');
    std::getline(fields, c.kind, '\t');
    std::getline(fields, c.message);
    cases.push_back(c);
  }
  return cases;
}

// Loads one corpus file the way the loader would meet it.
void load_case(const CorpusCase& c, const testing::ScratchDir& scratch) {
  const std::string path = corpus_dir() + "/" + c.file;
  if (c.file.ends_with(".safetensors")) {
    SafetensorsFile::open(path);
    return;
  }
  std::filesystem::copy_file(path, scratch.file("config.json"),
                             std::filesystem::copy_options::overwrite_existing);
  load_model_config(scratch.str());
}

TEST(LoaderCorpus, EveryCorruptFileGivesItsExpectedMessage) {
  const std::vector<CorpusCase> cases = read_table();
  ASSERT_GE(cases.size(), 30u) << "expected_messages.tsv is missing or short";
  testing::ScratchDir scratch;
  size_t files_in_dir = 0;
  for (const auto& entry : std::filesystem::directory_iterator(corpus_dir())) {
    const std::string name = entry.path().filename().string();
    files_in_dir += name.ends_with(".safetensors") || name.starts_with("config_");
  }
  EXPECT_EQ(files_in_dir, cases.size()) << "every corpus file needs a row in the table";

  for (const CorpusCase& c : cases) {
    SCOPED_TRACE(c.file);
    try {
      load_case(c, scratch);
      ADD_FAILURE() << c.file << " loaded without an error";
    } catch (const Error& e) {
      EXPECT_EQ(to_string(e.kind()), c.kind) << e.what();
      const std::string what = e.what();
      if (c.message.ends_with("*"))
        EXPECT_TRUE(what.starts_with(c.message.substr(0, c.message.size() - 1))) << what;
      else
        EXPECT_EQ(what, c.message);
    }
  }
}

}  // namespace
}  // namespace glimpse::model
