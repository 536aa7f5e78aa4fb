// ingest_fixture: the real event-ingest binary (on a fresh RocksDB directory) behind the
// real gateway, on free ports, for the black-box HTTP and crash tests; plus a raw SSE
// reader (the blocking http_client waits for a whole response, which a stream never
// ends). Not thread-safe; one owner per test.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "http_client.hpp"
#include "test_process.hpp"

namespace suite::test {

class ingest_fixture {
 public:
  explicit ingest_fixture(std::vector<std::string> service_args = {},
                          std::vector<std::string> gateway_args = {});
  ~ingest_fixture();

  int http_port() const { return http_port_; }
  int service_metrics_port() const { return metrics_port_; }
  int gateway_metrics_port() const { return gateway_metrics_port_; }
  http_response get(const std::string& target) { return http_once(http_port_, "GET", target); }
  http_response post(const std::string& target, const std::string& body) {
    return http_once(http_port_, "POST", target, body);
  }
  // Starts (or restarts) event-ingest on the same ports and data directory, and waits
  // until the gateway reaches it and its live stream (/healthz).
  void start_service();
  void kill_service() { service_->kill_hard(); }

 private:
  std::string data_dir_;
  std::vector<std::string> service_args_;
  int http_port_, gateway_metrics_port_, bus_port_, pub_port_, metrics_port_;
  std::unique_ptr<test_process> service_, gateway_;
};

// An open SSE stream read through a plain socket.
class sse_reader {
 public:
  // `extra_headers`: whole header lines, each ending "\r\n" (e.g. a Last-Event-ID).
  sse_reader(int port, const std::string& target, const std::string& extra_headers = {});
  ~sse_reader();
  // Reads until `text` has been received (true) or `timeout` passes (false). It may
  // return in the middle of a message: reads come in pieces of any size.
  bool wait_for(const std::string& text,
                std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // As wait_for, then reads on to the end of the SSE message `text` is in (its blank
  // line), so that received() holds that message whole.
  bool wait_for_message(const std::string& text,
                        std::chrono::milliseconds timeout = std::chrono::seconds(5));
  const std::string& received() const { return received_; }

 private:
  bool read_until(const std::function<bool()>& done, std::chrono::milliseconds timeout);

  int fd_ = -1;
  std::string received_;
};

}  // namespace suite::test
