#include "suite/metrics_http.hpp"

#include <chrono>
#include <optional>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "suite/config.hpp"

namespace suite {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto idle_timeout = std::chrono::seconds(60);

// One scraper's connection: read a request, answer it, repeat while it keeps alive.
class scrape_session : public std::enable_shared_from_this<scrape_session> {
 public:
  scrape_session(tcp::socket socket, const metrics_http::renderer& render)
      : stream_(std::move(socket)), render_(render) {}

  void read() {
    parser_.emplace();
    parser_->header_limit(8 * 1024);
    parser_->body_limit(1024);  // a scrape has none; a short one is read, then refused
    stream_.expires_after(idle_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       if (ec) return self->close();
                       self->answer();
                     });
  }

 private:
  void answer() {
    const auto& req = parser_->get();
    response_ = {};
    response_.version(req.version());
    response_.keep_alive(req.keep_alive());
    response_.set(http::field::content_type, "text/plain; charset=utf-8");
    auto path = req.target().substr(0, req.target().find('?'));
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      response_.result(http::status::method_not_allowed);
      response_.set(http::field::allow, "GET, HEAD");
      response_.body() = "only GET and HEAD\n";
    } else if (path != "/metrics") {
      response_.result(http::status::not_found);
      response_.body() = "metrics are at /metrics\n";
    } else {
      response_.result(http::status::ok);
      response_.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      response_.body() = render_();
    }
    response_.prepare_payload();
    if (req.method() == http::verb::head) response_.body().clear();
    http::async_write(stream_, response_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        if (ec || !self->response_.keep_alive()) return self->close();
                        self->read();
                      });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  beast::tcp_stream stream_;
  const metrics_http::renderer& render_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
};

}  // namespace

struct metrics_http::state {
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  renderer render;
  std::thread thread;

  void accept() {
    acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
      if (!ec) {
        socket.set_option(tcp::no_delay(true), ec);
        std::make_shared<scrape_session>(std::move(socket), render)->read();
      }
      accept();
    });
  }
};

result<std::unique_ptr<metrics_http>> metrics_http::start(const std::string& bind,
                                                          renderer render) {
  auto fail = [&](const std::string& why) {
    return make_error(503, "metrics_bind_failed",
                      "cannot serve metrics on " + bind + " (port taken?): " + why);
  };
  auto split = split_host_port(bind);
  if (!split) return fail("not host:port with a port in 0..65535");
  const auto& [host, port] = *split;
  auto s = std::make_unique<state>();
  s->render = std::move(render);
  beast::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec) return fail("bad address: " + ec.message());
  tcp::endpoint endpoint(address, port);
  s->acceptor.open(endpoint.protocol(), ec);
  if (!ec) s->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) s->acceptor.bind(endpoint, ec);
  if (!ec) s->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail(ec.message());
  s->accept();
  s->thread = std::thread([raw = s.get()] { raw->io.run(); });
  return std::unique_ptr<metrics_http>(new metrics_http(std::move(s)));
}

metrics_http::metrics_http(std::unique_ptr<state> s) : state_(std::move(s)) {}

metrics_http::~metrics_http() {
  asio::post(state_->io, [s = state_.get()] {
    beast::error_code ignored;
    s->acceptor.close(ignored);
    s->io.stop();  // open connections are dropped with the io_context
  });
  state_->thread.join();
}

std::uint16_t metrics_http::port() const { return state_->acceptor.local_endpoint().port(); }

}  // namespace suite
