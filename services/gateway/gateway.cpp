#include "gateway.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <deque>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <unordered_map>
#include <utility>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
// GCC 12 with ASan reports a false -Wmaybe-uninitialized inside basic_parser::put (a
// boost::optional content length), which parse_arrived() calls directly.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <boost/beast/http.hpp>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include "authenticator.hpp"
#include "rate_limiter.hpp"
#include "request_mapping.hpp"
#include "response_head.hpp"
#include "route_table.hpp"
#include "streamed_response.hpp"
#include "suite/bus_client.hpp"
#include "suite/config.hpp"
#include "suite/log.hpp"

namespace suite::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;

namespace {

std::string error_json(const error_info& e) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartObject();
  w.Key("error");
  w.String(e.message.c_str(), static_cast<rapidjson::SizeType>(e.message.size()));
  w.Key("code");
  w.String(e.code.c_str(), static_cast<rapidjson::SizeType>(e.code.size()));
  w.Key("details");
  w.StartArray();
  for (const auto& d : e.details) {
    w.StartObject();
    w.Key("field");
    w.String(d.field.c_str(), static_cast<rapidjson::SizeType>(d.field.size()));
    w.Key("message");
    w.String(d.message.c_str(), static_cast<rapidjson::SizeType>(d.message.size()));
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return {sb.GetString(), sb.GetSize()};
}

}  // namespace

class sse_hub;
struct connection_slot;
struct live_stream;

// One SSE stream: owns its connection; lives on one io thread. It is pending (sends
// nothing, drops what is pushed) from watch() until open(), while its live stream is
// being subscribed.
class sse_client : public std::enable_shared_from_this<sse_client> {
 public:
  sse_client(beast::tcp_stream stream, std::string topic, gateway::impl& gw, bus_client& bus,
             std::shared_ptr<connection_slot> slot, live_stream* live)
      : stream_(std::move(stream)),
        topic_(std::move(topic)),
        gw_(gw),
        bus_(bus),
        slot_(std::move(slot)),
        live_(live) {}

  // Notices a client that goes away, from now on.
  void watch();
  // Sends the response head and the first message; live messages go out from here.
  void open(std::shared_ptr<const std::string> opening);
  // `seq` > 0 for an event with an SSE id: ids at or below the last one sent are skipped.
  void push(const std::shared_ptr<const std::string>& frame, std::uint64_t seq = 0);
  void close();
  // Resume (Last-Event-ID): hold live messages until the replay's last part, then send
  // them, skipping the events the replay already sent: no gap, no duplicate.
  void begin_replay(std::uint64_t after, std::uint64_t call_id);
  void replay_part(const reply& part);
  bool closed() const { return closed_; }
  const std::string& topic() const { return topic_; }

 private:
  void write_next();
  void read_until_closed();

  beast::tcp_stream stream_;
  std::string topic_;
  gateway::impl& gw_;
  bus_client& bus_;                        // its io thread's
  std::shared_ptr<connection_slot> slot_;  // counts this stream against its client IP
  live_stream* live_;                      // null: its service publishes nothing here
  std::deque<std::shared_ptr<const std::string>> queue_;
  bool pending_ = true;
  bool writing_ = false;
  bool closed_ = false;
  char scratch_[256];
  std::uint64_t last_seq_ = 0;
  bool replaying_ = false;
  std::uint64_t replay_call_ = 0;
  std::vector<std::pair<std::shared_ptr<const std::string>, std::uint64_t>> held_;
};

// The SSE frame of one published message. A message's "seq" (an event's position in
// the service's log) becomes the SSE id a client resumes from, and is left out of the
// JSON, whose shape stays {type, data}.
std::shared_ptr<const std::string> event_frame(std::uint64_t seq, const msgpack::object& message) {
  auto frame = std::make_shared<std::string>();
  if (seq) frame->append("id: ").append(std::to_string(seq)).append("\n");
  frame->append("data: ");
  if (seq && message.type == msgpack::type::MAP) {
    frame->push_back('{');
    bool first = true;
    for (std::uint32_t i = 0; i < message.via.map.size; ++i) {
      const auto& kv = message.via.map.ptr[i];
      if (kv.key.type == msgpack::type::STR && as_string_view(kv.key) == "seq") continue;
      if (!first) frame->push_back(',');
      first = false;
      msgpack_to_json(kv.key, *frame);
      frame->push_back(':');
      msgpack_to_json(kv.val, *frame);
    }
    frame->push_back('}');
  } else {
    msgpack_to_json(message, *frame);
  }
  frame->append("\n\n");
  return frame;
}

// The SSE clients of one io thread. Used only on that thread.
class sse_hub {
 public:
  void add(std::shared_ptr<sse_client> client) { clients_.push_back(std::move(client)); }
  // Sends `frame` to every client whose topic is a prefix of `topic` (all when empty).
  void broadcast(std::string_view topic, const std::shared_ptr<const std::string>& frame,
                 std::uint64_t seq = 0) {
    for (std::size_t i = 0; i < clients_.size(); ++i) {
      if (!clients_[i]->closed() && (topic.empty() || topic.starts_with(clients_[i]->topic()))) {
        clients_[i]->push(frame, seq);
      }
    }
    std::erase_if(clients_, [](const auto& c) { return c->closed(); });
  }
  void close_all() {
    for (auto& c : clients_) c->close();
    clients_.clear();
  }

 private:
  std::vector<std::shared_ptr<sse_client>> clients_;
};

// A publisher's live stream, which its SSE routes are fed from. With a mark op (the
// catalogue's mark_op) its topics are subscribed only while a client streams them, so a
// publisher nobody watches sends nothing over the network. The first client subscribes;
// its stream opens once a mark published through the service comes back on the
// subscription (a PUB drops what it publishes before a subscription reaches it, and
// nothing else says when it has), so nothing published after the client's `connected`
// is missed. After the publisher restarts, the subscription is confirmed again the same
// way (the open streams go on). The last client to leave unsubscribes. Without a mark op
// the topics stay subscribed and streams open at once.
struct live_stream {
  std::string service, endpoint, mark_op;
  std::atomic<std::size_t> clients{0};  // its streams, open or pending
  // Changed on io thread 0 only (its bus client owns the subscription); atomic for the
  // scrape's listening().
  enum class phase { idle, confirming, live };
  std::atomic<phase> stage{phase::idle};
  // Io thread 0 only:
  std::string token;                           // of the mark awaited while confirming
  std::vector<std::function<void()>> waiters;  // the pending streams' open(), once live
  std::unique_ptr<asio::steady_timer> retry;   // sends the mark again, then opens anyway

