// How many CPU threads compute uses: glimpse's own pool and OpenBLAS's, set together so neither
// oversubscribes the other. Call once, before the model is loaded or anything runs.
#pragma once

namespace glimpse::engine {

// threads <= 0: one per hardware thread.
void set_cpu_threads(int threads);

}  // namespace glimpse::engine
