#include "suite/bus_client.hpp"

#include <algorithm>
#include <cstring>
#include <queue>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <zmq.hpp>

#include "suite/inproc_mailbox.hpp"
#include "suite/log.hpp"

namespace suite {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;

struct bus_client::subscription {
  std::string endpoint;
  std::vector<std::string> topics;
  subscriber calls;  // calls.listening: its topics are subscribed (the client's thread only)
  std::atomic<bool> connected{false};
};

struct bus_client::pending_call {
  std::uint64_t id = 0;
  std::size_t service = 0;  // index; == service count for an unknown service
  msgpack::sbuffer frame{frame_buffer_bytes};
  reply_callback done;
  steady::time_point deadline;
  std::chrono::milliseconds gap{0};  // a streamed call's allowance between parts
  bool streamed = false;
  int endpoint = -1;  // index into the service's endpoints once sent
};

namespace {

// A ZeroMQ socket whose readiness the io_context waits on. ZMQ_FD is edge-triggered and
// only means "look at ZMQ_EVENTS": so every wake-up reads until ZMQ_EVENTS has no
// POLLIN, and a send on the socket (which may take the signal for itself) is followed by
// a look at ZMQ_EVENTS (readable_after_send).
class watched_socket {
 public:
  watched_socket(asio::io_context& context, zmq::socket_t s)
      : socket(std::move(s)), fd_(context, socket.get(zmq::sockopt::fd)) {}
  ~watched_socket() { close(); }
  watched_socket(const watched_socket&) = delete;
  watched_socket& operator=(const watched_socket&) = delete;

  // Calls `drain` now and then whenever the socket may have something to read, until
  // close(). `drain` must read until recv says there is nothing left.
  void watch(std::function<void()> drain) {
    drain_ = std::move(drain);
    drain_all();
    arm();
  }

  bool readable_after_send() { return socket.get(zmq::sockopt::events) & ZMQ_POLLIN; }

  // Stops watching; the descriptor stays ZeroMQ's to close.
  void close() {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ignored;
    fd_.cancel(ignored);
    (void)fd_.release();
    socket.close();
  }

  bool closed() const { return closed_; }

  zmq::socket_t socket;

 private:
  void drain_all() {
    do drain_();
    while (!closed_ && (socket.get(zmq::sockopt::events) & ZMQ_POLLIN));
  }

  void arm() {
    fd_.async_wait(asio::posix::descriptor_base::wait_read,
                   [this](const boost::system::error_code& ec) {
                     if (ec || closed_) return;
                     drain_all();
                     if (!closed_) arm();
                   });
  }

  asio::posix::stream_descriptor fd_;
  std::function<void()> drain_;
  bool closed_ = false;
};

// A socket's connection events (a handshake done, a connection dropped), read through a
// PAIR socket. inproc:// connections raise none: watch_connections gives nullptr for them.
std::unique_ptr<watched_socket> watch_connections(asio::io_context& context, zmq::socket_t& socket,
                                                  const std::string& address) {
  if (address.starts_with("inproc://")) return nullptr;
  std::string monitor_endpoint = unique_inproc_endpoint("bus-client-monitor");
  zmq_socket_monitor(socket.handle(), monitor_endpoint.c_str(),
                     ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED);
  zmq::socket_t monitor(bus_context(), zmq::socket_type::pair);
  monitor.set(zmq::sockopt::linger, 0);
  monitor.connect(monitor_endpoint);
  return std::make_unique<watched_socket>(context, std::move(monitor));
}

// Reads the events waiting on a monitor: on_change(true) for a handshake done,
// on_change(false) for a connection dropped.
void read_connection_events(watched_socket& monitor, const std::function<void(bool)>& on_change) {
  zmq::message_t head, address;
  while (!monitor.closed() && monitor.socket.recv(head, zmq::recv_flags::dontwait)) {
    if (head.more()) (void)monitor.socket.recv(address);
    std::uint16_t event = 0;
    if (head.size() >= sizeof event) std::memcpy(&event, head.data(), sizeof event);
    if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) on_change(true);
    if (event == ZMQ_EVENT_DISCONNECTED) on_change(false);
  }
}

// libzmq's I/O thread sends monitor events with a blocking send: a socket closed while
// its monitor's reader is gone would block that thread (and so every socket of the
// process). So the monitor is stopped first, then the socket closed, then the reader.
void close_watched(watched_socket& socket, std::unique_ptr<watched_socket>& monitor) {
  if (monitor) zmq_socket_monitor(socket.socket.handle(), nullptr, 0);
  socket.close();
  if (monitor) monitor->close();
}

}  // namespace

