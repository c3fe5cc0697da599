#include "io/tokenizer_bpe.h"

#include <mutex>
#include <queue>

namespace glimpse::io {
namespace {

constexpr size_t kMaxCachedWordBytes = 256;
constexpr size_t kMaxCachedWords = 1 << 17;

uint64_t pair_key(int32_t left, int32_t right) {
  return (uint64_t{static_cast<uint32_t>(left)} << 32) | static_cast<uint32_t>(right);
}

}  // namespace

BytePairEncoder::BytePairEncoder(BpeVocabulary vocabulary) : vocabulary_(std::move(vocabulary)) {
  merges_.reserve(vocabulary_.merges.size());
  for (size_t rank = 0; rank < vocabulary_.merges.size(); ++rank) {
    const BpeMerge& merge = vocabulary_.merges[rank];
    merges_.insert_or_assign(pair_key(merge.left, merge.right),
                             MergeResult{static_cast<int32_t>(rank), merge.merged});
  }
}

const BytePairEncoder::MergeResult* BytePairEncoder::find_merge(int32_t left, int32_t right) const {
  const auto it = merges_.find(pair_key(left, right));
  return it == merges_.end() ? nullptr : &it->second;
}

void BytePairEncoder::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  if (vocabulary_.ignore_merges) {
    if (const auto it = vocabulary_.words.find(word); it != vocabulary_.words.end()) {
      out.push_back(it->second);
      return;
    }
  }
  const bool cacheable = word.size() <= kMaxCachedWordBytes;
  if (cacheable) {
    std::shared_lock lock(cache_mutex_);
    if (const auto it = cache_.find(word); it != cache_.end()) {
      const int32_t* ids = cache_ids_.data() + it->second.offset;
      out.insert(out.end(), ids, ids + it->second.count);
      return;
    }
  }
  const size_t first = out.size();
  merge_word(word, out);
  if (!cacheable) return;
  std::unique_lock lock(cache_mutex_);
  if (cache_.size() >= kMaxCachedWords || cache_.contains(word)) return;
  cache_.emplace(std::string(word), CachedIds{static_cast<uint32_t>(cache_ids_.size()),
                                              static_cast<uint32_t>(out.size() - first)});
  cache_ids_.insert(cache_ids_.end(), out.begin() + static_cast<ptrdiff_t>(first), out.end());
}

void BytePairEncoder::merge_word(std::string_view word, std::vector<int32_t>& out) const {
  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
    bool alive;
  };
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  for (const char c : word) {
    const int32_t id = vocabulary_.byte_ids[static_cast<uint8_t>(c)];
    if (id < 0) {
      if (!vocabulary_.unk_id) continue;
      if (vocabulary_.fuse_unk && !symbols.empty() && symbols.back().id == *vocabulary_.unk_id)
        continue;
      symbols.push_back({*vocabulary_.unk_id, 0, 0, true});
    } else {
      symbols.push_back({id, 0, 0, true});
    }
  }
  const auto count = static_cast<int32_t>(symbols.size());
  for (int32_t i = 0; i < count; ++i) {
    symbols[i].prev = i - 1;
    symbols[i].next = i + 1 < count ? i + 1 : -1;
  }

  struct Candidate {
    int32_t rank;
    int32_t pos;  // index of the left symbol
    int32_t merged;
    bool operator>(const Candidate& other) const {
      return rank != other.rank ? rank > other.rank : pos > other.pos;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
  auto push_candidate = [&](int32_t pos) {
    if (pos < 0 || symbols[pos].next < 0) return;
    if (const MergeResult* m = find_merge(symbols[pos].id, symbols[symbols[pos].next].id))
      queue.push({m->rank, pos, m->merged});
  };
  for (int32_t i = 0; i + 1 < count; ++i) push_candidate(i);

  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.pos];
    if (!left.alive || left.next < 0) continue;
    // Entries go stale when a neighbour merged since they were queued.
    const MergeResult* current = find_merge(left.id, symbols[left.next].id);
    if (current == nullptr || current->merged != top.merged) continue;
    Symbol& right = symbols[left.next];
    left.id = top.merged;
    right.alive = false;
    left.next = right.next;
    if (left.next >= 0) symbols[left.next].prev = top.pos;
    push_candidate(left.prev);
    push_candidate(top.pos);
  }
  for (const Symbol& symbol : symbols)
    if (symbol.alive) out.push_back(symbol.id);
}

}  // namespace glimpse::io
