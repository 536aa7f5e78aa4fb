#include "loadgen/http_fetch.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <functional>
#include <vector>

#include "loadgen/http_response_parser.hpp"

namespace loadgen {

namespace asio = boost::asio;
using asio::ip::tcp;

fetch_result http_fetch(const std::string& host, unsigned short port, const std::string& method,
                        const std::string& path, std::chrono::milliseconds timeout,
                        const std::string& body, const std::string& extra_headers) {
  fetch_result result;
  asio::io_context io(1);
  tcp::resolver resolver(io);
  tcp::socket socket(io);
  std::string request = method + " " + path + " HTTP/1.1\r\nHost: " + host + ":" +
                        std::to_string(port) + "\r\nConnection: close\r\n" + extra_headers;
  if (!body.empty() || method == "POST" || method == "PUT") {
    request +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  request += "\r\n" + body;
  std::vector<char> buffer(std::size_t{64} * 1024);
  std::size_t received = 0;
  http_response_parser parser;
  parser.reset(method == "HEAD");

  // Callbacks chained on one io_context; run_for() enforces the deadline.
  std::function<void()> read;
  read = [&] {
    if (received == buffer.size()) {
      // The parser keeps a pointer to the body inside the buffer, which growing it
      // moves: start the parse again on the moved bytes (a /metrics page of a service
      // with many ops passed 64 KiB, and the stale pointer crashed the scrape thread).
      buffer.resize(buffer.size() * 2);
      parser.reset(method == "HEAD");
    }
    socket.async_read_some(asio::buffer(buffer.data() + received, buffer.size() - received),
                           [&](const boost::system::error_code& ec, std::size_t n) {
                             if (ec) {
                               result.error = "read failed: " + ec.message();
                               return;
                             }
                             received += n;
                             switch (parser.parse(buffer.data(), received)) {
                               case http_response_parser::result::incomplete:
                                 return read();
                               case http_response_parser::result::error:
                                 if (parser.length_unknown()) {
                                   result.status = parser.status();  // a stream: the head is enough
                                   return;
                                 }
                                 result.error = parser.error();
                                 return;
                               case http_response_parser::result::complete:
                                 result.status = parser.status();
                                 result.body.assign(parser.body());
                                 return;
                             }
                           });
  };
  boost::system::error_code ec;
  const auto endpoints = resolver.resolve(host, std::to_string(port), ec);
  if (ec) {
    result.error = "cannot resolve " + host + ": " + ec.message();
    return result;
  }
  asio::async_connect(
      socket, endpoints, [&](const boost::system::error_code& connect_error, const tcp::endpoint&) {
        if (connect_error) {
          result.error = "connect failed: " + connect_error.message();
          return;
        }
        asio::async_write(socket, asio::buffer(request),
                          [&](const boost::system::error_code& write_error, std::size_t) {
                            if (write_error) {
                              result.error = "write failed: " + write_error.message();
                              return;
                            }
                            read();
                          });
      });
  io.run_for(timeout);
  if (result.status == 0 && result.error.empty()) result.error = "timed out";
  return result;
}

}  // namespace loadgen
