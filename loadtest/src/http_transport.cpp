#include "loadgen/http_transport.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <charconv>
#include <stdexcept>
#include <vector>

#include "loadgen/http_response_parser.hpp"
#include "loadgen/op_memory.hpp"

namespace loadgen {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

class http_channel final : public channel {
 public:
  http_channel(asio::io_context& io, channel_listener& listener, const tcp::endpoint& endpoint,
               const std::string& host_header)
      : socket_(io), listener_(listener), endpoint_(endpoint), host_header_(host_header) {
    request_.reserve(1024);
    response_.resize(std::size_t{16} * 1024);
  }

  void send(const outgoing_request& request) override {
    format(request);
    parser_.reset(request.method == "HEAD");
    received_ = 0;
    in_flight_ = true;
    if (socket_.is_open()) {
      reused_ = true;
      write();
    } else {
      connect();
    }
  }

  void abort() override {
    if (!in_flight_) return;
    aborted_ = true;
    boost::system::error_code ignored;
    socket_.close(ignored);
  }

 private:
  void format(const outgoing_request& request) {
    request_.clear();
    request_.append(request.method).append(" ").append(request.target).append(" HTTP/1.1\r\n");
    request_.append(host_header_);
    if (!request.body.empty() || request.method == "POST" || request.method == "PUT" ||
        request.method == "PATCH") {
      char digits[24];
      const auto end = std::to_chars(digits, digits + sizeof digits, request.body.size()).ptr;
      request_.append("Content-Type: application/json\r\nContent-Length: ")
          .append(digits, end)
          .append("\r\n");
    }
    request_.append("\r\n").append(request.body);
  }

  void connect() {
    reused_ = false;
    socket_.async_connect(endpoint_,
                          bind_op_memory(op_memory_, [this](const boost::system::error_code& ec) {
                            if (ec) return finish_with_error("connect failed", ec);
                            boost::system::error_code ignored;
                            socket_.set_option(tcp::no_delay(true), ignored);
                            socket_.non_blocking(true, ignored);
                            write();
                          }));
  }

  void write() {
    asio::async_write(
        socket_, asio::buffer(request_),
        bind_op_memory(op_memory_, [this](const boost::system::error_code& ec, std::size_t) {
          if (ec) return finish_with_error("write failed", ec);
          read();
        }));
  }

  // Waits for the socket to be readable, then reads what is there. Asio's
  // async_read_some would first try a read that, right after the request went out,
  // almost always fails with EAGAIN: one wasted system call per request.
  void read() {
    socket_.async_wait(tcp::socket::wait_read,
                       bind_op_memory(op_memory_, [this](const boost::system::error_code& ec) {
                         on_readable(ec);
                       }));
  }

  void on_readable(const boost::system::error_code& ec) {
    if (ec) return on_read_error(ec);
    for (;;) {
      if (received_ == response_.size()) response_.resize(response_.size() * 2);
      boost::system::error_code read_error;
      const std::size_t n = socket_.read_some(
          asio::buffer(response_.data() + received_, response_.size() - received_), read_error);
      if (read_error == asio::error::would_block) return read();
      if (read_error) return on_read_error(read_error);
      received_ += n;
      switch (parser_.parse(response_.data(), received_)) {
        case http_response_parser::result::incomplete:
          continue;
        case http_response_parser::result::error:
          return finish_with_error(parser_.error(), {});
        case http_response_parser::result::complete:
          break;
      }
      // No pipelining: anything after the response is a protocol error; drop it
      // with the connection rather than misattribute it to the next request.
      if (!parser_.keep_alive() || parser_.consumed() != received_) close();
      in_flight_ = false;
      listener_.on_response({parser_.status(), parser_.body(), {}});
      return;
    }
  }

  void on_read_error(const boost::system::error_code& ec) {
    // A kept-alive connection the server closed while idle fails before any byte of
    // the answer; like every HTTP client, retry once on a new one.
    if (reused_ && received_ == 0 && !aborted_) {
      close();
      return connect();
    }
    finish_with_error(ec == asio::error::eof ? "server closed the connection" : "read failed", ec);
  }

  void finish_with_error(const char* what, const boost::system::error_code& ec) {
    close();
    in_flight_ = false;
    if (aborted_) {
      aborted_ = false;
      listener_.on_response({0, {}, "timed out"});
      return;
    }
    error_.assign(what);
    if (ec) error_.append(": ").append(ec.message());
    listener_.on_response({0, {}, error_});
  }

  void close() {
    boost::system::error_code ignored;
    socket_.close(ignored);
  }

  tcp::socket socket_;
  op_memory op_memory_;  // connect, write and read follow each other, never overlap
  channel_listener& listener_;
  const tcp::endpoint& endpoint_;
  const std::string& host_header_;
  http_response_parser parser_;
  std::string request_;
  std::vector<char> response_;
  std::size_t received_ = 0;
  bool in_flight_ = false;
  bool aborted_ = false;
  bool reused_ = false;
  std::string error_;
};

}  // namespace

http_transport::http_transport(const std::string& host, unsigned short port,
                               const std::string& extra_headers) {
  asio::io_context io;
  tcp::resolver resolver(io);
  boost::system::error_code ec;
  const auto results = resolver.resolve(host, std::to_string(port), ec);
  if (ec || results.empty()) {
    throw std::runtime_error("cannot resolve " + host + ": " + ec.message());
  }
  endpoint_ = results.begin()->endpoint();
  host_header_ = "Host: " + host + ":" + std::to_string(port) + "\r\n" + extra_headers;
}

std::string header_problem(std::string_view name, std::string_view value) {
  if (name.empty()) return "a header needs a name (\"Name: value\")";
  for (const char c : name) {
    const bool token = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!token) return "header name \"" + std::string(name) + "\" has a character not allowed";
  }
  if (value.find_first_of("\r\n") != std::string_view::npos) {
    return "header " + std::string(name) + ": the value must not contain CR or LF";
  }
  if (name.size() == 4 && (name[0] == 'H' || name[0] == 'h') &&
      (name.substr(1) == "ost" || name.substr(1) == "OST")) {
    return "the Host header is set by loadgen (use --host/--port)";
  }
  return {};
}

bool split_header(std::string_view line, std::string& name, std::string& value) {
  const auto colon = line.find(':');
  if (colon == std::string_view::npos) return false;
  std::string_view n = line.substr(0, colon), v = line.substr(colon + 1);
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  name.assign(n);
  value.assign(v);
  return true;
}

std::unique_ptr<channel> http_transport::open(asio::io_context& io, channel_listener& listener) {
  return std::make_unique<http_channel>(io, listener, endpoint_, host_header_);
}

}  // namespace loadgen
