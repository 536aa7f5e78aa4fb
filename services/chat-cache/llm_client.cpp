#include "llm_client.hpp"

#include <utility>  // Asio 1.18 uses std::exchange without including <utility> (C++20)

#include <algorithm>
#include <optional>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace suite::chat_cache {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;

struct llm_client::impl {
  llm_client_settings settings;
  prometheus::Histogram* latency = nullptr;
  std::string host, port, prefix, host_header;
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
  std::thread thread;
  std::vector<beast::tcp_stream> idle;  // pooled keep-alive connections (io thread only)

  // Circuit breaker state (io thread only, mirrored in `open` for readers elsewhere).
  int consecutive_failures = 0;
  bool half_open_trial_running = false;
  steady::time_point open_until{};
  std::atomic<bool> open{false};

  // Whether a call may go to the LLM now; marks the half-open trial when it is one.
  bool admit(bool& is_trial) {
    is_trial = false;
    if (!open.load(std::memory_order_relaxed)) return true;
    if (steady::now() < open_until || half_open_trial_running) return false;
    half_open_trial_running = true;
    is_trial = true;
    return true;
  }
  void on_transport_success(bool was_trial) {
    if (was_trial) half_open_trial_running = false;
    consecutive_failures = 0;
    open.store(false, std::memory_order_relaxed);
  }
  void on_transport_failure(bool was_trial) {
    if (was_trial) half_open_trial_running = false;
    if (++consecutive_failures >= settings.breaker_failures || was_trial) {
      open_until = steady::now() + settings.breaker_cooldown;
      open.store(true, std::memory_order_relaxed);
    }
  }
};

namespace {

// One POST to the LLM: connect (or reuse), write, read, hand back. Lives on the io thread.
class exchange : public std::enable_shared_from_this<exchange> {
 public:
  exchange(llm_client::impl& client, std::string path, std::string body, llm_client::callback done,
           llm_client::data_callback on_data)
      : client_(client),
        timer_(client.io),
        resolver_(client.io),
        done_(std::move(done)),
        on_data_(std::move(on_data)) {
    request_.method(http::verb::post);
    request_.target(client.prefix + path);
    request_.version(11);
    request_.set(http::field::host, client.host_header);
    request_.set(http::field::content_type, "application/json");
    request_.set(http::field::accept, "application/x-ndjson, text/event-stream, application/json");
    request_.keep_alive(true);
    request_.body() = std::move(body);
    request_.prepare_payload();
  }

  void start() {
    started_ = steady::now();
    if (!client_.admit(is_trial_)) {
      return finish(make_error(
          503, "upstream_circuit_open",
          "the LLM failed repeatedly; calls are refused until it has had time to recover"));
    }
    if (!client_.idle.empty()) {
      stream_.emplace(std::move(client_.idle.back()));
      client_.idle.pop_back();
      reused_ = true;
      return send();
    }
    connect();
  }

 private:
  void connect() {
    reused_ = false;
    resolver_.async_resolve(
        client_.host, client_.port,
        [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type results) {
          if (ec) return self->connect_failed(ec);
          self->stream_.emplace(self->client_.io);
          self->stream_->expires_after(self->client_.settings.connect_timeout);
          self->stream_->async_connect(results,
                                       [self](beast::error_code ec2, const tcp::endpoint&) {
                                         if (ec2) return self->connect_failed(ec2);
                                         self->stream_->socket().set_option(tcp::no_delay(true));
                                         self->send();
                                       });
        });
  }

  void connect_failed(beast::error_code ec) {
    if (attempt_ < client_.settings.connect_retries) {
      auto backoff = client_.settings.retry_backoff * (1 << attempt_);
      ++attempt_;
      timer_.expires_after(backoff);
      timer_.async_wait([self = shared_from_this()](beast::error_code) { self->connect(); });
      return;
    }
    client_.on_transport_failure(is_trial_);
    finish(make_error(
        503, "upstream_unavailable",
        "cannot connect to the LLM at " + client_.host + ":" + client_.port + ": " + ec.message()));
  }

