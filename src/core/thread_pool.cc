#include "core/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <memory>

namespace glimpse {
namespace {
int g_global_threads = 0;
// Set while a thread runs a chunk, so a nested parallel_for runs inline instead of deadlocking.
thread_local bool t_in_pool_job = false;
}  // namespace

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& w : workers_) w.join();
}

ThreadPool& ThreadPool::global() {
  static ThreadPool pool(g_global_threads);
  return pool;
}

void ThreadPool::set_global_threads(int threads) {
  g_global_threads = threads;
}

void ThreadPool::run_chunks() {
  for (;;) {
    int64_t chunk;
    const std::function<void(int64_t, int64_t)>* job;
    {
      std::lock_guard lock(mutex_);
      if (!job_ || next_chunk_ * job_chunk_ >= job_n_) return;
      chunk = next_chunk_++;
      job = job_;
    }
    const int64_t begin = chunk * job_chunk_;
    const int64_t end = std::min(job_n_, begin + job_chunk_);
    try {
      t_in_pool_job = true;
      (*job)(begin, end);
      t_in_pool_job = false;
    } catch (...) {
      t_in_pool_job = false;
      std::lock_guard lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
    std::lock_guard lock(mutex_);
    if (--chunks_left_ == 0) done_.notify_all();
  }
}

void ThreadPool::worker_loop() {
  uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
    }
    run_chunks();
  }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain,
                              const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  const int64_t max_chunks = std::max<int64_t>(1, n / grain);
  const int64_t chunks = std::min<int64_t>(max_chunks, int64_t(size()) * 4);
  if (chunks <= 1 || workers_.empty() || t_in_pool_job) {
    fn(0, n);
    return;
  }
  std::lock_guard call(call_mutex_);
  {
    std::lock_guard lock(mutex_);
    job_ = &fn;
    job_n_ = n;
    job_chunk_ = (n + chunks - 1) / chunks;
    next_chunk_ = 0;
    chunks_left_ = (n + job_chunk_ - 1) / job_chunk_;
    error_ = nullptr;
    ++generation_;
  }
  wake_.notify_all();
  run_chunks();
  std::exception_ptr error;
  {
    std::unique_lock lock(mutex_);
    done_.wait(lock, [&] { return chunks_left_ == 0; });
    job_ = nullptr;
    error = error_;
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace glimpse
