#include "engine/cpu_threads.h"

#include <cblas.h>

#include <algorithm>
#include <thread>

#include "core/thread_pool.h"

namespace glimpse::engine {

void set_cpu_threads(int threads) {
  const int count = threads > 0 ? threads : int(std::max(1u, std::thread::hardware_concurrency()));
  ThreadPool::set_global_threads(count);
  openblas_set_num_threads(count);
}

}  // namespace glimpse::engine
