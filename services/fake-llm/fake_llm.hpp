// fake_llm: an HTTP server that speaks enough of Ollama's and OpenAI's APIs to stand in
// for a real LLM in tests, scenarios and the local run:
//   POST /api/chat, /api/generate   (Ollama; "stream" defaults to true: NDJSON chunks)
//   POST /api/embed, GET /api/tags  (Ollama)
//   POST /v1/chat/completions       (OpenAI; "stream": true gives SSE ending "data: [DONE]")
//   POST /v1/embeddings             (OpenAI)
//   GET  /fake/stats                {"requests": n, "<path>": n ...}: requests served
//   POST /fake/reset                zeroes the counters
// The reply's content is deterministic per prompt (model + messages/prompt): the same
// prompt always gives the same tokens. Time to first token and tokens per second are
// configurable; waiting is done on Asio timers, so slow replies cost no thread.
// A prompt containing "FAIL500" is answered 500, so tests can check that upstream
// errors are not cached. "num_predict" (Ollama options) or "max_tokens" (OpenAI) sets
// the number of tokens of one reply.
// Thread-safety: start() once; stop() from any thread; the counters are atomics.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace suite::fake_llm {

struct settings {
  std::string listen = "127.0.0.1:11434";
  int threads = 2;
  int ttft_ms = 0;            // time to first token
  int tokens_per_second = 0;  // 0: all tokens at once
  int tokens = 16;            // tokens per reply unless the request asks for a number
};

class server {
 public:
  explicit server(settings s);
  ~server();
  // Binds and starts serving on its own threads; returns false (with a message on
  // stderr) when the address cannot be bound.
  bool start();
  void stop();
  std::uint16_t port() const;

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

// The deterministic reply tokens for a prompt (exposed for tests).
std::string token_for(std::uint64_t seed, int index);

}  // namespace suite::fake_llm
