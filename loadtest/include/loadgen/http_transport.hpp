// http_transport: HTTP/1.1 keep-alive over TCP, one connection per channel.
//
// A channel connects lazily on its first send and again after the server closes;
// each request is formatted into a reused buffer and the response parsed by
// http_response_parser from a reused buffer, so a steady run allocates nothing per
// request. Responses must carry a length (Content-Length or chunked).
//
// Thread-safety: the transport is immutable after construction and open() may be
// called from any thread; see request_transport.hpp for channels.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <string>

#include "loadgen/request_transport.hpp"

namespace loadgen {

class http_transport final : public transport {
 public:
  // Resolves host:port once, now (throws std::runtime_error if it cannot).
  http_transport(const std::string& host, unsigned short port);

  std::unique_ptr<channel> open(boost::asio::io_context& io, channel_listener& listener) override;

  const boost::asio::ip::tcp::endpoint& endpoint() const { return endpoint_; }

 private:
  boost::asio::ip::tcp::endpoint endpoint_;
  std::string host_header_;  // "Host: h:p\r\n"
};

}  // namespace loadgen