  void send() {
    // One budget for the whole exchange, retries included.
    auto left = client_.settings.request_timeout -
                std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - started_);
    stream_->expires_after(std::max(left, std::chrono::milliseconds(1)));
    http::async_write(*stream_, request_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        if (ec) return self->io_failed(ec, true);
                        self->read();
                      });
  }

  void read() {
    parser_.emplace();
    parser_->body_limit(client_.settings.max_body_bytes);
    delivered_ = 0;
    read_some();
  }

  // Reads piece by piece so that each new stretch of body goes to on_data at once.
  void read_some() {
    http::async_read_some(*stream_, buffer_, *parser_,
                          [self = shared_from_this()](beast::error_code ec, std::size_t) {
                            if (ec) return self->io_failed(ec, false);
                            self->deliver_new_bytes();
                            if (!self->parser_->is_done()) return self->read_some();
                            self->received();
                          });
  }

  void deliver_new_bytes() {
    if (!on_data_ || !parser_->is_header_done()) return;
    const auto& body = parser_->get().body();
    if (body.size() <= delivered_) return;
    std::string_view fresh(body.data() + delivered_, body.size() - delivered_);
    delivered_ = body.size();
    on_data_(static_cast<int>(parser_->get().result_int()), fresh);
  }

  void io_failed(beast::error_code ec, bool while_writing) {
    // A pooled connection the server already closed fails before any reply byte: that
    // is not the LLM failing, so try once more on a fresh connection.
    bool nothing_received = while_writing || (parser_ && !parser_->got_some());
    if (reused_ && nothing_received && ec != beast::error::timeout) {
      delivered_ = 0;
      stream_.reset();
      buffer_.clear();
      return connect();
    }
    client_.on_transport_failure(is_trial_);
    if (ec == beast::error::timeout) {
      return finish(make_error(504, "upstream_timeout",
                               "the LLM did not answer within " +
                                   std::to_string(client_.settings.request_timeout.count()) +
                                   " ms"));
    }
    finish(make_error(502, "upstream_failed", "the connection to the LLM broke: " + ec.message()));
  }

  void received() {
    client_.on_transport_success(is_trial_);
    auto response = parser_->release();
    if (response.keep_alive() && client_.idle.size() < client_.settings.max_idle_connections &&
        buffer_.size() == 0) {
      stream_->expires_never();
      client_.idle.push_back(std::move(*stream_));
    }
    stream_.reset();
    finish(llm_response{static_cast<int>(response.result_int()), std::move(response.body())});
  }

  void finish(result<llm_response> outcome) {
    if (client_.latency)
      client_.latency->Observe(std::chrono::duration<double>(steady::now() - started_).count());
    auto done = std::move(done_);
    done(std::move(outcome));
  }

  llm_client::impl& client_;
  asio::steady_timer timer_;
  tcp::resolver resolver_;
  llm_client::callback done_;
  llm_client::data_callback on_data_;
  std::size_t delivered_ = 0;  // body bytes already given to on_data_
  std::optional<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  std::optional<http::response_parser<http::string_body>> parser_;
  steady::time_point started_;
  int attempt_ = 0;
  bool reused_ = false;
  bool is_trial_ = false;
};

}  // namespace

result<std::unique_ptr<llm_client>> llm_client::create(llm_client_settings settings,
                                                       prometheus::Histogram* latency) {
  auto i = std::make_unique<impl>();
  std::string_view url = settings.base_url;
  if (!url.starts_with("http://")) {
    return make_error(400, "bad_llm_url",
                      "the LLM URL must be http://host:port[/prefix], got " + settings.base_url);
  }
  url.remove_prefix(7);
  auto slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  i->prefix = slash == std::string_view::npos ? "" : std::string(url.substr(slash));
  while (!i->prefix.empty() && i->prefix.back() == '/') i->prefix.pop_back();
  auto colon = authority.rfind(':');
  i->host = std::string(authority.substr(0, colon));
  i->port = colon == std::string_view::npos ? "80" : std::string(authority.substr(colon + 1));
  if (i->host.empty() || i->port.empty()) {
    return make_error(400, "bad_llm_url",
                      "the LLM URL must be http://host:port[/prefix], got " + settings.base_url);
  }
  i->host_header = std::string(authority);
  i->settings = std::move(settings);
  i->latency = latency;
  i->guard.emplace(i->io.get_executor());
  auto* raw = i.get();
  i->thread = std::thread([raw] { raw->io.run(); });
  return std::unique_ptr<llm_client>(new llm_client(std::move(i)));
}

llm_client::llm_client(std::unique_ptr<impl> impl) : impl_(std::move(impl)) {}

llm_client::~llm_client() {
  impl_->guard.reset();
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

void llm_client::post(std::string path, std::string json_body, callback done,
                      data_callback on_data) {
  asio::post(impl_->io, [i = impl_.get(), path = std::move(path), body = std::move(json_body),
                         done = std::move(done), on_data = std::move(on_data)]() mutable {
    std::make_shared<exchange>(*i, std::move(path), std::move(body), std::move(done),
                               std::move(on_data))
        ->start();
  });
}

bool llm_client::circuit_open() const { return impl_->open.load(std::memory_order_relaxed); }

}  // namespace suite::chat_cache
