#include "fault_proxy.hpp"

#include <deque>
#include <list>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio.hpp>

namespace suite::test {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;

namespace {

struct link {
  explicit link(asio::io_context& io) : client(io), server(io) {}
  tcp::socket client, server;
  void close() {
    boost::system::error_code ignored;
    client.close(ignored);
    server.close(ignored);
  }
};

// One direction of a link: reads from `from`, forwards to `to` after the delay.
struct pump : std::enable_shared_from_this<pump> {
  pump(std::shared_ptr<link> owner, tcp::socket& from, tcp::socket& to,
       const std::atomic<std::int64_t>& delay_ms)
      : owner(std::move(owner)),
        from(from),
        to(to),
        delay_ms(delay_ms),
        timer(from.get_executor()) {}

  struct chunk {
    steady::time_point due;
    std::vector<char> bytes;
  };

  void read() {
    from.async_read_some(asio::buffer(buffer), [self = shared_from_this()](
                                                   boost::system::error_code ec, std::size_t n) {
      if (ec) {
        self->close_both();
        return;
      }
      auto delay = std::chrono::milliseconds(self->delay_ms.load());
      self->queue.push_back({steady::now() + delay, {self->buffer, self->buffer + n}});
      if (!self->writing) self->write_next();
      self->read();
    });
  }

  void write_next() {
    if (queue.empty()) {
      writing = false;
      return;
    }
    writing = true;
    timer.expires_at(queue.front().due);
    timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec) return;
      asio::async_write(self->to, asio::buffer(self->queue.front().bytes),
                        [self](boost::system::error_code ec, std::size_t) {
                          if (ec) {
                            self->close_both();
                            return;
                          }
                          self->queue.pop_front();
                          self->write_next();
                        });
    });
  }

  void close_both() {
    boost::system::error_code ignored;
    from.close(ignored);
    to.close(ignored);
    timer.cancel();
  }

  std::shared_ptr<link> owner;  // keeps both sockets alive while either pump runs
  tcp::socket& from;
  tcp::socket& to;
  const std::atomic<std::int64_t>& delay_ms;
  asio::steady_timer timer;
  std::deque<chunk> queue;
  bool writing = false;
  char buffer[16384];
};

}  // namespace

struct fault_proxy::impl {
  explicit impl(int target)
      : target_port(target), acceptor(io, {asio::ip::make_address("127.0.0.1"), 0}) {}

  void accept() {
    auto l = std::make_shared<link>(io);
    acceptor.async_accept(l->client, [this, l](boost::system::error_code ec) {
      if (ec) return;  // the acceptor was closed: the proxy is stopping
      ++accepted;
      if (is_cut.load()) {
        l->close();
      } else {
        links.push_back(l);
        l->server.async_connect(
            {asio::ip::make_address("127.0.0.1"), static_cast<std::uint16_t>(target_port)},
            [this, l](boost::system::error_code ec) {
              if (ec || is_cut.load()) {
                l->close();
                return;
              }
              std::make_shared<pump>(l, l->client, l->server, delay_ms)->read();
              std::make_shared<pump>(l, l->server, l->client, delay_ms)->read();
            });
      }
      std::erase_if(links, [](const std::weak_ptr<link>& w) { return w.expired(); });
      accept();
    });
  }

  int target_port;
  asio::io_context io;
  tcp::acceptor acceptor;
  std::atomic<std::int64_t> delay_ms{0};
  std::atomic<bool> is_cut{false};
  std::atomic<std::uint64_t> accepted{0};
  std::vector<std::weak_ptr<link>> links;  // only touched on the io thread
  std::thread thread;
};

fault_proxy::fault_proxy(int target_port) : impl_(std::make_unique<impl>(target_port)) {
  impl_->accept();
  impl_->thread = std::thread([this] { impl_->io.run(); });
}

fault_proxy::~fault_proxy() {
  asio::post(impl_->io, [this] {
    boost::system::error_code ignored;
    impl_->acceptor.close(ignored);
    for (auto& w : impl_->links)
      if (auto l = w.lock()) l->close();
  });
  // Every pending operation now fails and nothing new starts, so run() returns.
  impl_->thread.join();
}

int fault_proxy::port() const { return impl_->acceptor.local_endpoint().port(); }

void fault_proxy::set_delay(std::chrono::milliseconds delay) { impl_->delay_ms = delay.count(); }

void fault_proxy::cut() {
  impl_->is_cut = true;
  asio::post(impl_->io, [this] {
    for (auto& w : impl_->links)
      if (auto l = w.lock()) l->close();
    impl_->links.clear();
  });
}

void fault_proxy::restore() { impl_->is_cut = false; }

std::uint64_t fault_proxy::links_accepted() const { return impl_->accepted.load(); }

}  // namespace suite::test
