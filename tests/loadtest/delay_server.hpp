// delay_server: an HTTP/1.1 test server for the load engine's tests. It answers every
// request after a fixed delay, except that answers falling inside one "stall" window
// are held until the window ends (a GC pause, a lock convoy), and it answers 500 on
// paths starting with /fail. Runs on its own thread on an ephemeral loopback port.
#pragma once

#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace loadgen_test {

class delay_server {
 public:
  using clock_type = std::chrono::steady_clock;

  explicit delay_server(std::chrono::nanoseconds delay) : delay_(delay) {
    acceptor_.open(boost::asio::ip::tcp::v4());
    acceptor_.set_option(boost::asio::socket_base::reuse_address(true));
    acceptor_.bind({boost::asio::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen(1024);
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }

  ~delay_server() {
    io_.stop();
    thread_.join();
  }

  unsigned short port() const { return acceptor_.local_endpoint().port(); }
  // Holds every answer due in [begin, begin + length) until begin + length.
  void stall(clock_type::time_point begin, std::chrono::nanoseconds length) {
    stall_begin_ = begin.time_since_epoch().count();
    stall_end_ = (begin + length).time_since_epoch().count();
  }
  std::uint64_t requests() const { return requests_; }
  // The head (request line and headers) of the latest request.
  std::string last_head() const {
    std::lock_guard lock(head_mutex_);
    return last_head_;
  }
  std::thread::id thread_id() const { return thread_.get_id(); }

 private:
  struct session : std::enable_shared_from_this<session> {
    session(delay_server& server, boost::asio::ip::tcp::socket socket)
        : server(server), socket(std::move(socket)), timer(server.io_) {}

    void read() {
      auto self = shared_from_this();
      boost::asio::async_read_until(socket, buffer, "\r\n\r\n",
                                    [self](boost::system::error_code ec, std::size_t n) {
                                      if (ec) return;
                                      self->answer(n);
                                    });
    }

    void answer(std::size_t head_size) {
      const std::string head(static_cast<const char*>(buffer.data().data()), head_size);
      buffer.consume(head_size);
      ++server.requests_;
      {
        std::lock_guard lock(server.head_mutex_);
        server.last_head_ = head;
      }
      const bool fail = head.find(" /fail") != std::string::npos;
      reply = fail ? "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nfail"
                   : "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{\"id\":42}\n";
      auto due = clock_type::now() + server.delay_;
      const auto due_count = due.time_since_epoch().count();
      if (due_count >= server.stall_begin_ && due_count < server.stall_end_) {
        due = clock_type::time_point(clock_type::duration(server.stall_end_.load()));
      }
      timer.expires_at(due);
      auto self = shared_from_this();
      timer.async_wait([self](boost::system::error_code) {
        boost::asio::async_write(self->socket, boost::asio::buffer(self->reply),
                                 [self](boost::system::error_code ec, std::size_t) {
                                   if (!ec) self->read();
                                 });
      });
    }

    delay_server& server;
    boost::asio::ip::tcp::socket socket;
    boost::asio::steady_timer timer;
    boost::asio::streambuf buffer;
    std::string reply;
  };

  void accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, boost::asio::ip::tcp::socket s) {
      if (ec) return;
      s.set_option(boost::asio::ip::tcp::no_delay(true));
      std::make_shared<session>(*this, std::move(s))->read();
      accept();
    });
  }

  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_{io_};
  std::chrono::nanoseconds delay_;
  std::atomic<clock_type::rep> stall_begin_{0};
  std::atomic<clock_type::rep> stall_end_{0};
  std::atomic<std::uint64_t> requests_{0};
  mutable std::mutex head_mutex_;
  std::string last_head_;
  std::thread thread_;
};

}  // namespace loadgen_test
