// http_transport: HTTP/1.1 keep-alive over TCP, one connection per channel.
//
// A channel connects lazily on its first send and again after the server closes;
// each request is formatted into a reused buffer and the response parsed by
// http_response_parser from a reused buffer, so a steady run allocates nothing per
// request. Responses must carry a length (Content-Length or chunked).
//
// Every request carries `extra_headers` (e.g. "X-API-Key: ...\r\n", from --header and
// a scenario's "headers"), rendered once at construction.
//
// Thread-safety: the transport is immutable after construction and open() may be
// called from any thread; see request_transport.hpp for channels.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <string>
#include <string_view>

#include "loadgen/request_transport.hpp"

namespace loadgen {

class http_transport final : public transport {
 public:
  // Resolves host:port once, now (throws std::runtime_error if it cannot).
  // `extra_headers`: complete header lines, each ending in CRLF (see header_lines()).
  http_transport(const std::string& host, unsigned short port,
                 const std::string& extra_headers = {});

  std::unique_ptr<channel> open(boost::asio::io_context& io, channel_listener& listener) override;

  const boost::asio::ip::tcp::endpoint& endpoint() const { return endpoint_; }

 private:
  boost::asio::ip::tcp::endpoint endpoint_;
  std::string host_header_;  // "Host: h:p\r\n" and the extra headers
};

// A request header given as "Name: value" (on the command line): empty when it is
// well-formed, else what is wrong with it. The name is an HTTP token, the value has
// no CR or LF (so a header cannot smuggle another one in).
std::string header_problem(std::string_view name, std::string_view value);
// Splits "Name: value" into its parts; false when there is no colon.
bool split_header(std::string_view line, std::string& name, std::string& value);

}  // namespace loadgen
