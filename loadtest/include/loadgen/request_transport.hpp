// request_transport: how the load engine sends one request and hears its answer,
// independent of the wire (HTTP to the gateway, or the bus DEALER straight to one
// service). The engine only sees `channel`s: one per virtual user or connection,
// each with at most one request in flight.
//
// Threading: a transport is shared by all worker threads and open() may be called
// from any of them at the same time; a channel belongs to the io_context (thread) it
// was opened on and is used only from that thread. The listener is always called from
// an io_context handler, never from inside send(), so it may call send() again.
#pragma once

#include <boost/asio/io_context.hpp>
#include <memory>
#include <string_view>

namespace loadgen {

// A request to send. The views need only stay valid until send() returns.
struct outgoing_request {
  std::string_view method;  // HTTP method ("GET", "POST", ...)
  std::string_view target;  // HTTP path and query
  std::string_view body;    // JSON body, empty for none
};

// A finished exchange. status 0 means no response (connect, I/O, parse error or
// timeout) and `error` says why. The body view is valid only during the callback.
struct response_view {
  int status = 0;
  std::string_view body;
  std::string_view error;
};

class channel_listener {
 public:
  virtual void on_response(const response_view& response) = 0;

 protected:
  ~channel_listener() = default;
};

class channel {
 public:
  virtual ~channel() = default;
  // Sends one request; the listener hears exactly once of it. Reconnects if needed.
  virtual void send(const outgoing_request& request) = 0;
  // Abandons the request in flight (a timeout): the listener hears an error.
  virtual void abort() = 0;
};

class transport {
 public:
  virtual ~transport() = default;
  virtual std::unique_ptr<channel> open(boost::asio::io_context& io,
                                        channel_listener& listener) = 0;
};

}  // namespace loadgen