  // Its topics are subscribed.
  bool listening() const { return mark_op.empty() || stage != phase::idle; }
};

struct link_view;

struct gateway::impl {
  impl(gateway_settings s, const op_catalogue& c, metrics& m)
      : settings(std::move(s)),
        catalogue(c),
        service_metrics(m),
        routes(c),
        principal_limits(settings.rate_limit, settings.rate_burst),
        anonymous_limits(settings.anonymous_rate_limit, settings.anonymous_rate_burst) {}

  void accept_next();
  void refuse_connection(tcp::socket socket, std::size_t context);
  // Connection accounting per client IP: only on connect and close, never per request.
  bool take_connection(const std::string& ip);
  void release_connection(const std::string& ip);
  // Any io thread: `ready` runs on io thread 0 once `live` is open (at once when it is).
  void open_stream(live_stream& live, std::function<void()> ready);
  // Any io thread: one of `live`'s streams ended.
  void stream_closed(live_stream& live);
  // Io thread 0.
  void send_mark(live_stream& live, int attempt);
  void publisher_connected(live_stream& live);
  void on_published(live_stream& live, const std::string& topic, const msgpack_value& message);
  // The gateway's links to a backend, for /healthz and the link gauges: how many io
  // threads have a bus connection to it, and whether the live stream its SSE routes are
  // fed from is connected (nullopt: it has none).
  std::size_t io_threads_connected(const std::string& backend) const;
  std::optional<bool> live_stream_connected(const std::string& backend) const;

  gateway_settings settings;
  const op_catalogue& catalogue;
  metrics& service_metrics;
  route_table routes;
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  // One bus client per io context, run by its thread: a request's call and its reply
  // never leave the io thread that serves the connection.
  std::vector<std::unique_ptr<bus_client>> buses;
  // service -> the live stream its SSE routes are fed from (subscribed by buses.front()).
  std::map<std::string, std::unique_ptr<live_stream>> live_streams;
  std::string mark_prefix;       // unique to this gateway process, so it knows its own marks
  std::uint64_t marks_sent = 0;  // io thread 0 only
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::vector<std::unique_ptr<sse_hub>> hubs;
  std::vector<std::unique_ptr<asio::steady_timer>> heartbeats;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
  std::size_t next_context = 0;
  std::atomic<std::size_t> sse_clients{0};
  prometheus::Gauge* sse_gauge = nullptr;
  prometheus::Gauge* connections_gauge = nullptr;
  authenticator auth;
  rate_limiter principal_limits;
  rate_limiter anonymous_limits;
  // Requests in flight per backend; the map is filled at start and only read afterwards.
  std::unordered_map<std::string, std::unique_ptr<std::atomic<std::size_t>>> inflight_by_service;
  std::mutex connections_mutex;
  std::unordered_map<std::string, std::size_t> connections_by_ip;
  prometheus::Counter* refused_unauthenticated = nullptr;  // suite_gateway_refused_total{reason}
  prometheus::Counter* refused_forbidden = nullptr;
  prometheus::Counter* refused_rate_limited = nullptr;
  prometheus::Counter* refused_connections = nullptr;
  prometheus::Counter* slow_clients_closed = nullptr;
  std::uint16_t port = 0;
  bool running = false;
  // What a scrape reads of this gateway; set while running (start() to stop()).
  std::shared_ptr<link_view> links;
};

// The gateway's links to its backends, read at every scrape on the metrics thread:
// suite_gateway_backend_connected, suite_gateway_live_stream_connected and
// suite_gateway_live_stream_listening.
struct link_view {
  std::mutex mutex;  // cold: a scrape against stop()
  const gateway::impl* gw = nullptr;
};

class link_collector final : public prometheus::Collectable {
 public:
  explicit link_collector(std::shared_ptr<link_view> view) : view_(std::move(view)) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    std::lock_guard lock(view_->mutex);
    const auto* gw = view_->gw;
    if (!gw) return {};
    auto connected = gauge_family(
        "suite_gateway_backend_connected",
        "1 when every io thread of the gateway has a bus connection to the backend, else 0.");
    auto live = gauge_family("suite_gateway_live_stream_connected",
                             "1 while the gateway is connected to the live stream (PUB) its SSE "
                             "routes of the backend are fed from, else 0.");
    auto listening = gauge_family(
        "suite_gateway_live_stream_listening",
        "1 while the gateway subscribes to the topics of the backend's live stream (with a mark "
        "op only while an SSE client streams them), else 0.");
    const std::string& self = gw->service_metrics.service();
    for (const auto& [backend, stream] : gw->live_streams) {
      listening.metric.push_back(
          gauge_sample(stream->listening() ? 1 : 0, {{"backend", backend}, {"service", self}}));
    }
    for (const auto& backend : gw->catalogue.services()) {
      bool all = gw->io_threads_connected(backend) == gw->buses.size();
      connected.metric.push_back(
          gauge_sample(all ? 1 : 0, {{"backend", backend}, {"service", self}}));
      if (auto up = gw->live_stream_connected(backend)) {
        live.metric.push_back(gauge_sample(*up ? 1 : 0, {{"backend", backend}, {"service", self}}));
      }
    }
    return {std::move(connected), std::move(live), std::move(listening)};
  }

 private:
  std::shared_ptr<link_view> view_;
};

// One accepted connection's place in its client IP's count and in
// suite_gateway_http_connections; released when the last owner (the HTTP session, or the
// SSE stream it became) goes away.
struct connection_slot {
  gateway::impl& gw;
  std::string ip;
  connection_slot(gateway::impl& g, std::string address) : gw(g), ip(std::move(address)) {}
  ~connection_slot() { gw.release_connection(ip); }
  connection_slot(const connection_slot&) = delete;
  connection_slot& operator=(const connection_slot&) = delete;
};

