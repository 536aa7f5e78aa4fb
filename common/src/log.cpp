#include "suite/log.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>

namespace suite {
namespace {

std::atomic<int> g_level{static_cast<int>(log_level::info)};
// Written once at start-up, before any other thread logs.
std::string g_service = "suite";

const char* level_name(log_level l) {
  switch (l) {
    case log_level::debug:
      return "debug";
    case log_level::info:
      return "info";
    case log_level::warn:
      return "warn";
    case log_level::error:
      return "error";
  }
  return "info";
}

// Values with spaces, quotes or '=' are quoted so a line stays machine-splittable.
void append_value(std::string& out, std::string_view v) {
  bool plain = !v.empty();
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || c == '\n' || c == '\\') {
      plain = false;
      break;
    }
  }
  if (plain) {
    out.append(v);
    return;
  }
  out.push_back('"');
  for (char c : v) {
    if (c == '"' || c == '\\') out.push_back('\\');
    if (c == '\n') {
      out.append("\\n");
      continue;
    }
    out.push_back(c);
  }
  out.push_back('"');
}

}  // namespace

bool parse_log_level(std::string_view text, log_level& out) {
  for (auto l : {log_level::debug, log_level::info, log_level::warn, log_level::error}) {
    if (text == level_name(l)) {
      out = l;
      return true;
    }
  }
  return false;
}

void set_log_level(log_level level) { g_level.store(static_cast<int>(level)); }
void set_log_service(std::string_view service) { g_service = service; }
bool log_enabled(log_level level) {
  return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}

std::string iso8601_utc(std::int64_t unix_ms) {
  std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char out[64];
  std::snprintf(out, sizeof out, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(unix_ms % 1000));
  return out;
}

void log(log_level level, std::string_view event, std::initializer_list<log_field> fields) {
  if (!log_enabled(level)) return;
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::string line;
  line.reserve(128);
  line.append("ts=").append(iso8601_utc(ms)).append(" level=").append(level_name(level));
  line.append(" service=").append(g_service).append(" msg=");
  append_value(line, event);
  for (const auto& [key, value] : fields) {
    line.push_back(' ');
    line.append(key).push_back('=');
    append_value(line, value);
  }
  line.push_back('\n');
  // One write per line: POSIX keeps writes under PIPE_BUF whole on pipes.
  auto rc = ::write(STDERR_FILENO, line.data(), line.size());
  (void)rc;
}

}  // namespace suite
