// connection_holder: holds many connections open against the gateway while a
// scenario's load runs, to measure what idle connections cost the server (c10k).
//
// Idle connections each send one keep-alive request, read the answer and then sit
// silent (a read stays posted to notice the server closing them). Streams send a
// GET for server-sent events and read and discard whatever arrives. Connections are
// opened at most `batch` at a time so the server's accept backlog is not flooded.
//
// All work happens on the holder's own thread; the public functions may be called
// from one controlling thread.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace loadgen {

struct hold_counts {
  std::size_t idle_open = 0;
  std::size_t streams_open = 0;
  std::size_t failed = 0;   // could not connect or got no (good) answer
  std::size_t dropped = 0;  // opened, then closed by the server
};

class connection_holder {
 public:
  connection_holder(const boost::asio::ip::tcp::endpoint& endpoint, std::string host_header);
  ~connection_holder();

  // Opens the connections and waits until all are open or failed, or `timeout`.
  hold_counts open(std::size_t idle, const std::string& idle_path, std::size_t streams,
                   const std::string& stream_path, std::chrono::seconds timeout);
  hold_counts counts() const;
  void close_all();

 private:
  class held;
  void open_next();
  void settle(held& connection, bool ok);

  boost::asio::io_context io_{1};
  boost::asio::ip::tcp::endpoint endpoint_;
  std::string host_header_;
  std::vector<std::shared_ptr<held>> connections_;
  std::size_t next_ = 0;
  std::size_t in_progress_ = 0;
  std::atomic<std::size_t> idle_open_{0}, streams_open_{0}, failed_{0}, dropped_{0};
  std::atomic<std::size_t> settled_{0};
  std::thread thread_;
  static constexpr std::size_t batch = 256;
};

}  // namespace loadgen