bool gateway::impl::take_connection(const std::string& ip) {
  std::lock_guard lock(connections_mutex);
  auto& count = connections_by_ip[ip];
  if (settings.max_connections_per_ip > 0 && count >= settings.max_connections_per_ip) {
    if (count == 0) connections_by_ip.erase(ip);
    return false;
  }
  ++count;
  connections_gauge->Increment();
  return true;
}

std::size_t gateway::impl::io_threads_connected(const std::string& backend) const {
  return static_cast<std::size_t>(std::count_if(
      buses.begin(), buses.end(), [&](const auto& bus) { return bus->connected(backend); }));
}

std::optional<bool> gateway::impl::live_stream_connected(const std::string& backend) const {
  auto it = live_streams.find(backend);
  if (it == live_streams.end()) return std::nullopt;
  return buses.front()->subscribed(it->second->endpoint);
}

void gateway::impl::release_connection(const std::string& ip) {
  std::lock_guard lock(connections_mutex);
  auto it = connections_by_ip.find(ip);
  if (it != connections_by_ip.end() && --it->second == 0) connections_by_ip.erase(it);
  connections_gauge->Decrement();
}

void sse_client::watch() {
  stream_.expires_never();
  read_until_closed();
}

void sse_client::open(std::shared_ptr<const std::string> opening) {
  pending_ = false;
  push(opening);
}

void sse_client::push(const std::shared_ptr<const std::string>& frame, std::uint64_t seq) {
  if (closed_ || pending_) return;
  if (replaying_) {
    if (held_.size() >= gw_.settings.sse_queue_limit) {
      log_warn("sse.slow_client_dropped", {{"topic", topic_}, {"while", "replaying"}});
      close();
      return;
    }
    held_.emplace_back(frame, seq);
    return;
  }
  if (seq) {
    if (seq <= last_seq_) return;  // the replay sent it already
    last_seq_ = seq;
  }
  if (queue_.size() >= gw_.settings.sse_queue_limit) {
    // A client this far behind holds memory for everyone else: drop it.
    log_warn("sse.slow_client_dropped", {{"topic", topic_}});
    close();
    return;
  }
  queue_.push_back(frame);
  if (!writing_) write_next();
}

void sse_client::write_next() {
  writing_ = true;
  asio::async_write(stream_, asio::buffer(*queue_.front()),
                    [self = shared_from_this()](beast::error_code ec, std::size_t) {
                      self->writing_ = false;
                      if (ec) {
                        self->close();
                        return;
                      }
                      self->queue_.pop_front();
                      if (!self->queue_.empty() && !self->closed_) self->write_next();
                    });
}

void sse_client::read_until_closed() {
  // Clients send nothing on an SSE stream; a read completing means they went away.
  stream_.async_read_some(asio::buffer(scratch_),
                          [self = shared_from_this()](beast::error_code ec, std::size_t) {
                            if (ec) {
                              self->close();
                              return;
                            }
                            self->read_until_closed();
                          });
}

void sse_client::begin_replay(std::uint64_t after, std::uint64_t call_id) {
  replaying_ = true;
  last_seq_ = after;
  replay_call_ = call_id;
}

void sse_client::replay_part(const reply& part) {
  if (closed_ || !replaying_) return;
  if (part.is_error()) {
    // The events after Last-Event-ID cannot be sent: say so, then go on live.
    auto frame = std::make_shared<std::string>("event: error\ndata: ");
    frame->append(error_json(*part.error)).append("\n\n");
    queue_.push_back(std::move(frame));
  } else if (const auto* events = find_field(part.body.object, "events");
             events && events->type == msgpack::type::ARRAY) {
    for (std::uint32_t i = 0; i < events->via.array.size; ++i) {
      const auto& entry = events->via.array.ptr[i];
      const auto* seq = find_field(entry, "seq");
      const auto* event = find_field(entry, "event");
      if (!seq || seq->type != msgpack::type::POSITIVE_INTEGER || !event) continue;
      if (seq->via.u64 <= last_seq_) continue;
      last_seq_ = seq->via.u64;
      // The same bytes as the live frame of this event.
      auto message = pack_value([&](msgpack_packer& p) {
        p.pack_map(2);
        pack_string(p, "type");
        pack_string(p, "event");
        pack_string(p, "data");
        p.pack(*event);
      });
      // A replay is not held back by the queue limit: it is bounded by the op's limit.
      queue_.push_back(event_frame(last_seq_, message.object));
    }
    if (!part.more && bool_field(part.body.object, "truncated").value_or(false))
      queue_.push_back(std::make_shared<const std::string>(
          ": replay truncated: older events were left out\n\n"));
  }
  if (part.more) {
    if (!writing_ && !queue_.empty()) write_next();
    return;
  }
  replaying_ = false;
  replay_call_ = 0;
  auto held = std::move(held_);
  held_.clear();
  for (auto& [frame, seq] : held) push(frame, seq);
  if (!writing_ && !queue_.empty() && !closed_) write_next();
}

void sse_client::close() {
  if (closed_) return;
  if (replay_call_) bus_.cancel(replay_call_);
  closed_ = true;
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.close();
  gw_.sse_clients.fetch_sub(1);
  gw_.sse_gauge->Decrement();
  if (live_) gw_.stream_closed(*live_);
}

// One HTTP/1.1 keep-alive connection: read a request, answer it, repeat.
class http_session : public std::enable_shared_from_this<http_session> {
 public:
  http_session(tcp::socket socket, gateway::impl& gw, std::size_t context,
               std::shared_ptr<connection_slot> slot)
      : stream_(std::move(socket)),
        gw_(gw),
        context_(context),
        bus_(*gw.buses[context]),
        executor_(stream_.get_executor()),
        slot_(std::move(slot)) {}

