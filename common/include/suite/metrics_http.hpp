// metrics_http: a process's /metrics endpoint. A thread of its own runs an Asio
// io_context that serves HTTP/1.1 with keep-alive (Boost.Beast): GET or HEAD /metrics
// answers with render()'s text (the Prometheus text format, version 0.0.4); any other
// path is a 404 and any other method a 405. An idle connection is closed after 60 s.
//
// It replaces prometheus-cpp's civetweb exposer, which held two threads and whose stop
// waited for its 2-second poll loop: every process took ~3 s to stop.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "suite/result.hpp"

namespace suite {

class metrics_http {
 public:
  using renderer = std::function<std::string()>;

  // Listens on `bind` ("host:port"; port 0 takes any free one) and starts serving.
  // render() runs on the server's thread, once per scrape.
  static result<std::unique_ptr<metrics_http>> start(const std::string& bind, renderer render);
  // Closes the listener and every connection and joins the thread, at once.
  ~metrics_http();
  metrics_http(const metrics_http&) = delete;
  metrics_http& operator=(const metrics_http&) = delete;

  std::uint16_t port() const;

 private:
  struct state;
  explicit metrics_http(std::unique_ptr<state> s);
  std::unique_ptr<state> state_;
};

}  // namespace suite