// Everything the client's thread owns.
class bus_client::loop {
 public:
  loop(bus_client& client, asio::io_context& context)
      : client_(client), context_(context), deadline_timer_(context) {}

  void open() {
    endpoints_.resize(client_.service_endpoints_.size());
    round_robin_.resize(client_.service_endpoints_.size());
    for (std::size_t s = 0; s < client_.service_endpoints_.size(); ++s) {
      for (const auto& address : client_.service_endpoints_[s]) {
        endpoints_[s].push_back(open_endpoint(s, address));
      }
    }
    for (std::size_t e = 0; e < endpoints_.size(); ++e) {
      for (std::size_t k = 0; k < endpoints_[e].size(); ++k) watch_endpoint(e, k);
    }
    for (const auto& sub : client_.subscriptions_) {
      zmq::socket_t socket(bus_context(), zmq::socket_type::sub);
      socket.set(zmq::sockopt::linger, 0);
      socket.set(zmq::sockopt::reconnect_ivl, static_cast<int>(client_.options_.reconnect.count()));
      socket.set(zmq::sockopt::rcvhwm, 100000);
      if (sub->calls.listening) {
        for (const auto& topic : sub->topics) socket.set(zmq::sockopt::subscribe, topic);
      }
      sub_state state;
      state.monitor = watch_connections(context_, socket, sub->endpoint);
      if (!state.monitor) sub->connected = true;
      socket.connect(sub->endpoint);
      state.socket = std::make_unique<watched_socket>(context_, std::move(socket));
      subs_.push_back(std::move(state));
    }
    for (std::size_t k = 0; k < subs_.size(); ++k) {
      subs_[k].socket->watch([this, k] { drain_subscription(k); });
      if (subs_[k].monitor) subs_[k].monitor->watch([this, k] { drain_subscription_events(k); });
    }
  }

  // A SUB counts each subscribe of a topic, so this changes the sockopts only when
  // `on` differs from what it is.
  void listen(std::size_t k, bool on) {
    auto& sub = *client_.subscriptions_[k];
    if (sub.calls.listening == on || subs_[k].socket->closed()) return;
    sub.calls.listening = on;
    for (const auto& topic : sub.topics) {
      if (on) {
        subs_[k].socket->socket.set(zmq::sockopt::subscribe, topic);
      } else {
        subs_[k].socket->socket.set(zmq::sockopt::unsubscribe, topic);
      }
    }
  }

  // Fails every call in flight and closes the sockets.
  void shutdown() {
    boost::system::error_code ignored;
    deadline_timer_.cancel(ignored);
    auto calls = std::move(pending_);
    pending_.clear();
    for (auto& [id, call] : calls) {
      finish(*call, error_reply(
                        id, make_error(503, "backend_unavailable", "bus client is shutting down")));
    }
    for (auto& service : endpoints_) {
      for (auto& ep : service) close_watched(*ep.dealer, ep.monitor);
    }
    for (auto& sub : subs_) close_watched(*sub.socket, sub.monitor);
    for (auto& sub : client_.subscriptions_) sub->connected = false;
  }

  void send_call(std::unique_ptr<pending_call> call) {
    if (call->service >= endpoints_.size()) {
      finish_later(std::move(call), make_error(404, "unknown_service", "no such service"));
      return;
    }
    std::size_t s = call->service;
    auto& service = endpoints_[s];
    std::size_t& next = round_robin_[s];
    for (std::size_t k = 0; k < service.size(); ++k) {
      std::size_t e = (next + k) % service.size();
      auto& ep = service[e];
      if (!ep.up || ep.dealer->closed()) continue;
      if (!ep.dealer->socket.send(zmq::buffer(call->frame.data(), call->frame.size()),
                                  zmq::send_flags::dontwait))
        continue;
      next = e + 1;
      call->endpoint = static_cast<int>(e);
      call->frame.clear();
      add_deadline(call->deadline, call->id);
      pending_.emplace(call->id, std::move(call));
      drain_after_send(s, e);
      return;
    }
    finish_later(std::move(call),
                 make_error(503, "backend_unavailable",
                            "no connected instance of " + client_.service_names_[s]));
  }

  void cancel_call(std::uint64_t id) {
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    auto call = std::move(it->second);
    pending_.erase(it);
    client_.in_flight_.fetch_sub(1, std::memory_order_relaxed);
    if (call->endpoint < 0) return;
    auto e = static_cast<std::size_t>(call->endpoint);
    auto& ep = endpoints_[call->service][e];
    if (ep.dealer->closed()) return;
    request cancel;
    cancel.id = client_.next_id_.fetch_add(1, std::memory_order_relaxed);
    cancel.op = "sys.cancel";
    cancel.body = pack_value([id](msgpack_packer& p) {
      p.pack_map(1);
      pack_string(p, "id");
      p.pack_uint64(id);
    });
    msgpack::sbuffer frame(frame_buffer_bytes);
    encode(cancel, frame);
    (void)ep.dealer->socket.send(zmq::buffer(frame.data(), frame.size()),
                                 zmq::send_flags::dontwait);
    drain_after_send(call->service, e);
  }

