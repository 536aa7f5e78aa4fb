// llm_client: chat-cache's HTTP client to the LLM server (Ollama or OpenAI-compatible).
//
// All I/O runs on the client's own thread and io_context (Boost.Beast, async), never on
// CAF's scheduler threads. Keep-alive connections are pooled and reused; a pooled
// connection that turns out to be dead is replaced once without counting as a retry.
// Time-outs: one for connecting, one for the whole exchange. Retries: only when the
// connection cannot be made (nothing was sent, so a retry cannot run a generation
// twice), with exponential back-off. A circuit breaker opens after `breaker_failures`
// consecutive transport failures: while open, calls fail at once with 503; after the
// cool-down one trial call is let through (half-open) and its outcome closes or reopens it.
//
// Outcomes: the LLM's status and body (any status: the caller decides), or an error:
// 503 upstream_unavailable (cannot connect), 503 upstream_circuit_open, 504
// upstream_timeout, 502 upstream_failed (connection broken mid-exchange).
// Thread-safety: post() may be called from any thread; callbacks run on the client's
// thread and must not block.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <prometheus/histogram.h>

#include "suite/result.hpp"

namespace suite::chat_cache {

struct llm_client_settings {
  std::string base_url = "http://127.0.0.1:11434";
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds request_timeout{120000};
  int connect_retries = 2;
  std::chrono::milliseconds retry_backoff{50};  // doubled on each retry
  int breaker_failures = 5;
  std::chrono::milliseconds breaker_cooldown{5000};
  std::size_t max_idle_connections = 64;
  std::size_t max_body_bytes = 64 << 20;
};

struct llm_response {
  int status = 0;
  std::string body;
};

class llm_client {
 public:
  using callback = std::function<void(result<llm_response>)>;
  // Body bytes as they arrive (status: the response's), before `done` gets them all.
  using data_callback = std::function<void(int status, std::string_view bytes)>;

  // Fails on a base URL that is not http://host:port[/prefix].
  static result<std::unique_ptr<llm_client>> create(llm_client_settings settings,
                                                    prometheus::Histogram* latency = nullptr);
  ~llm_client();

  // POSTs `json_body` to base URL + `path`; `done` runs once, on the client's thread.
  // `on_data` (optional) runs on the same thread for each piece of the body as it is
  // read, so a streamed answer can be passed on live; `done` still gets the whole body.
  void post(std::string path, std::string json_body, callback done, data_callback on_data = {});

  bool circuit_open() const;

  struct impl;

 private:
  explicit llm_client(std::unique_ptr<impl> impl);
  std::unique_ptr<impl> impl_;
};

}  // namespace suite::chat_cache
