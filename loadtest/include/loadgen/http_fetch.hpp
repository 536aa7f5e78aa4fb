// http_fetch: one blocking HTTP/1.1 exchange on a fresh connection, with a deadline.
// For the few requests around a run (the probe, /metrics scrapes), not for load.
// `extra_headers` are complete header lines ending in CRLF. A response that streams
// without a length (server-sent events) answers with its status once its head is in,
// and an empty body.
// Thread-safe: each call uses its own io_context and socket.
#pragma once

#include <chrono>
#include <string>

namespace loadgen {

struct fetch_result {
  int status = 0;  // 0: no answer, see error
  std::string body;
  std::string error;
};

fetch_result http_fetch(const std::string& host, unsigned short port, const std::string& method,
                        const std::string& path, std::chrono::milliseconds timeout,
                        const std::string& body = {}, const std::string& extra_headers = {});

}  // namespace loadgen