 private:
  struct endpoint_state {
    std::string address;
    std::unique_ptr<watched_socket> dealer;
    std::unique_ptr<watched_socket> monitor;  // PAIR receiving the DEALER's connection events
    bool up = false;                          // inproc connections raise no events: always up
    bool drain_posted = false;
  };

  struct sub_state {
    std::unique_ptr<watched_socket> socket;   // SUB
    std::unique_ptr<watched_socket> monitor;  // PAIR receiving the SUB's connection events
  };

  endpoint_state open_endpoint(std::size_t s, const std::string& address) {
    endpoint_state ep;
    ep.address = address;
    zmq::socket_t dealer(bus_context(), zmq::socket_type::dealer);
    dealer.set(zmq::sockopt::linger, 0);
    // Queue only on completed connections, so a send to a dead service fails at once.
    dealer.set(zmq::sockopt::immediate, 1);
    dealer.set(zmq::sockopt::sndhwm, 100000);
    dealer.set(zmq::sockopt::rcvhwm, 100000);
    // Every `reconnect` while the service is down, without ZeroMQ's back-off (a SYN to a
    // closed port per interval is nothing), so a service that starts or comes back is
    // used within one interval: with a 1 s back-off the gateway took up to a second to see
    // a restarted service (event-ingest-bench's start-up went 20 ms or 190 ms, by phase).
    dealer.set(zmq::sockopt::reconnect_ivl, static_cast<int>(client_.options_.reconnect.count()));
    dealer.set(zmq::sockopt::heartbeat_ivl, 1000);
    dealer.set(zmq::sockopt::heartbeat_timeout, 3000);
    ep.monitor = watch_connections(context_, dealer, address);
    if (!ep.monitor) set_up(s, ep, true);
    dealer.connect(address);
    ep.dealer = std::make_unique<watched_socket>(context_, std::move(dealer));
    return ep;
  }

  void watch_endpoint(std::size_t s, std::size_t e) {
    auto& ep = endpoints_[s][e];
    ep.dealer->watch([this, s, e] { drain_replies(s, e); });
    if (ep.monitor) ep.monitor->watch([this, s, e] { drain_events(s, e); });
  }

  // A send may have taken the socket's signal that replies are waiting.
  void drain_after_send(std::size_t s, std::size_t e) {
    auto& ep = endpoints_[s][e];
    if (ep.drain_posted || !ep.dealer->readable_after_send()) return;
    ep.drain_posted = true;
    asio::post(context_, [this, s, e] {
      auto& posted = endpoints_[s][e];
      posted.drain_posted = false;
      if (!posted.dealer->closed()) drain_replies(s, e);
    });
  }

  void set_up(std::size_t service, endpoint_state& ep, bool up) {
    if (ep.up == up) return;
    ep.up = up;
    client_.connected_count_[service]->fetch_add(up ? 1 : -1);
  }

  void drain_replies(std::size_t s, std::size_t e) {
    auto& ep = endpoints_[s][e];
    zmq::message_t msg;
    while (!ep.dealer->closed() && ep.dealer->socket.recv(msg, zmq::recv_flags::dontwait)) {
      auto decoded = decode_reply(msg.data<char>(), msg.size());
      if (!decoded) {
        log_warn("bus.bad_reply", {{"endpoint", ep.address}, {"error", decoded.error().message}});
        continue;
      }
      auto it = pending_.find(decoded->id);
      if (it == pending_.end()) continue;  // answered late, after its deadline
      if (decoded->more) {
        if (!it->second->streamed) continue;  // a part for a one-reply call: ignored
        auto& call = *it->second;
        call.deadline = steady::now() + call.gap;
        add_deadline(call.deadline, call.id);
        deliver(call, std::move(*decoded));
        continue;
      }
      auto call = std::move(it->second);
      pending_.erase(it);
      finish(*call, std::move(*decoded));
    }
  }

  void drain_events(std::size_t s, std::size_t e) {
    auto& ep = endpoints_[s][e];
    read_connection_events(*ep.monitor, [&](bool up) {
      set_up(s, ep, up);
      if (up) {
        log_info("bus.connected",
                 {{"service", client_.service_names_[s]}, {"endpoint", ep.address}});
        return;
      }
      log_warn("bus.disconnected",
               {{"service", client_.service_names_[s]}, {"endpoint", ep.address}});
      fail_in_flight(s, static_cast<int>(e));
    });
  }

