// gateway: the suite's HTTP front door. Boost.Beast HTTP/1.1 with keep-alive on one
// io_context per thread; one acceptor hands connections round robin to them. Each
// request is routed by the op catalogue, its body (plus path and query parameters)
// validated against the op's JSON Schema and converted to msgpack, sent over the bus,
// and the reply converted back to JSON. SSE routes stream a service's PUB topic.
//
// Error answers (design.md, "Errors and bad input"), always JSON
// {error, code, details:[{field, message}]}: 400 bad body (or JSON nested deeper than
// 64 levels), 401 no or a bad credential (with WWW-Authenticate), 403 without the op's
// role, 404 unknown route, 405 wrong method (with Allow), 413 body over the limit, 429
// over the caller's rate (with Retry-After), 431 headers over the limit, 503 backend
// down (at once, never a hang), at its in-flight bound, or over the SSE client limit,
// 504 past the deadline. GET /healthz aggregates every backend's sys.health and is open:
// 200 only when every backend answers, every io thread is connected to it, and the
// gateway is connected to each live stream (PUB endpoint) its SSE routes are fed from.
//
// Security (docs/security.md): every route but /healthz needs a credential
// (authenticator.hpp); the envelope's principal, roles and tenant come from it and
// from nothing the client sends otherwise. With anonymous_ingest on, requests without a
// credential may run the ops the catalogue marks "anonymous_in_dev" (event posting,
// its stream and health) as principal "anonymous" in tenant "default".
//
// Limits, none of which queues: per-caller token buckets (rate_limiter.hpp; a principal,
// or the client IP when anonymous); a bound on requests in flight per backend, counted
// with one atomic per backend (503 "overloaded" at the bound); connections per client IP
// (over the cap a connection gets a 503 and is closed; counted under a mutex taken only
// on connect and close, never per request); read time-outs: a connection waits for a
// request's first byte at most idle_timeout, then the whole request (headers and body)
// must arrive within request_timeout, so a client trickling its headers is closed.
//
// A reply body is sent as JSON, except one holding the key "$http": {content_type,
// body, headers: {name: value}}, which is sent as is (NDJSON, SSE text, ...), so a
// service decides the exact bytes when it must. Request headers an op lists in the
// catalogue ("headers") reach the service as body fields "http_<name>".
// A streamed reply (parts, envelope.hpp) is written as it arrives with chunked
// encoding, bounded per client; see streamed_response.hpp. A client that hangs up or
// is cut makes the gateway cancel the bus call (sys.cancel).
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
  std::chrono::milliseconds timeout{5000};           // bus deadline per request
  std::chrono::milliseconds idle_timeout{120000};    // keep-alive connection with no request
  std::chrono::milliseconds request_timeout{10000};  // first byte to last of one request
  std::size_t body_limit = 1 << 20;
  std::size_t header_limit = 16 << 10;
  std::size_t sse_max_clients = 1000;
  std::size_t sse_queue_limit = 1024;  // frames queued for one slow SSE client before it is dropped
  std::chrono::milliseconds sse_heartbeat{15000};
  std::size_t stream_buffer_limit = 1 << 20;  // bytes of a streamed reply queued for one client
  std::map<std::string, std::vector<std::string>> backends;  // service -> bus endpoints
  std::map<std::string, std::string> publishers;             // service -> PUB endpoint

  // Authentication (authenticator.hpp). Neither set: every route but /healthz is 401.
  std::string api_keys_file;
  std::string jwt_secret;
  bool anonymous_ingest = false;  // local development only
  // Limits; 0 turns one off.
  double rate_limit = 1000;  // requests per second per principal
  double rate_burst = 2000;
  double anonymous_rate_limit = 100;  // requests per second per client IP, no credential
  double anonymous_rate_burst = 200;
  std::size_t max_inflight_per_backend = 4096;
  std::size_t max_connections_per_ip = 20000;
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
  std::size_t api_key_count() const;  // keys loaded by start()

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace suite::gateway
