// streamed_response: writes one streamed bus reply (envelope.hpp: parts with more =
// true, then a last one) to an HTTP/1.1 client as the parts arrive, with
// Transfer-Encoding: chunked, one chunk per part.
//
// The first part decides the response head: its status, and when its body holds
// "$http" {content_type, headers, body} that content type and those headers (a service
// streaming NDJSON or text/event-stream says so there); otherwise the parts are sent as
// NDJSON, one JSON line per part. Each part's chunk is its "$http".body, or its JSON and
// a newline. An error as the last part (the service failed, the deadline passed, the
// backend went away) cannot change the status any more: it is written in the stream's
// own format ({"error":...} line, or an SSE "event: error" message) and the body ends
// properly, so the client can tell a failure from the end of the answer.
//
// Back-pressure: chunks waiting for a slow client are bounded by `max_buffered_bytes`;
// a client that falls further behind, or one whose write does not finish within
// `write_timeout`, is cut (connection closed). Whenever the response ends before its
// last part (cut, write failure, the client hung up: a read on the socket notices it),
// `on_abandoned` runs once, so the caller can cancel the bus call.
//
// While streaming it reads the socket only to notice a hang-up; bytes a client sends
// meanwhile (a pipelined request) are kept in the session's buffer for its next read.
// Threading: everything on the connection's io thread; the session owns the socket and
// must not touch it until `finished` has run; `owner` (the session) is kept alive until
// then.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include <boost/beast/core.hpp>

#include "suite/envelope.hpp"

namespace suite::gateway {

class streamed_response : public std::enable_shared_from_this<streamed_response> {
 public:
  struct limits {
    std::size_t max_buffered_bytes = 1 << 20;
    std::chrono::milliseconds write_timeout{5000};
  };
  // reusable: the connection may serve its next request; status: the head's status.
  using finished = std::function<void(bool reusable, int status)>;

  streamed_response(boost::beast::tcp_stream& stream, boost::beast::flat_buffer& read_buffer,
                    limits limits, bool keep_alive, bool chunked,
                    std::function<void()> on_abandoned, finished done, std::shared_ptr<void> owner);

  // The next part, in order; the first one writes the head. Ignored once cut.
  void add_part(const reply& part);

 private:
  void queue(std::string bytes);
  void write_next();
  void watch_for_hangup();
  void abandon();
  void end(bool reusable);

  boost::beast::tcp_stream& stream_;
  boost::beast::flat_buffer& read_buffer_;
  limits limits_;
  bool keep_alive_;
  bool chunked_;  // HTTP/1.1; an HTTP/1.0 client gets the bytes as is, ended by closing
  std::function<void()> on_abandoned_;
  finished done_;
  std::shared_ptr<void> owner_;  // keeps the socket's owner alive until `done` has run
  std::deque<std::string> queue_;
  std::size_t queued_bytes_ = 0;
  std::string format_;  // "sse", "ndjson" or "raw": how an error part is written
  int status_ = 200;
  bool head_sent_ = false;
  bool last_queued_ = false;
  bool writing_ = false;
  bool reading_ = false;
  bool over_ = false;
  bool reusable_ = false;
};

}  // namespace suite::gateway
