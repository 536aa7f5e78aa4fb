#include "suite/start_settings.hpp"

#include <cstdio>
#include <string>

#include "suite/log.hpp"
#include "suite/metrics.hpp"

extern char** environ;

namespace suite {

std::optional<int> start_settings(config& settings, std::string_view process, int argc,
                                  char** argv) {
  set_log_service(process);
  if (!settings.has("metrics-recording")) {
    settings.add("metrics-recording", "true",
                 "record request samples (false: to measure what observing costs)",
                 one_of({"true", "false"}));
  }
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
  metrics::set_recording(settings.str("metrics-recording") == "true");
  for (const auto& opt : settings.options()) {
    log_info("config",
             {{"key", opt.key}, {"value", opt.secret ? "***" : opt.value}, {"source", opt.source}});
  }
  return std::nullopt;
}

}  // namespace suite