  // Accepted on the acceptor's thread: the first read must start on the connection's
  // own io thread, or its stream and timer would be touched from two threads at once.
  void start() {
    asio::dispatch(executor_, [self = shared_from_this()] { self->read(); });
  }

 private:
  // Waits for a request's first byte up to the idle time-out (an idle keep-alive
  // connection is closed then), then gives the whole request request_timeout.
  void read() {
    extra_head_.clear();
    parser_.emplace();
    parser_->body_limit(gw_.settings.body_limit);
    parser_->header_limit(static_cast<std::uint32_t>(gw_.settings.header_limit));
    if (buffer_.size() > 0) {  // a pipelined request has already begun
      parse_arrived();
      return;
    }
    stream_.expires_after(gw_.settings.idle_timeout);
    stream_.async_read_some(buffer_.prepare(4096),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              if (ec) {
                                self->shutdown();
                                return;
                              }
                              self->buffer_.commit(n);
                              self->parse_arrived();
                            });
  }

  // Parses what has arrived. A whole request (the usual case: one read brings it) is
  // handled at once; otherwise http::async_read goes on from where the parser stopped.
  void parse_arrived() {
    beast::error_code ec;
    parser_->eager(true);  // the body too, as http::async_read does
    buffer_.consume(parser_->put(buffer_.data(), ec));
    if (ec == http::error::need_more) return read_request();
    if (!ec && !parser_->is_done()) return read_request();
    on_read(ec);
  }

  void read_request() {
    stream_.expires_after(gw_.settings.request_timeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == beast::error::timeout) {  // begun but not finished in time: a slow client
      gw_.slow_clients_closed->Increment();
      shutdown();
      return;
    }
    if (ec == http::error::end_of_stream || ec == asio::error::eof ||
        ec == asio::error::connection_reset || ec == asio::error::operation_aborted) {
      shutdown();
      return;
    }
    started_ = steady::now();
    op_ = &gw_.service_metrics.op("other");
    gw_.service_metrics.inflight().Increment();
    keep_alive_ = false;  // after a read error the stream is not in a known state
    if (ec == http::error::body_limit) {
      answer_error(make_error(413, "body_too_large",
                              "request body is over the limit of " +
                                  std::to_string(gw_.settings.body_limit) + " bytes"));
      return;
    }
    if (ec == http::error::header_limit) {
      answer_error(make_error(431, "headers_too_large", "request headers are over the limit"));
      return;
    }
    if (ec) {
      answer_error(make_error(400, "bad_http", "malformed HTTP request: " + ec.message()));
      return;
    }
    keep_alive_ = parser_->get().keep_alive();
    handle();
  }

  void handle() {
    auto& req = parser_->get();
    std::string_view target(req.target().data(), req.target().size());
    std::string_view method(req.method_string().data(), req.method_string().size());
    if (method == "GET" && (target == "/healthz" || target.starts_with("/healthz?"))) {
      op_ = &gw_.service_metrics.op("healthz");
      healthz();
      return;
    }
    std::string allowed;
    auto match = gw_.routes.match(method, target, &allowed);
    if (!match) {
      answer_error(match.error(), allowed);
      return;
    }
    op_ = &gw_.service_metrics.op(match->op->op);
    auto who = admit(req, *match->op);
    if (!who) return;  // answered
    if (match->op->kind == "sse") {
      start_sse(*match);
      return;
    }
    std::string service = match->service;
    auto call =
        build_bus_request(std::move(*match), req, gw_.sse_clients.load(), gw_.settings.timeout);
    if (!call) {
      answer_error(call.error());
      return;
    }
    auto bound = gw_.inflight_by_service.find(service);
    std::atomic<std::size_t>* inflight = bound->second.get();
    if (inflight->fetch_add(1, std::memory_order_relaxed) >=
        gw_.settings.max_inflight_per_backend) {
      inflight->fetch_sub(1, std::memory_order_relaxed);
      add_header(extra_head_, "Retry-After", "1");
      answer_error(make_error(503, "overloaded",
                              service + " has " +
                                  std::to_string(gw_.settings.max_inflight_per_backend) +
                                  " requests in flight, the gateway's bound; retry later"));
      return;
    }
    call->tenant = std::move(who->tenant);
    call->principal = std::move(who->principal);
    call->roles = std::move(who->roles);
    gw_.service_metrics.bus_queue_depth().Increment();
    awaiting_first_part_ = true;
    call_bus_ = &bus_for(service);
    call_id_ = call_bus_->call_stream(
        service, std::move(*call), [self = shared_from_this(), inflight](reply r) {
          // The bound counts calls until their last part: a stream holds its slot.
          if (!r.more) inflight->fetch_sub(1, std::memory_order_relaxed);
          asio::post(self->executor_,
                     [self, r = std::move(r)]() mutable { self->on_part(std::move(r)); });
        });
  }

  // Every reply comes as parts (a one-part reply is the usual case); a streamed one is
  // handed to a streamed_response, which owns the socket until it has ended.
  void on_part(reply r) {
    if (awaiting_first_part_) {
      awaiting_first_part_ = false;
      gw_.service_metrics.bus_queue_depth().Decrement();
      if (!r.more) return answer_reply(r);
      streamed_response::limits limits{gw_.settings.stream_buffer_limit, gw_.settings.timeout};
      auto self = shared_from_this();
      streaming_ = std::make_shared<streamed_response>(
          stream_, buffer_, limits, keep_alive_, parser_->get().version() >= 11,
          [this, id = call_id_] { call_bus_->cancel(id); },
          [this](bool reusable, int status) {
            streaming_.reset();
            finish_request(status);
            if (reusable) return read();
            shutdown();
          },
          self);
    }
    if (streaming_) streaming_->add_part(r);
  }

  // Authentication, the op's role and the caller's rate. Answers the request itself
  // (401, 403, 429) and returns nothing when it may not go on.
  std::optional<identity> admit(const http::request<http::string_body>& req, const op_spec& op) {
    std::string_view api_key, authorization;
    if (auto h = req.find("X-API-Key"); h != req.end())
      api_key = {h->value().data(), h->value().size()};
    if (auto h = req.find(http::field::authorization); h != req.end())
      authorization = {h->value().data(), h->value().size()};
    std::optional<identity> who;
    if (api_key.empty() && authorization.empty() &&
        (is_public(op) || (gw_.settings.anonymous_ingest && op.anonymous_in_dev))) {
      who = identity{"anonymous", "default", {}, true};
    } else {
      auto checked = gw_.auth.authenticate(api_key, authorization);
      if (!checked) {
        gw_.refused_unauthenticated->Increment();
        add_header(extra_head_, "WWW-Authenticate",
                   checked.error().code == "missing_credential"
                       ? R"(Bearer realm="suite", ApiKey header="X-API-Key")"
                       : R"(Bearer realm="suite", error="invalid_token")");
        answer_error(checked.error());
        return std::nullopt;
      }
      who = std::move(*checked);
      if (!allowed(op, *who)) {
        gw_.refused_forbidden->Increment();
        std::string needed;
        for (const auto& r : op.roles) needed += (needed.empty() ? "" : " or ") + r;
        answer_error(make_error(403, "forbidden",
                                "principal '" + who->principal + "' lacks the role for " + op.op +
                                    " (needs " + needed + ")"));
        return std::nullopt;
      }
    }
    auto decision = who->anonymous ? gw_.anonymous_limits.admit(client_ip())
                                   : gw_.principal_limits.admit(who->tenant + "/" + who->principal);
    if (!decision.allowed) {
      gw_.refused_rate_limited->Increment();
      auto seconds = std::max<std::int64_t>(
          1, std::chrono::ceil<std::chrono::seconds>(decision.retry_after).count());
      add_header(extra_head_, "Retry-After", std::to_string(seconds));
      answer_error(make_error(429, "rate_limited",
                              "too many requests from " +
                                  (who->anonymous ? "this address" : "'" + who->principal + "'") +
                                  "; retry after " + std::to_string(seconds) + " s"));
      return std::nullopt;
    }
    return who;
  }

  const std::string& client_ip() const { return slot_->ip; }

  // This io thread's bus client, unless it has no connection to the service yet while
  // another io thread's has (each connects on its own: after a start or a reconnect
  // they come up a few milliseconds apart). Its reply is posted here all the same.
  bus_client& bus_for(const std::string& service) {
    if (bus_.connected(service)) return bus_;
    for (auto& bus : gw_.buses) {
      if (bus->connected(service)) return *bus;
    }
    return bus_;  // none: it answers 503 at once
  }

  void healthz() {
    struct gather {
      std::shared_ptr<http_session> session;
      std::size_t remaining = 0;
      std::vector<std::pair<std::string, reply>> replies;
    };
    auto g = std::make_shared<gather>();
    g->session = shared_from_this();
    const auto& services = gw_.catalogue.services();
    g->remaining = services.size();
    g->replies.resize(services.size());
    for (std::size_t i = 0; i < services.size(); ++i) {
      g->replies[i].first = services[i];
      request probe;
      probe.op = "sys.health";
      probe.principal = "gateway";
      probe.deadline_ms =
          unix_ms_now() + std::min<std::int64_t>(1000, gw_.settings.timeout.count());
      // Callbacks all run on this io thread, so `g` needs no lock.
      bus_.call(services[i], std::move(probe), [g, i](reply r) {
        g->replies[i].second = std::move(r);
        if (--g->remaining == 0) {
          auto session = g->session;
          asio::post(session->executor_, [g] { g->session->answer_health(*g); });
        }
      });
    }
    if (services.empty()) answer_json(200, R"({"status":"ok","services":{}})");
  }

  template <class Gather>
  void answer_health(const Gather& g) {
    bool all_ok = true;
    std::string out = R"({"status":")";
    std::string services = "{";
    for (const auto& entry : g.replies) {
      const std::string& name = entry.first;  // not a structured binding: clang 14
      const reply& answer = entry.second;     // cannot capture those in a lambda
      if (services.size() > 1) services += ",";
      services += "\"" + name + "\":";
      // Every io thread has its own connection: ready means ready on all of them.
      auto connected = gw_.io_threads_connected(name);
      const reply& r =
          answer.is_error() ? answer
          : connected != gw_.buses.size()
              ? error_reply(0, make_error(503, "backend_unavailable",
                                          "connected from " + std::to_string(connected) + " of " +
                                              std::to_string(gw_.buses.size()) + " io threads"))
          // Its SSE routes would open, yet no live message could reach them.
          : !gw_.live_stream_connected(name).value_or(true)
              ? error_reply(0, make_error(503, "live_stream_unavailable",
                                          "not connected to its live stream " +
                                              gw_.live_streams.at(name)->endpoint))
              : answer;
      if (r.is_error()) {
        all_ok = false;
        services += R"({"status":"down","code":)" + std::to_string(r.status) + ",\"error\":";
        rapidjson::StringBuffer sb;
        rapidjson::Writer<rapidjson::StringBuffer> w(sb);
        w.String(r.error->message.c_str(),
                 static_cast<rapidjson::SizeType>(r.error->message.size()));
        services.append(sb.GetString(), sb.GetSize()).append("}");
      } else {
        msgpack_to_json(r.body.object, services);
      }
    }
    services += "}";
    out += all_ok ? "ok" : "degraded";
    out += R"(","services":)" + services + "}";
    answer_json(all_ok ? 200 : 503, std::move(out));
  }

  void start_sse(const route_match& match) {
    std::optional<std::uint64_t> resume_after;
    if (auto last = parser_->get().find("Last-Event-ID");
        last != parser_->get().end() && !match.op->resume_op.empty()) {
      std::string_view text(last->value().data(), last->value().size());
      std::uint64_t value = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
        answer_error(make_error(400, "bad_last_event_id",
                                "Last-Event-ID must be the id of an event this stream sent",
                                {{"Last-Event-ID", "is not an event id"}}));
        return;
      }
      resume_after = value;
    }
    if (gw_.sse_clients.fetch_add(1) >= gw_.settings.sse_max_clients) {
      gw_.sse_clients.fetch_sub(1);
      answer_error(make_error(503, "too_many_streams",
                              "the gateway is at its limit of " +
                                  std::to_string(gw_.settings.sse_max_clients) +
                                  " stream clients"));
      return;
    }
    gw_.sse_gauge->Increment();
    finish_request(200);
    auto opening = std::make_shared<const std::string>(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
        "Connection: keep-alive\r\nX-Accel-Buffering: no\r\n\r\n"
        "retry: 1000\ndata: {\"type\":\"connected\"}\n\n");
    auto found = gw_.live_streams.find(match.service);
    live_stream* live = found == gw_.live_streams.end() ? nullptr : found->second.get();
    if (live) live->clients.fetch_add(1);
    auto client =
        std::make_shared<sse_client>(std::move(stream_), match.op->topic, gw_, bus_, slot_, live);
    gw_.hubs[context_]->add(client);
    client->watch();
    auto begin = [client, opening, resume_after, resume_op = match.op->resume_op,
                  service = match.service, &bus = bus_, executor = executor_] {
      if (client->closed()) return;
      client->open(opening);
      if (!resume_after) return;
      // From here on (this same io thread turn) live messages are held until the replay
      // ends.
      request replay;
      replay.op = resume_op;
      replay.tenant = "default";
      replay.principal = "gateway";
      replay.body = pack_value([&](msgpack_packer& p) {
        p.pack_map(1);
        pack_string(p, "after");
        p.pack_uint64(*resume_after);
      });
      auto id = bus.call_stream(service, std::move(replay), [client, executor](reply part) {
        asio::post(executor, [client, part = std::move(part)] { client->replay_part(part); });
      });
      client->begin_replay(*resume_after, id);
    };
    if (!live || live->mark_op.empty()) return begin();
    gw_.open_stream(
        *live, [executor = executor_, begin = std::move(begin)] { asio::post(executor, begin); });
  }

  void answer_reply(const reply& r) {
    if (r.is_error()) {
      answer_error(*r.error);
      return;
    }
    if (const auto* raw = find_field(r.body.object, "$http")) {
      answer_raw(r.status, *raw);
      return;
    }
    std::string body;
    if (r.status != 204) msgpack_to_json(r.body.object, body);
    answer_json(r.status, std::move(body));
  }

  void answer_error(const error_info& e, const std::string& allowed = {}) {
    if (!allowed.empty()) add_header(extra_head_, "Allow", allowed);
    answer_json(e.status, error_json(e));
  }

  // A service-made body: {content_type, body (str or bin), headers {name: value}}.
  void answer_raw(int status, const msgpack::object& raw) {
    std::string body;
    if (const auto* b = find_field(raw, "body")) {
      if (b->type == msgpack::type::STR) body.assign(b->via.str.ptr, b->via.str.size);
      if (b->type == msgpack::type::BIN) body.assign(b->via.bin.ptr, b->via.bin.size);
    }
    send(status, string_field(raw, "content_type").value_or("application/octet-stream"),
         std::move(body), find_field(raw, "headers"));
  }

  void answer_json(int status, std::string body) {
    send(status, "application/json", std::move(body));
  }

  // The head and the body go out in one write (two buffers, no copy).
  void send(int status, std::string_view content_type, std::string body,
            const msgpack::object* service_headers = nullptr) {
    bool bodiless = status < 200 || status == 204 || status == 304;  // no length, no type
    head_.clear();
    begin_head(head_, status, bodiless ? std::string_view() : content_type, keep_alive_);
    if (bodiless)
      body.clear();
    else
      add_header(head_, "Content-Length", std::to_string(body.size()));
    head_ += extra_head_;
    add_service_headers(head_, service_headers);
    end_head(head_);
    body_ = std::move(body);
    finish_request(status);
    std::array<asio::const_buffer, 2> buffers{asio::buffer(head_), asio::buffer(body_)};
    asio::async_write(stream_, buffers,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        self->body_ = {};  // an idle connection holds no reply
                        if (ec || !self->keep_alive_) {
                          self->shutdown();
                          return;
                        }
                        self->read();
                      });
  }

  void finish_request(int status) {
    gw_.service_metrics.inflight().Decrement();
    op_->record(status, std::chrono::duration<double>(steady::now() - started_).count());
  }

  void shutdown() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  gateway::impl& gw_;
  std::size_t context_;
  bus_client& bus_;                 // this io thread's
  bus_client* call_bus_ = nullptr;  // the one carrying the current request's call
  asio::any_io_executor executor_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string head_;        // the response's status line and headers
  std::string extra_head_;  // header lines the gateway adds to it (Allow, Retry-After, ...)
  std::string body_;
  steady::time_point started_;
  op_metrics* op_ = nullptr;
  std::shared_ptr<connection_slot> slot_;
  bool keep_alive_ = true;
  bool awaiting_first_part_ = false;
  std::uint64_t call_id_ = 0;
  std::shared_ptr<streamed_response> streaming_;
};

