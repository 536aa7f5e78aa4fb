#include "suite/start_settings.hpp"

#include <cstdio>
#include <string>

#include "suite/log.hpp"

extern char** environ;

namespace suite {

std::optional<int> start_settings(config& settings, std::string_view process, int argc,
                                  char** argv) {
  set_log_service(process);
  auto loaded = settings.load(argc, argv, environ);
  if (settings.help_requested()) {
    std::fputs(settings.usage(process).c_str(), stdout);
    return 0;
  }
  if (!loaded) {
    log_error("config.invalid", {{"error", loaded.error().message}});
    return 2;
  }
  if (settings.has("log-level")) {
    log_level level = log_level::info;
    parse_log_level(settings.str("log-level"), level);
    set_log_level(level);
  }
  for (const auto& opt : settings.options()) {
    log_info("config",
             {{"key", opt.key}, {"value", opt.secret ? "***" : opt.value}, {"source", opt.source}});
  }
  return std::nullopt;
}

}  // namespace suite
