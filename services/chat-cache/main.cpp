// chat-cache: a bounded, scan-resistant RAM cache in front of an Ollama /
// OpenAI-compatible LLM (issue #6). Wires settings, the LLM client and the cache
// actors (chat_service) to the bus; the logic lives in chat_cache_lib.
#include "chat_service.hpp"
#include "suite/log.hpp"
#include "suite/service_host.hpp"

int main(int argc, char** argv) {
  suite::service_host host("chat-cache", "tcp://127.0.0.1:5552", "127.0.0.1:9102");
  host.settings()
      .add("llm", "http://127.0.0.1:11434",
           "LLM base URL (Ollama or OpenAI-compatible), http://host:port[/prefix]")
      .add("cache-max-bytes", "268435456", "byte budget of all cached answers",
           suite::integer_in(1024, std::int64_t{1} << 40))
      .add("cache-max-entries", "1000000", "most cached answers", suite::integer_in(1, 1000000000))
      .add("cache-ttl-s", "3600", "time-to-live of an answer (0: none)",
           suite::integer_in(0, 31536000))
      .add("cache-tti-s", "0", "time-to-idle of an answer (0: none)",
           suite::integer_in(0, 31536000))
      .add("cache-shards", "4", "shards, each owned by one actor", suite::integer_in(1, 256))
      .add("llm-connect-timeout-ms", "1000", "time-out to connect to the LLM",
           suite::integer_in(1, 600000))
      .add("llm-timeout-ms", "120000", "time-out of a whole LLM call",
           suite::integer_in(1, 3600000))
      .add("llm-connect-retries", "2", "retries (with back-off) when the LLM cannot be reached",
           suite::integer_in(0, 10))
      .add("llm-breaker-failures", "5", "consecutive LLM failures that open the circuit breaker",
           suite::integer_in(1, 1000))
      .add("llm-breaker-cooldown-ms", "5000", "how long the open breaker refuses calls",
           suite::integer_in(1, 3600000));
  if (auto exit_code = host.configure(argc, argv)) return *exit_code;

  auto& s = host.settings();
  suite::chat_cache::chat_service_settings cs;
  cs.limits.max_bytes = static_cast<std::size_t>(s.integer("cache-max-bytes"));
  cs.limits.max_entries = static_cast<std::size_t>(s.integer("cache-max-entries"));
  cs.limits.ttl = std::chrono::seconds(s.integer("cache-ttl-s"));
  cs.limits.tti = std::chrono::seconds(s.integer("cache-tti-s"));
  cs.shards = static_cast<std::size_t>(s.integer("cache-shards"));
  cs.front_workers = host.worker_count();
  cs.llm.base_url = s.str("llm");
  cs.llm.connect_timeout = std::chrono::milliseconds(s.integer("llm-connect-timeout-ms"));
  cs.llm.request_timeout = std::chrono::milliseconds(s.integer("llm-timeout-ms"));
  cs.llm.connect_retries = static_cast<int>(s.integer("llm-connect-retries"));
  cs.llm.breaker_failures = static_cast<int>(s.integer("llm-breaker-failures"));
  cs.llm.breaker_cooldown = std::chrono::milliseconds(s.integer("llm-breaker-cooldown-ms"));

  suite::chat_cache::chat_service service(host.actors(), host.metrics(), cs);
  if (auto started = service.start(); !started) {
    suite::log_error("llm.bad_settings", {{"error", started.error().message}});
    return 2;
  }
  for (const char* op :
       {"chat.chat", "chat.generate", "chat.completions", "chat.cache_stats", "chat.cache_clear"}) {
    host.route(op, service.ops_handler());
  }
  return host.run();
}
