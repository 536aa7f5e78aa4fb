// fake-llm: the LLM stand-in binary. Flags (or SUITE_* environment variables):
//   --listen=127.0.0.1:11434 --threads=2 --ttft-ms=0 --tokens-per-second=0 --tokens=16
#include <csignal>
#include <iostream>

#include "fake_llm.hpp"
#include "suite/config.hpp"
#include "suite/start_settings.hpp"
#include "suite/stop_signals.hpp"

int main(int argc, char** argv) {
  auto wait_for_stop = suite::block_stop_signals();
  suite::config cfg;
  cfg.add("listen", "127.0.0.1:11434", "host:port to serve the Ollama/OpenAI API on",
          suite::host_port())
      .add("threads", "2", "io threads", suite::integer_in(1, 64))
      .add("ttft-ms", "0", "time to first token in ms", suite::integer_in(0, 600000))
      .add("tokens-per-second", "0", "token rate (0: all at once)", suite::integer_in(0, 1000000))
      .add("tokens", "16", "tokens per reply unless the request sets num_predict/max_tokens",
           suite::integer_in(1, 1000000))
      .add("log-level", "info", "debug | info | warn | error",
           suite::one_of({"debug", "info", "warn", "error"}));
  if (auto exit_code = suite::start_settings(cfg, "fake-llm", argc, argv)) return *exit_code;
  suite::fake_llm::settings s;
  s.listen = cfg.str("listen");
  s.threads = static_cast<int>(cfg.integer("threads"));
  s.ttft_ms = static_cast<int>(cfg.integer("ttft-ms"));
  s.tokens_per_second = static_cast<int>(cfg.integer("tokens-per-second"));
  s.tokens = static_cast<int>(cfg.integer("tokens"));
  suite::fake_llm::server server(s);
  if (!server.start()) return 1;
  std::cout << "fake-llm ready on " << s.listen << " (port " << server.port() << ")" << std::endl;
  wait_for_stop();
  server.stop();
  return 0;
}
