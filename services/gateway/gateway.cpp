#include "gateway.hpp"

#include <atomic>
#include <deque>
#include <optional>
#include <thread>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "route_table.hpp"
#include "suite/bus_client.hpp"
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

std::pair<std::string, std::uint16_t> split_host_port(const std::string& bind) {
  auto colon = bind.rfind(':');
  std::string host = bind.substr(0, colon);
  if (host.empty()) host = "0.0.0.0";
  return {host, static_cast<std::uint16_t>(std::stoi(bind.substr(colon + 1)))};
}

}  // namespace

class sse_hub;

// One SSE stream: owns its connection; lives on one io thread.
class sse_client : public std::enable_shared_from_this<sse_client> {
 public:
  sse_client(beast::tcp_stream stream, std::string topic, gateway::impl& gw)
      : stream_(std::move(stream)), topic_(std::move(topic)), gw_(gw) {}

  void start(std::shared_ptr<const std::string> opening);
  void push(const std::shared_ptr<const std::string>& frame);
  void close();
  bool closed() const { return closed_; }
  const std::string& topic() const { return topic_; }

 private:
  void write_next();
  void read_until_closed();

  beast::tcp_stream stream_;
  std::string topic_;
  gateway::impl& gw_;
  std::deque<std::shared_ptr<const std::string>> queue_;
  bool writing_ = false;
  bool closed_ = false;
  char scratch_[256];
};