void gateway::impl::accept_next() {
  std::size_t index = next_context++ % contexts.size();
  acceptor->async_accept(*contexts[index], [this, index](beast::error_code ec, tcp::socket socket) {
    if (!ec) {
      socket.set_option(tcp::no_delay(true), ec);
      auto remote = socket.remote_endpoint(ec);
      std::string ip = ec ? std::string("unknown") : remote.address().to_string();
      if (take_connection(ip)) {
        auto slot = std::make_shared<connection_slot>(*this, std::move(ip));
        std::make_shared<http_session>(std::move(socket), *this, index, std::move(slot))->start();
      } else {
        refuse_connection(std::move(socket), index);
      }
    }
    if (acceptor && acceptor->is_open()) accept_next();
  });
}

void gateway::impl::refuse_connection(tcp::socket socket, std::size_t context) {
  refused_connections->Increment();
  static const std::string body =
      R"({"error":"too many connections from this address","code":"too_many_connections","details":[]})";
  static const std::string answer =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: "
      "close\r\nRetry-After: 1\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  auto owned = std::make_shared<tcp::socket>(std::move(socket));
  asio::post(*contexts[context], [owned] {
    asio::async_write(*owned, asio::buffer(answer), [owned](beast::error_code, std::size_t) {
      beast::error_code ignored;
      owned->shutdown(tcp::socket::shutdown_both, ignored);
      owned->close(ignored);
    });
  });
}

