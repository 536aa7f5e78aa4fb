#include "loadgen/connection_holder.hpp"

#include <array>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <functional>

namespace loadgen {

namespace asio = boost::asio;
using asio::ip::tcp;

struct connection_holder::held {
  explicit held(asio::io_context& io) : socket(io) {}
  tcp::socket socket;
  std::string request;
  std::array<char, 4096> buffer{};
  bool stream = false;
  bool open = false;  // answered and counted as held
};

connection_holder::connection_holder(const tcp::endpoint& endpoint, std::string host_header)
    : endpoint_(endpoint), host_header_(std::move(host_header)) {}

connection_holder::~connection_holder() { close_all(); }

hold_counts connection_holder::counts() const {
  return {idle_open_.load(), streams_open_.load(), failed_.load(), dropped_.load()};
}

hold_counts connection_holder::open(std::size_t idle, const std::string& idle_path,
                                    std::size_t streams, const std::string& stream_path,
                                    std::chrono::seconds timeout) {
  for (std::size_t i = 0; i < idle + streams; ++i) {
    auto c = std::make_shared<held>(io_);
    c->stream = i >= idle;
    c->request = "GET " + (c->stream ? stream_path : idle_path) + " HTTP/1.1\r\n" + host_header_ +
                 (c->stream ? "Accept: text/event-stream\r\n" : "") + "\r\n";
    connections_.push_back(std::move(c));
  }
  asio::post(io_, [this] {
    while (in_progress_ < batch && next_ < connections_.size()) open_next();
  });
  thread_ = std::thread([this] {
    auto guard = asio::make_work_guard(io_);
    io_.run();
  });
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (settled_ < connections_.size() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return counts();
}

void connection_holder::open_next() {
  auto c = connections_[next_++];
  ++in_progress_;
  // Settles a connection once: held (answer seen) or failed; then opens the next one.
  auto settle = [this](held& h, bool ok) {
    if (ok) {
      h.open = true;
      ++(h.stream ? streams_open_ : idle_open_);
    } else {
      ++failed_;
    }
    ++settled_;
    --in_progress_;
    if (next_ < connections_.size()) open_next();
  };
  c->socket.async_connect(endpoint_, [this, c, settle](const boost::system::error_code& ec) {
    if (ec) return settle(*c, false);
    asio::async_write(c->socket, asio::buffer(c->request),
                      [this, c, settle](const boost::system::error_code& write_error, std::size_t) {
                        if (write_error) return settle(*c, false);
                        // Read until closed: the first bytes settle the connection as held.
                        auto read = std::make_shared<std::function<void()>>();
                        *read = [this, c, settle, read] {
                          c->socket.async_read_some(
                              asio::buffer(c->buffer),
                              [this, c, settle, read](const boost::system::error_code& read_error,
                                                      std::size_t n) {
                                if (read_error) {
                                  *read = nullptr;  // break the self-reference
                                  if (!c->open) return settle(*c, false);
                                  --(c->stream ? streams_open_ : idle_open_);
                                  if (read_error != asio::error::operation_aborted) ++dropped_;
                                  return;
                                }
                                if (!c->open) {
                                  const std::string_view head(c->buffer.data(), n);
                                  if (!head.starts_with("HTTP/1.1 2")) {
                                    *read = nullptr;
                                    boost::system::error_code ignored;
                                    c->socket.close(ignored);
                                    return settle(*c, false);
                                  }
                                  settle(*c, true);
                                }
                                (*read)();
                              });
                        };
                        (*read)();
                      });
  });
}

void connection_holder::close_all() {
  if (!thread_.joinable()) return;
  asio::post(io_, [this] {
    for (auto& c : connections_) {
      boost::system::error_code ignored;
      c->socket.close(ignored);
    }
  });
  // Let the aborted reads finish before stopping.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  io_.stop();
  thread_.join();
  connections_.clear();
}

}  // namespace loadgen
