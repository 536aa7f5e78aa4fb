#include "loadgen/connection_holder.hpp"

#include <array>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

namespace loadgen {

namespace asio = boost::asio;
using asio::ip::tcp;

// One held connection: connect, send its request, then read until the server closes
// (or close_all() does). Kept alive by the handlers in flight and by the holder's list.
class connection_holder::held : public std::enable_shared_from_this<held> {
 public:
  held(connection_holder& owner, std::string request, bool stream)
      : owner_(owner), socket_(owner.io_), request_(std::move(request)), stream_(stream) {}

  bool stream() const { return stream_; }
  bool is_open() const { return open_; }

  void start() {
    socket_.async_connect(owner_.endpoint_,
                          [self = shared_from_this()](const boost::system::error_code& ec) {
                            if (ec) return self->owner_.settle(*self, false);
                            self->write();
                          });
  }

  void close() {
    boost::system::error_code ignored;
    socket_.close(ignored);
  }

 private:
  void write() {
    asio::async_write(
        socket_, asio::buffer(request_),
        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
          if (ec) return self->owner_.settle(*self, false);
          self->read();
        });
  }

  // The first bytes settle the connection as held (a 2xx answer) or failed; after
  // that, whatever comes (SSE messages, nothing) is read and dropped.
  void read() {
    socket_.async_read_some(asio::buffer(buffer_),
                            [self = shared_from_this()](const boost::system::error_code& ec,
                                                        std::size_t n) { self->on_read(ec, n); });
  }

  void on_read(const boost::system::error_code& ec, std::size_t n) {
    if (ec) {
      if (!open_) return owner_.settle(*this, false);
      --(stream_ ? owner_.streams_open_ : owner_.idle_open_);
      if (ec != asio::error::operation_aborted) ++owner_.dropped_;
      return;
    }
    if (!open_) {
      if (!std::string_view(buffer_.data(), n).starts_with("HTTP/1.1 2")) {
        close();
        return owner_.settle(*this, false);
      }
      open_ = true;
      owner_.settle(*this, true);
    }
    read();
  }

  connection_holder& owner_;
  tcp::socket socket_;
  std::string request_;
  std::array<char, 4096> buffer_{};
  bool stream_;
  bool open_ = false;
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
    const bool stream = i >= idle;
    connections_.push_back(std::make_shared<held>(
        *this,
        "GET " + (stream ? stream_path : idle_path) + " HTTP/1.1\r\n" + host_header_ +
            (stream ? "Accept: text/event-stream\r\n" : "") + "\r\n",
        stream));
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
  ++in_progress_;
  connections_[next_++]->start();
}

// Runs on the holder's thread: counts the outcome, then opens the next connection.
void connection_holder::settle(held& connection, bool ok) {
  if (ok) {
    ++(connection.stream() ? streams_open_ : idle_open_);
  } else {
    ++failed_;
  }
  ++settled_;
  --in_progress_;
  if (next_ < connections_.size()) open_next();
}

void connection_holder::close_all() {
  if (!thread_.joinable()) return;
  // Closing aborts every read; once their handlers have run, nothing refers to the
  // connections but the list, and run() returns when the work guard goes.
  asio::post(io_, [this] {
    for (auto& c : connections_) c->close();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  io_.stop();
  thread_.join();
  connections_.clear();
}

}  // namespace loadgen