void gateway::impl::open_stream(live_stream& live, std::function<void()> ready) {
  asio::post(*contexts[0], [this, &live, ready = std::move(ready)]() mutable {
    if (live.stage == live_stream::phase::live) return ready();
    live.waiters.push_back(std::move(ready));
    if (live.stage == live_stream::phase::confirming) return;
    live.stage = live_stream::phase::confirming;
    buses.front()->listen(live.endpoint, true);
    send_mark(live, 0);
  });
}

void gateway::impl::stream_closed(live_stream& live) {
  if (live.clients.fetch_sub(1) != 1 || live.mark_op.empty()) return;
  asio::post(*contexts[0], [this, &live] {
    // A stream opened since is counted already: it keeps the subscription.
    if (live.clients.load() != 0 || live.stage == live_stream::phase::idle) return;
    live.stage = live_stream::phase::idle;
    live.waiters.clear();  // all of closed streams
    live.retry->cancel();
    buses.front()->listen(live.endpoint, false);
  });
}

// Publishes a new mark through the service and waits for it: 20 ms, then twice as long
// each time (up to 0.64 s). A publisher that does not answer (it is down, or too old to
// know the op) does not hold streams back for long: after about 0.6 s the waiting ones
// open anyway, as they would have before (a gap is then possible), and so does each
// stream that comes later, at the next mark; marks go on until one comes back or no
// stream is left.
void gateway::impl::send_mark(live_stream& live, int attempt) {
  live.token = mark_prefix + std::to_string(marks_sent++);
  request mark;
  mark.op = live.mark_op;
  mark.tenant = "default";
  mark.principal = "gateway";
  mark.body = pack_value([&](msgpack_packer& p) {
    p.pack_map(1);
    pack_string(p, "token");
    pack_string(p, live.token);
  });
  buses.front()->call(live.service, std::move(mark), [](reply) {});
  if (attempt >= 5) {  // from then on, so a stream that comes later waits 0.64 s at most
    if (attempt == 5)
      log_warn("sse.stream_unconfirmed", {{"service", live.service}, {"endpoint", live.endpoint}});
    for (auto& ready : std::exchange(live.waiters, {})) ready();
  }
  live.retry->expires_after(std::chrono::milliseconds(20 << std::min(attempt, 5)));
  // The token: a wait that fired just before a newer round of marks began sends nothing.
  live.retry->async_wait([this, &live, attempt, token = live.token](beast::error_code ec) {
    if (!ec && live.stage == live_stream::phase::confirming && live.token == token)
      send_mark(live, attempt + 1);
  });
}

