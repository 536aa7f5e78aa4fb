// Clean stop on SIGINT / SIGTERM for every binary of the suite.
#pragma once

#include <functional>

namespace suite {

// Blocks SIGINT and SIGTERM in the calling thread (and so in every thread it starts
// afterwards) and returns a function that waits for one of them and returns its number.
// Call it first in main, before any thread starts.
std::function<int()> block_stop_signals();

}  // namespace suite