// The SSE clients of one io thread. Used only on that thread.
class sse_hub {
 public:
  void add(std::shared_ptr<sse_client> client) { clients_.push_back(std::move(client)); }
  // Sends `frame` to every client whose topic is a prefix of `topic` (all when empty).
  void broadcast(std::string_view topic, const std::shared_ptr<const std::string>& frame) {
    for (std::size_t i = 0; i < clients_.size(); ++i) {
      if (!clients_[i]->closed() && (topic.empty() || topic.starts_with(clients_[i]->topic()))) {
        clients_[i]->push(frame);
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

struct gateway::impl {
  impl(gateway_settings s, const op_catalogue& c, metrics& m)
      : settings(std::move(s)),
        catalogue(c),
        service_metrics(m),
        routes(c),
        bus(bus_client::options{settings.timeout, std::chrono::milliseconds(50)}) {}

  void accept_next();
  void on_published(const std::string& topic, const msgpack_value& message);

  gateway_settings settings;
  const op_catalogue& catalogue;
  metrics& service_metrics;
  route_table routes;
  bus_client bus;
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::vector<std::unique_ptr<sse_hub>> hubs;
  std::vector<std::unique_ptr<asio::steady_timer>> heartbeats;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
  std::size_t next_context = 0;
  std::atomic<std::size_t> sse_clients{0};
  prometheus::Gauge* sse_gauge = nullptr;
  std::uint16_t port = 0;
  bool running = false;
};

void sse_client::start(std::shared_ptr<const std::string> opening) {
  stream_.expires_never();
  push(opening);
  read_until_closed();
}

void sse_client::push(const std::shared_ptr<const std::string>& frame) {
  if (closed_) return;
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

void sse_client::close() {
  if (closed_) return;
  closed_ = true;
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.close();
  gw_.sse_clients.fetch_sub(1);
  gw_.sse_gauge->Decrement();
}

// One HTTP/1.1 keep-alive connection: read a request, answer it, repeat.
class http_session : public std::enable_shared_from_this<http_session> {
 public:
  http_session(tcp::socket socket, gateway::impl& gw, std::size_t context)
      : stream_(std::move(socket)), gw_(gw), context_(context), executor_(stream_.get_executor()) {}

  // Accepted on the acceptor's thread: the first read must start on the connection's
  // own io thread, or its stream and timer would be touched from two threads at once.
  void start() {
    asio::dispatch(executor_, [self = shared_from_this()] { self->read(); });
  }

 private:
  void read() {
    parser_.emplace();
    parser_->body_limit(gw_.settings.body_limit);
    parser_->header_limit(static_cast<std::uint32_t>(gw_.settings.header_limit));
    stream_.expires_after(gw_.settings.idle_timeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::eof ||
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
    if (match->op->kind == "sse") {
      start_sse(*match);
      return;
    }
    for (const auto& header : match->op->headers) {
      if (auto h = req.find(header); h != req.end()) {
        std::string name = "http_";
        for (char c : header) name.push_back(c == '-' ? '_' : static_cast<char>(std::tolower(c)));
        match->params.push_back({std::move(name), std::string(h->value())});
      }
    }
    if (match->op->schema && !match->op->schema->property_type("gateway_sse_clients").empty()) {
      // An op whose schema declares this field gets the gateway's count of open SSE
      // streams (event-ingest's /api/health reports it); a client cannot set it.
      std::erase_if(match->params,
                    [](const extra_field& f) { return f.name == "gateway_sse_clients"; });
      match->params.push_back({"gateway_sse_clients", std::to_string(gw_.sse_clients.load())});
    }
    auto body = json_to_msgpack(req.body(), match->op->schema.get(), match->params);
    if (!body) {
      answer_error(body.error());
      return;
    }
    request call;
    call.op = match->op->op;
    call.tenant = "default";
    call.principal = "anonymous";
    call.body = std::move(*body);
    if (auto id = req.find("X-Request-Id"); id != req.end())
      call.trace_id = std::string(id->value());
    call.deadline_ms = unix_ms_now() + gw_.settings.timeout.count();
    gw_.service_metrics.bus_queue_depth().Increment();
    gw_.bus.call(match->service, std::move(call), [self = shared_from_this()](reply r) {
      asio::post(self->executor_, [self, r = std::move(r)]() mutable {
        self->gw_.service_metrics.bus_queue_depth().Decrement();
        self->answer_reply(r);
      });
    });
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
      // Callbacks all run on the bus client's thread, so `g` needs no lock.
      gw_.bus.call(services[i], std::move(probe), [g, i](reply r) {
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
    for (const auto& [name, r] : g.replies) {
      if (services.size() > 1) services += ",";
      services += "\"" + name + "\":";
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
    auto client = std::make_shared<sse_client>(std::move(stream_), match.op->topic, gw_);
    gw_.hubs[context_]->add(client);
    client->start(std::move(opening));
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
    if (!allowed.empty()) response_.set(http::field::allow, allowed);
    answer_json(e.status, error_json(e));
  }

  // A service-made body: {content_type, body (str or bin), headers {name: value}}.
  void answer_raw(int status, const msgpack::object& raw) {
    if (const auto* headers = find_field(raw, "headers");
        headers && headers->type == msgpack::type::MAP) {
      for (std::uint32_t i = 0; i < headers->via.map.size; ++i) {
        const auto& kv = headers->via.map.ptr[i];
        if (kv.key.type == msgpack::type::STR && kv.val.type == msgpack::type::STR) {
          auto name = as_string_view(kv.key), value = as_string_view(kv.val);
          response_.set(beast::string_view(name.data(), name.size()),
                        beast::string_view(value.data(), value.size()));
        }
      }
    }
    std::string body;
    if (const auto* b = find_field(raw, "body")) {
      if (b->type == msgpack::type::STR) body.assign(b->via.str.ptr, b->via.str.size);
      if (b->type == msgpack::type::BIN) body.assign(b->via.bin.ptr, b->via.bin.size);
    }
    send(status,
         std::string(string_field(raw, "content_type").value_or("application/octet-stream")),
         std::move(body));
  }

  void answer_json(int status, std::string body) {
    send(status, "application/json", std::move(body));
  }

  void send(int status, const std::string& content_type, std::string body) {
    response_.result(static_cast<unsigned>(status));
    response_.version(11);
    response_.keep_alive(keep_alive_);
    if (status != 204) response_.set(http::field::content_type, content_type);
    response_.body() = std::move(body);
    response_.prepare_payload();
    finish_request(status);
    http::async_write(stream_, response_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        self->response_ = {};
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
  asio::any_io_executor executor_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  steady::time_point started_;
  op_metrics* op_ = nullptr;
  bool keep_alive_ = true;
};

void gateway::impl::accept_next() {
  std::size_t index = next_context++ % contexts.size();
  acceptor->async_accept(*contexts[index], [this, index](beast::error_code ec, tcp::socket socket) {
    if (!ec) {
      socket.set_option(tcp::no_delay(true), ec);
      std::make_shared<http_session>(std::move(socket), *this, index)->start();
    }
    if (acceptor && acceptor->is_open()) accept_next();
  });
}

void gateway::impl::on_published(const std::string& topic, const msgpack_value& message) {
  if (sse_clients.load(std::memory_order_relaxed) == 0) return;  // nobody to render it for
  auto frame = std::make_shared<std::string>("data: ");
  msgpack_to_json(message.object, *frame);
  frame->append("\n\n");
  std::shared_ptr<const std::string> shared = std::move(frame);
  for (std::size_t i = 0; i < contexts.size(); ++i) {
    asio::post(*contexts[i],
               [hub = hubs[i].get(), topic, shared] { hub->broadcast(topic, shared); });
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

status gateway::start() {
  auto& gw = *impl_;
  for (const auto& spec : gw.catalogue.ops()) gw.service_metrics.add_op(spec.op);
  gw.service_metrics.add_op("healthz");
  gw.sse_gauge = &prometheus::BuildGauge()
                      .Name("suite_gateway_sse_clients")
                      .Help("Open server-sent-event streams.")
                      .Register(gw.service_metrics.registry())
                      .Add({{"service", gw.service_metrics.service()}});
  for (const auto& service : gw.catalogue.services()) {
    auto it = gw.settings.backends.find(service);
    if (it == gw.settings.backends.end() || it->second.empty()) {
      return make_error(500, "no_backend", "no bus endpoint configured for service " + service);
    }
    gw.bus.add_service(service, it->second);
  }
  for (const auto& [service, endpoint] : gw.settings.publishers) {
    std::vector<std::string> topics;
    for (const auto* spec : gw.catalogue.ops_of(service)) {
      if (spec->kind == "sse") topics.push_back(spec->topic);
    }
    if (topics.empty() || endpoint.empty()) continue;
    gw.bus.subscribe(endpoint, topics,
                     [&gw](const std::string& topic, const msgpack_value& message) {
                       gw.on_published(topic, message);
                     });
  }

  for (std::size_t i = 0; i < std::max<std::size_t>(1, gw.settings.threads); ++i) {
    gw.contexts.push_back(std::make_unique<asio::io_context>(1));
    gw.guards.push_back(asio::make_work_guard(*gw.contexts.back()));
    gw.hubs.push_back(std::make_unique<sse_hub>());
    gw.heartbeats.push_back(std::make_unique<asio::steady_timer>(*gw.contexts.back()));
  }
  auto [host, port] = split_host_port(gw.settings.http_bind);
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
  if (auto started = gw.bus.start(); !started) return started;
  gw.accept_next();
  for (std::size_t i = 0; i < gw.contexts.size(); ++i) {
    schedule_heartbeat(gw, i);
    gw.threads.emplace_back([&gw, i] { gw.contexts[i]->run(); });
  }
  gw.running = true;
  return ok();
}

void gateway::stop() {
  auto& gw = *impl_;
  if (!gw.running) return;
  gw.running = false;
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
  gw.bus.stop();
  gw.heartbeats.clear();
  gw.hubs.clear();
  gw.acceptor.reset();
  gw.contexts.clear();
}

}  // namespace suite::gateway