  // A SUB connects to one publisher: it is connected while its one connection is up.
  void drain_subscription_events(std::size_t k) {
    auto& sub = *client_.subscriptions_[k];
    read_connection_events(*subs_[k].monitor, [&](bool up) {
      if (up) {
        log_info("bus.subscribed", {{"endpoint", sub.endpoint}});
      } else {
        log_warn("bus.unsubscribed", {{"endpoint", sub.endpoint}});
      }
      // First, so whoever sees the new state through subscribed() sees the call's effects.
      if (sub.calls.on_connection) sub.calls.on_connection(up);
      sub.connected = up;
    });
  }

  void fail_in_flight(std::size_t service, int endpoint) {
    std::vector<std::unique_ptr<pending_call>> lost;
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->second->service == service && it->second->endpoint == endpoint) {
        lost.push_back(std::move(it->second));
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& call : lost) {
      finish(*call,
             error_reply(call->id,
                         make_error(503, "backend_unavailable",
                                    "connection to " + client_.service_names_[service] + " lost")));
    }
  }

  void drain_subscription(std::size_t k) {
    auto& sub = *subs_[k].socket;
    zmq::message_t topic, payload;
    while (!sub.closed() && sub.socket.recv(topic, zmq::recv_flags::dontwait)) {
      if (!topic.more()) continue;
      (void)sub.socket.recv(payload);
      const auto& calls = client_.subscriptions_[k]->calls;
      if (calls.wanted && !calls.wanted()) continue;
      auto value = parse_msgpack(payload.data<char>(), payload.size());
      if (!value) continue;
      try {
        calls.on_message(topic.to_string(), *value);
      } catch (const std::exception& ex) {
        log_error("bus.subscriber_failed", {{"error", ex.what()}});
      }
    }
  }

  // Deadlines: a min-heap of (when, call id), and one timer set to its earliest entry.
  // A call's entry is not removed when it ends; stale entries are dropped when the timer
  // fires, so that it is then set to the earliest call still waiting (seconds away under
  // a steady load) and does not fire once per call.
  void add_deadline(steady::time_point when, std::uint64_t id) {
    deadlines_.emplace(when, id);
    if (timer_armed_ && armed_for_ <= when) return;
    arm_timer(when);
  }

  void arm_timer(steady::time_point when) {
    timer_armed_ = true;
    armed_for_ = when;
    deadline_timer_.expires_at(when);
    deadline_timer_.async_wait([this, when](const boost::system::error_code& ec) {
      if (ec || armed_for_ != when) return;  // cancelled, or set again since
      timer_armed_ = false;
      expire_deadlines();
      drop_stale_deadlines();
      if (!deadlines_.empty()) arm_timer(deadlines_.top().first);
    });
  }

  void expire_deadlines() {
    auto now = steady::now();
    while (!deadlines_.empty() && deadlines_.top().first <= now) {
      auto [when, id] = deadlines_.top();
      deadlines_.pop();
      auto it = pending_.find(id);
      if (it == pending_.end()) continue;
      if (it->second->deadline > when) continue;  // a part moved it: a newer entry exists
      auto call = std::move(it->second);
      pending_.erase(it);
      finish(*call,
             error_reply(id, make_error(504, "deadline_exceeded", "no reply before the deadline")));
    }
  }

  void drop_stale_deadlines() {
    while (!deadlines_.empty()) {
      auto [when, id] = deadlines_.top();
      auto it = pending_.find(id);
      if (it != pending_.end() && it->second->deadline <= when) return;  // still waiting
      deadlines_.pop();
    }
  }

  // A call that cannot be sent: its callback must not run inside call(), so it runs next.
  void finish_later(std::unique_ptr<pending_call> call, error_info e) {
    asio::post(context_, [this, call = std::move(call), e = std::move(e)]() mutable {
      finish(*call, error_reply(call->id, std::move(e)));
    });
  }

  void deliver(pending_call& call, reply r) {
    try {
      call.done(std::move(r));
    } catch (const std::exception& ex) {
      log_error("bus.callback_failed", {{"error", ex.what()}});
    }
  }

  void finish(pending_call& call, reply r) {
    client_.in_flight_.fetch_sub(1, std::memory_order_relaxed);
    deliver(call, std::move(r));
  }

  bus_client& client_;
  asio::io_context& context_;
  std::vector<std::vector<endpoint_state>> endpoints_;
  std::vector<std::size_t> round_robin_;
  std::vector<sub_state> subs_;
  std::unordered_map<std::uint64_t, std::unique_ptr<pending_call>> pending_;
  using deadline_entry = std::pair<steady::time_point, std::uint64_t>;
  std::priority_queue<deadline_entry, std::vector<deadline_entry>, std::greater<>> deadlines_;
  asio::steady_timer deadline_timer_;
  steady::time_point armed_for_;
  bool timer_armed_ = false;
};