// The subscription (re)connected: the publisher restarted, or the network came back. It
// has dropped what it published before our topics reached it, so a live stream is
// confirmed again. Streams already open keep streaming (they missed what the outage
// lost, and a client resumes with Last-Event-ID); streams that come now wait for a mark.
void gateway::impl::publisher_connected(live_stream& live) {
  if (live.stage == live_stream::phase::idle) return;  // as is every stream without a mark op
  live.stage = live_stream::phase::confirming;
  send_mark(live, 0);  // its timer replaces the wait of a round still running
}

void gateway::impl::on_published(live_stream& live, const std::string& topic,
                                 const msgpack_value& message) {
  if (!live.mark_op.empty() && string_field(message.object, "type") == "mark") {
    if (live.stage == live_stream::phase::confirming &&
        string_field(message.object, "token") == live.token) {
      live.stage = live_stream::phase::live;
      live.retry->cancel();
      for (auto& ready : std::exchange(live.waiters, {})) ready();
    }
    return;  // marks are not for the clients
  }
  std::uint64_t seq = 0;
  if (const auto* s = find_field(message.object, "seq");
      s && s->type == msgpack::type::POSITIVE_INTEGER)
    seq = s->via.u64;
  auto shared = event_frame(seq, message.object);
  for (std::size_t i = 0; i < contexts.size(); ++i) {
    asio::post(*contexts[i],
               [hub = hubs[i].get(), topic, shared, seq] { hub->broadcast(topic, shared, seq); });
  }
}

namespace {

void schedule_heartbeat(gateway::impl& gw, std::size_t i) {
  gw.heartbeats[i]->expires_after(gw.settings.sse_heartbeat);
  gw.heartbeats[i]->async_wait([&gw, i](beast::error_code ec) {
    if (ec) return;
    static const auto beat = std::make_shared<const std::string>(": heartbeat\n\n");
    gw.hubs[i]->broadcast("", beat);
    schedule_heartbeat(gw, i);
  });
}

}  // namespace

gateway::gateway(gateway_settings settings, const op_catalogue& catalogue, metrics& metrics)
    : impl_(std::make_unique<impl>(std::move(settings), catalogue, metrics)) {}

gateway::~gateway() { stop(); }

std::uint16_t gateway::http_port() const { return impl_->port; }

std::size_t gateway::api_key_count() const { return impl_->auth.key_count(); }

