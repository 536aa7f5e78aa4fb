// gateway: the suite's HTTP front door. Boost.Beast HTTP/1.1 with keep-alive on one
// io_context per thread; one acceptor hands connections round robin to them. Each
// request is routed by the op catalogue, its body (plus path and query parameters)
// validated against the op's JSON Schema and converted to msgpack, sent over the bus,
// and the reply converted back to JSON. SSE routes stream a service's PUB topic.
//
// Error answers (design.md, "Errors and bad input"), always JSON
// {error, code, details:[{field, message}]}: 400 bad body, 404 unknown route, 405 wrong
// method (with Allow), 413 body over the limit, 431 headers over the limit, 503 backend
// down (at once, never a hang) or over the SSE client limit, 504 past the deadline.
// GET /healthz aggregates every backend's sys.health.
//
// A reply body is sent as JSON, except one holding the key "$http": {content_type,
// body, headers: {name: value}}, which is sent as is (NDJSON, SSE text, ...), so a
// service decides the exact bytes when it must. Request headers an op lists in the
// catalogue ("headers") reach the service as body fields "http_<name>".
//
// Threading: start() and stop() from one thread; everything else runs on the io
// threads and the bus client's thread, which hand work over with asio::post only.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "suite/metrics.hpp"
#include "suite/op_catalogue.hpp"
#include "suite/result.hpp"

namespace suite::gateway {

struct gateway_settings {
  std::string http_bind = "127.0.0.1:8080";  // port 0 picks a free port (tests)
  std::size_t threads = 1;
  std::chrono::milliseconds timeout{5000};         // bus deadline per request
  std::chrono::milliseconds idle_timeout{120000};  // keep-alive connection with no request
  std::size_t body_limit = 1 << 20;
  std::size_t header_limit = 16 << 10;
  std::size_t sse_max_clients = 1000;
  std::size_t sse_queue_limit = 1024;  // frames queued for one slow SSE client before it is dropped
  std::chrono::milliseconds sse_heartbeat{15000};
  std::map<std::string, std::vector<std::string>> backends;  // service -> bus endpoints
  std::map<std::string, std::string> publishers;             // service -> PUB endpoint
};

class gateway {
 public:
  gateway(gateway_settings settings, const op_catalogue& catalogue, metrics& metrics);
  ~gateway();
  gateway(const gateway&) = delete;
  gateway& operator=(const gateway&) = delete;

  // Binds the HTTP port (a clear error when it is taken) and starts every thread.
  status start();
  void stop();
  std::uint16_t http_port() const;

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace suite::gateway
