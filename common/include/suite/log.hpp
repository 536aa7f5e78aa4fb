// One-line structured logs: `ts=<iso8601> level=<lvl> service=<name> msg=<event> k=v ...`
// written to stderr with a single write(2) per line, so lines from different threads
// never interleave. Thread-safe; the level and service name are set once at start.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace suite {

enum class log_level { debug = 0, info = 1, warn = 2, error = 3 };

using log_field = std::pair<std::string_view, std::string>;

// Parses "debug" | "info" | "warn" | "error"; false on anything else.
bool parse_log_level(std::string_view text, log_level& out);
void set_log_level(log_level level);
void set_log_service(std::string_view service);
bool log_enabled(log_level level);

void log(log_level level, std::string_view event, std::initializer_list<log_field> fields = {});
inline void log_debug(std::string_view e, std::initializer_list<log_field> f = {}) {
  if (log_enabled(log_level::debug)) log(log_level::debug, e, f);
}
inline void log_info(std::string_view e, std::initializer_list<log_field> f = {}) {
  log(log_level::info, e, f);
}
inline void log_warn(std::string_view e, std::initializer_list<log_field> f = {}) {
  log(log_level::warn, e, f);
}
inline void log_error(std::string_view e, std::initializer_list<log_field> f = {}) {
  log(log_level::error, e, f);
}

// The time format of log lines, also the one the API's timestamps are written in:
// "2026-11-23T09:20:01.123Z" (UTC, milliseconds).
std::string iso8601_utc(std::int64_t unix_ms);

}  // namespace suite