status gateway::start() {
  auto& gw = *impl_;
  for (const auto& spec : gw.catalogue.ops()) gw.service_metrics.add_op(spec.op);
  gw.service_metrics.add_op("healthz");
  gw.sse_gauge = &prometheus::BuildGauge()
                      .Name("suite_gateway_sse_clients")
                      .Help("Open server-sent-event streams.")
                      .Register(gw.service_metrics.registry())
                      .Add({{"service", gw.service_metrics.service()}});
  gw.connections_gauge =
      &prometheus::BuildGauge()
           .Name("suite_gateway_http_connections")
           .Help("Open client TCP connections (keep-alive and SSE streams alike).")
           .Register(gw.service_metrics.registry())
           .Add({{"service", gw.service_metrics.service()}});
  auto& refusals = prometheus::BuildCounter()
                       .Name("suite_gateway_refused_total")
                       .Help("Requests refused before reaching a backend, by reason.")
                       .Register(gw.service_metrics.registry());
  auto refusal = [&](const char* reason) {
    return &refusals.Add({{"service", gw.service_metrics.service()}, {"reason", reason}});
  };
  gw.refused_unauthenticated = refusal("unauthenticated");
  gw.refused_forbidden = refusal("forbidden");
  gw.refused_rate_limited = refusal("rate_limited");
  gw.refused_connections = &prometheus::BuildCounter()
                                .Name("suite_gateway_refused_connections_total")
                                .Help("Connections refused: their client IP was at its cap.")
                                .Register(gw.service_metrics.registry())
                                .Add({{"service", gw.service_metrics.service()}});
  gw.slow_clients_closed = &prometheus::BuildCounter()
                                .Name("suite_gateway_slow_clients_closed_total")
                                .Help("Connections closed: a request not complete in time.")
                                .Register(gw.service_metrics.registry())
                                .Add({{"service", gw.service_metrics.service()}});
  auto auth = authenticator::create(gw.settings.api_keys_file, gw.settings.jwt_secret);
  if (!auth) return auth.error();
  gw.auth = std::move(*auth);
  for (std::size_t i = 0; i < std::max<std::size_t>(1, gw.settings.threads); ++i) {
    gw.contexts.push_back(std::make_unique<asio::io_context>(1));
    gw.guards.push_back(asio::make_work_guard(*gw.contexts.back()));
    gw.hubs.push_back(std::make_unique<sse_hub>());
    gw.heartbeats.push_back(std::make_unique<asio::steady_timer>(*gw.contexts.back()));
    gw.buses.push_back(std::make_unique<bus_client>(
        bus_client::options{gw.settings.timeout, std::chrono::milliseconds(50)},
        *gw.contexts.back()));
  }
  for (const auto& service : gw.catalogue.services()) {
    gw.inflight_by_service[service] = std::make_unique<std::atomic<std::size_t>>(0);
    auto it = gw.settings.backends.find(service);
    if (it == gw.settings.backends.end() || it->second.empty()) {
      return make_error(500, "no_backend", "no bus endpoint configured for service " + service);
    }
    for (auto& bus : gw.buses) bus->add_service(service, it->second);
  }
  // One subscription per publisher, on the first io thread: on_published fans out.
  std::random_device random;
  gw.mark_prefix = std::to_string(random()) + "-" + std::to_string(random()) + "-";
  for (const auto& [service, endpoint] : gw.settings.publishers) {
    std::vector<std::string> topics;
    std::string mark_op;
    for (const auto* spec : gw.catalogue.ops_of(service)) {
      if (spec->kind != "sse") continue;
      topics.push_back(spec->topic);
      if (!spec->mark_op.empty()) mark_op = spec->mark_op;
    }
    if (topics.empty() || endpoint.empty()) continue;
    auto& live = *(gw.live_streams[service] = std::make_unique<live_stream>());
    live.service = service;
    live.endpoint = endpoint;
    live.mark_op = mark_op;
    live.retry = std::make_unique<asio::steady_timer>(*gw.contexts[0]);
    gw.buses.front()->subscribe(
        endpoint, topics,
        {.on_message = [&gw, &live](
                           const std::string& topic,
                           const msgpack_value& message) { gw.on_published(live, topic, message); },
         // With no stream open, a message is dropped before it is parsed.
         .wanted = [&live] { return live.clients.load(std::memory_order_relaxed) != 0; },
         .on_connection =
             [&gw, &live](bool up) {
               if (up) gw.publisher_connected(live);
             },
         .listening = live.listening()});
  }

  auto bind = split_host_port(gw.settings.http_bind);
  if (!bind) return make_error(500, "bad_bind", "bad HTTP bind address " + gw.settings.http_bind);
  auto [host, port] = *bind;
  beast::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec) return make_error(500, "bad_bind", "bad HTTP bind address " + gw.settings.http_bind);
  gw.acceptor = std::make_unique<tcp::acceptor>(*gw.contexts[0]);
  tcp::endpoint endpoint(address, port);
  gw.acceptor->open(endpoint.protocol(), ec);
  if (!ec) gw.acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) gw.acceptor->bind(endpoint, ec);
  if (!ec) gw.acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return make_error(
        503, "http_bind_failed",
        "cannot listen on " + gw.settings.http_bind + " (port taken?): " + ec.message());
  }
  gw.port = gw.acceptor->local_endpoint().port();
  for (auto& bus : gw.buses) {
    if (auto started = bus->start(); !started) return started;
  }
  gw.accept_next();
  for (std::size_t i = 0; i < gw.contexts.size(); ++i) {
    schedule_heartbeat(gw, i);
    gw.threads.emplace_back([&gw, i] { gw.contexts[i]->run(); });
  }
  gw.running = true;
  gw.links = std::make_shared<link_view>();
  gw.links->gw = &gw;
  gw.service_metrics.add_collectable(std::make_shared<link_collector>(gw.links));
  return ok();
}

void gateway::stop() {
  auto& gw = *impl_;
  if (!gw.running) return;
  gw.running = false;
  {
    std::lock_guard lock(gw.links->mutex);
    gw.links->gw = nullptr;
  }
  asio::post(*gw.contexts[0], [&gw] {
    beast::error_code ec;
    gw.acceptor->close(ec);
  });
  for (std::size_t i = 0; i < gw.contexts.size(); ++i) {
    asio::post(*gw.contexts[i], [&gw, i] {
      gw.hubs[i]->close_all();
      gw.heartbeats[i]->cancel();
    });
  }
  for (auto& guard : gw.guards) guard.reset();
  for (auto& context : gw.contexts) context->stop();
  for (auto& thread : gw.threads) thread.join();
  gw.threads.clear();
  for (auto& bus : gw.buses) bus->stop();  // the io threads have ended: safe from here
  gw.buses.clear();
  gw.live_streams.clear();  // their timers, before the contexts go
  gw.heartbeats.clear();
  gw.hubs.clear();
  gw.acceptor.reset();
  gw.contexts.clear();
}

}  // namespace suite::gateway