bus_client::bus_client() : bus_client(options{}) {}

bus_client::bus_client(options opts)
    : options_(opts),
      own_context_(std::make_unique<asio::io_context>(1)),
      context_(own_context_.get()) {}

bus_client::bus_client(options opts, asio::io_context& context)
    : options_(opts), context_(&context) {}

bus_client::~bus_client() { stop(); }

void bus_client::add_service(const std::string& service, std::vector<std::string> endpoints) {
  service_names_.push_back(service);
  service_endpoints_.push_back(std::move(endpoints));
  connected_count_.push_back(std::make_unique<std::atomic<int>>(0));
}

void bus_client::subscribe(const std::string& endpoint, std::vector<std::string> topics,
                           subscriber calls) {
  auto sub = std::make_unique<subscription>();
  sub->endpoint = endpoint;
  sub->topics = std::move(topics);
  sub->calls = std::move(calls);
  subscriptions_.push_back(std::move(sub));
}

void bus_client::listen(const std::string& endpoint, bool on) {
  asio::dispatch(*context_, [this, endpoint, on] {
    if (!loop_) return;
    for (std::size_t k = 0; k < subscriptions_.size(); ++k) {
      if (subscriptions_[k]->endpoint == endpoint) loop_->listen(k, on);
    }
  });
}

status bus_client::start() {
  loop_ = std::make_unique<loop>(*this, *context_);
  loop_->open();
  started_ = true;
  if (own_context_) {
    thread_ = std::thread([this] {
      auto work = asio::make_work_guard(*own_context_);
      own_context_->run();
    });
  }
  return ok();
}

void bus_client::stop() {
  if (!started_) return;
  started_ = false;
  if (own_context_) {
    asio::post(*own_context_, [this] {
      loop_->shutdown();
      own_context_->stop();
    });
    thread_.join();
  } else {
    loop_->shutdown();
  }
  loop_.reset();
}

void bus_client::call(const std::string& service, request req, reply_callback done) {
  (void)submit(service, std::move(req), std::move(done), false);
}

std::uint64_t bus_client::call_stream(const std::string& service, request req,
                                      part_callback on_part) {
  return submit(service, std::move(req), std::move(on_part), true);
}

void bus_client::cancel(std::uint64_t call_id) {
  // Posted even on the client's thread: it may come from a part's callback, which must
  // not see its call destroyed under it.
  asio::post(*context_, [this, call_id] {
    if (loop_) loop_->cancel_call(call_id);
  });
}

std::uint64_t bus_client::submit(const std::string& service, request req, reply_callback done,
                                 bool streamed) {
  auto call = std::make_unique<pending_call>();
  call->streamed = streamed;
  call->id = next_id_.fetch_add(1, std::memory_order_relaxed);
  call->service = static_cast<std::size_t>(
      std::find(service_names_.begin(), service_names_.end(), service) - service_names_.begin());
  call->done = std::move(done);
  auto now_ms = unix_ms_now();
  if (req.deadline_ms == 0) req.deadline_ms = now_ms + options_.timeout.count();
  call->gap = std::chrono::milliseconds(std::max<std::int64_t>(0, req.deadline_ms - now_ms));
  call->deadline = steady::now() + call->gap;
  req.id = call->id;
  auto id = call->id;
  encode(req, call->frame);
  in_flight_.fetch_add(1, std::memory_order_relaxed);
  asio::dispatch(*context_, [this, call = std::move(call)]() mutable {
    if (loop_) return loop_->send_call(std::move(call));
    in_flight_.fetch_sub(1, std::memory_order_relaxed);  // stopped, or not started yet
    call->done(
        error_reply(call->id, make_error(503, "backend_unavailable", "bus client is not running")));
  });
  return id;
}

bool bus_client::subscribed(const std::string& endpoint) const {
  for (const auto& sub : subscriptions_) {
    if (sub->endpoint == endpoint && sub->connected.load()) return true;
  }
  return false;
}

bool bus_client::connected(const std::string& service) const {
  for (std::size_t s = 0; s < service_names_.size(); ++s) {
    if (service_names_[s] == service) return connected_count_[s]->load() > 0;
  }
  return false;
}

}  // namespace suite
