// The start-up step every binary of the suite shares: read its settings (flags and
// SUITE_* variables), answer --help, stop on a bad setting with a log line naming it,
// take the log level from the "log-level" setting when declared, switch request
// metrics recording on or off from "metrics-recording" (declared here for every
// binary: true by default; false only to measure the cost of observing), and log
// every setting (secrets masked). Call once, from main, before any thread starts.
#pragma once

#include <optional>
#include <string_view>

#include "suite/config.hpp"

namespace suite {

// Returns an exit code when the process should end now (0 after --help, 2 on a bad
// setting); nothing when it should go on.
std::optional<int> start_settings(config& settings, std::string_view process, int argc,
                                  char** argv);

}  // namespace suite
