#include "suite/bus_client.hpp"

#include <algorithm>
#include <cstring>
#include <queue>

#include <zmq.hpp>

#include "suite/inproc_mailbox.hpp"
#include "suite/log.hpp"

namespace suite {

using steady = std::chrono::steady_clock;

struct bus_client::subscription {
  std::string endpoint;
  std::vector<std::string> topics;
  message_callback on_message;
};

struct bus_client::pending_call {
  std::uint64_t id = 0;
  std::size_t service = 0;  // index; == service count for an unknown service
  msgpack::sbuffer frame;
  reply_callback done;
  steady::time_point deadline;
  std::chrono::milliseconds gap{0};  // a streamed call's allowance between parts
  bool streamed = false;
  int endpoint = -1;  // index into the service's endpoints once sent
};

struct bus_client::endpoint_state {
  std::string address;
  zmq::socket_t dealer;
  zmq::socket_t monitor;  // PAIR receiving the DEALER's connection events
  bool up = false;
  bool monitored = false;  // inproc connections raise no events: they count as up
};

// Everything the client thread owns.
class bus_client::loop {
 public:
  explicit loop(bus_client& client) : client_(client) {}

  void run(zmq::socket_t mailbox) {
    mailbox_ = std::move(mailbox);
    open_sockets();
    std::vector<zmq::pollitem_t> items;
    items.push_back({mailbox_.handle(), 0, ZMQ_POLLIN, 0});
    for (auto& service : endpoints_) {
      for (auto& ep : service) {
        items.push_back({ep.dealer.handle(), 0, ZMQ_POLLIN, 0});
        if (ep.monitored) items.push_back({ep.monitor.handle(), 0, ZMQ_POLLIN, 0});
      }
    }
    for (auto& sub : subs_) items.push_back({sub.handle(), 0, ZMQ_POLLIN, 0});

    while (true) {
      zmq::poll(items.data(), items.size(), next_timeout());
      std::size_t i = 0;
      if (items[i++].revents & ZMQ_POLLIN) {
        if (!drain_mailbox()) break;
      }
      for (std::size_t s = 0; s < endpoints_.size(); ++s) {
        for (std::size_t e = 0; e < endpoints_[s].size(); ++e) {
          auto& ep = endpoints_[s][e];
          if (items[i++].revents & ZMQ_POLLIN) drain_replies(ep);
          if (ep.monitored && (items[i++].revents & ZMQ_POLLIN)) drain_events(s, e);
        }
      }
      for (std::size_t k = 0; k < subs_.size(); ++k) {
        if (items[i++].revents & ZMQ_POLLIN) drain_subscription(k);
      }
      expire_deadlines();
    }
    for (auto& [id, call] : pending_) {
      finish(*call, error_reply(
                        id, make_error(503, "backend_unavailable", "bus client is shutting down")));
    }
    pending_.clear();
    close_sockets();
  }

 private:
  void open_sockets() {
    endpoints_.resize(client_.service_endpoints_.size());
    for (std::size_t s = 0; s < client_.service_endpoints_.size(); ++s) {
      for (const auto& address : client_.service_endpoints_[s]) {
        endpoint_state ep;
        ep.address = address;
        ep.dealer = zmq::socket_t(bus_context(), zmq::socket_type::dealer);
        ep.dealer.set(zmq::sockopt::linger, 0);
        // Queue only on completed connections, so a send to a dead service fails at once.
        ep.dealer.set(zmq::sockopt::immediate, 1);
        ep.dealer.set(zmq::sockopt::sndhwm, 100000);
        ep.dealer.set(zmq::sockopt::rcvhwm, 100000);
        ep.dealer.set(zmq::sockopt::reconnect_ivl,
                      static_cast<int>(client_.options_.reconnect.count()));
        ep.dealer.set(zmq::sockopt::reconnect_ivl_max, 1000);
        ep.dealer.set(zmq::sockopt::heartbeat_ivl, 1000);
        ep.dealer.set(zmq::sockopt::heartbeat_timeout, 3000);
        ep.monitored = !address.starts_with("inproc://");
        if (ep.monitored) {
          std::string monitor_endpoint = unique_inproc_endpoint("bus-client-monitor");
          zmq_socket_monitor(ep.dealer.handle(), monitor_endpoint.c_str(),
                             ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED);
          ep.monitor = zmq::socket_t(bus_context(), zmq::socket_type::pair);
          ep.monitor.set(zmq::sockopt::linger, 0);
          ep.monitor.connect(monitor_endpoint);
        } else {
          set_up(s, ep, true);
        }
        ep.dealer.connect(address);
        endpoints_[s].push_back(std::move(ep));
      }
    }
    for (const auto& sub : client_.subscriptions_) {
      zmq::socket_t socket(bus_context(), zmq::socket_type::sub);
      socket.set(zmq::sockopt::linger, 0);
      socket.set(zmq::sockopt::reconnect_ivl, static_cast<int>(client_.options_.reconnect.count()));
      socket.set(zmq::sockopt::rcvhwm, 100000);
      for (const auto& topic : sub->topics) socket.set(zmq::sockopt::subscribe, topic);
      socket.connect(sub->endpoint);
      subs_.push_back(std::move(socket));
    }
  }

  // libzmq's I/O thread sends monitor events with a blocking send: a DEALER closed
  // while its monitor's reader is gone would block that thread (and so every socket of
  // the process). So the monitor is stopped first, then the DEALER closed, then the
  // monitor's reader.
  void close_sockets() {
    for (auto& service : endpoints_) {
      for (auto& ep : service) {
        if (ep.monitored) zmq_socket_monitor(ep.dealer.handle(), nullptr, 0);
        ep.dealer.close();
        if (ep.monitored) ep.monitor.close();
      }
    }
    endpoints_.clear();
  }

  void set_up(std::size_t service, endpoint_state& ep, bool up) {
    if (ep.up == up) return;
    ep.up = up;
    client_.connected_count_[service]->fetch_add(up ? 1 : -1);
  }

  std::chrono::milliseconds next_timeout() {
    if (deadlines_.empty()) return std::chrono::milliseconds(-1);
    auto wait =
        std::chrono::ceil<std::chrono::milliseconds>(deadlines_.top().first - steady::now());
    return std::max(wait, std::chrono::milliseconds(0));
  }

  bool drain_mailbox() {
    zmq::message_t msg;
    while (mailbox_.recv(msg, zmq::recv_flags::dontwait)) {
      if (msg.size() == 1 + sizeof(std::uint64_t)) {  // 'C' + id: a cancel
        std::uint64_t id = 0;
        std::memcpy(&id, msg.data<char>() + 1, sizeof id);
        cancel_call(id);
        continue;
      }
      if (msg.size() != sizeof(pending_call*)) return false;  // the stop message
      pending_call* raw = nullptr;
      std::memcpy(&raw, msg.data(), sizeof raw);
      send_call(std::unique_ptr<pending_call>(raw));
    }
    return true;
  }

  void send_call(std::unique_ptr<pending_call> call) {
    if (call->service >= endpoints_.size()) {
      finish(*call, error_reply(call->id, make_error(404, "unknown_service", "no such service")));
      return;
    }
    auto& service = endpoints_[call->service];
    std::size_t& next = round_robin_[call->service];
    for (std::size_t k = 0; k < service.size(); ++k) {
      std::size_t e = (next + k) % service.size();
      auto& ep = service[e];
      if (!ep.up) continue;
      if (!ep.dealer.send(zmq::buffer(call->frame.data(), call->frame.size()),
                          zmq::send_flags::dontwait))
        continue;
      next = e + 1;
      call->endpoint = static_cast<int>(e);
      call->frame.clear();
      deadlines_.emplace(call->deadline, call->id);
      pending_.emplace(call->id, std::move(call));
      return;
    }
    finish(*call, error_reply(call->id, make_error(503, "backend_unavailable",
                                                   "no connected instance of " +
                                                       client_.service_names_[call->service])));
  }

  void drain_replies(endpoint_state& ep) {
    zmq::message_t msg;
    while (ep.dealer.recv(msg, zmq::recv_flags::dontwait)) {
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
        deadlines_.emplace(call.deadline, call.id);
        deliver_part(call, std::move(*decoded));
        continue;
      }
      auto call = std::move(it->second);
      pending_.erase(it);
      finish(*call, std::move(*decoded));
    }
  }

  void drain_events(std::size_t s, std::size_t e) {
    auto& ep = endpoints_[s][e];
    zmq::message_t head, address;
    while (ep.monitor.recv(head, zmq::recv_flags::dontwait)) {
      if (head.more()) (void)ep.monitor.recv(address);
      std::uint16_t event = 0;
      if (head.size() >= sizeof event) std::memcpy(&event, head.data(), sizeof event);
      if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
        set_up(s, ep, true);
        log_info("bus.connected",
                 {{"service", client_.service_names_[s]}, {"endpoint", ep.address}});
      } else if (event == ZMQ_EVENT_DISCONNECTED) {
        set_up(s, ep, false);
        log_warn("bus.disconnected",
                 {{"service", client_.service_names_[s]}, {"endpoint", ep.address}});
        fail_in_flight(s, static_cast<int>(e));
      }
    }
  }

  void fail_in_flight(std::size_t service, int endpoint) {
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->second->service == service && it->second->endpoint == endpoint) {
        auto call = std::move(it->second);
        it = pending_.erase(it);
        finish(*call,
               error_reply(call->id, make_error(503, "backend_unavailable",
                                                "connection to " + client_.service_names_[service] +
                                                    " lost")));
      } else {
        ++it;
      }
    }
  }

  void drain_subscription(std::size_t k) {
    zmq::message_t topic, payload;
    while (subs_[k].recv(topic, zmq::recv_flags::dontwait)) {
      if (!topic.more()) continue;
      (void)subs_[k].recv(payload);
      auto value = parse_msgpack(payload.data<char>(), payload.size());
      if (!value) continue;
      try {
        client_.subscriptions_[k]->on_message(topic.to_string(), *value);
      } catch (const std::exception& ex) {
        log_error("bus.subscriber_failed", {{"error", ex.what()}});
      }
    }
  }

  void cancel_call(std::uint64_t id) {
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    auto call = std::move(it->second);
    pending_.erase(it);
    client_.in_flight_.fetch_sub(1, std::memory_order_relaxed);
    if (call->endpoint < 0) return;
    auto& ep = endpoints_[call->service][static_cast<std::size_t>(call->endpoint)];
    request cancel;
    cancel.id = client_.next_id_.fetch_add(1, std::memory_order_relaxed);
    cancel.op = "sys.cancel";
    cancel.body = pack_value([id](msgpack_packer& p) {
      p.pack_map(1);
      pack_string(p, "id");
      p.pack_uint64(id);
    });
    msgpack::sbuffer frame;
    encode(cancel, frame);
    (void)ep.dealer.send(zmq::buffer(frame.data(), frame.size()), zmq::send_flags::dontwait);
  }

  void deliver_part(pending_call& call, reply r) {
    try {
      call.done(std::move(r));
    } catch (const std::exception& ex) {
      log_error("bus.callback_failed", {{"error", ex.what()}});
    }
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

  void finish(pending_call& call, reply r) {
    client_.in_flight_.fetch_sub(1, std::memory_order_relaxed);
    try {
      call.done(std::move(r));
    } catch (const std::exception& ex) {
      log_error("bus.callback_failed", {{"error", ex.what()}});
    }
  }

  bus_client& client_;
  zmq::socket_t mailbox_;
  std::vector<std::vector<endpoint_state>> endpoints_;
  std::unordered_map<std::size_t, std::size_t> round_robin_;
  std::vector<zmq::socket_t> subs_;
  std::unordered_map<std::uint64_t, std::unique_ptr<pending_call>> pending_;
  using deadline_entry = std::pair<steady::time_point, std::uint64_t>;
  std::priority_queue<deadline_entry, std::vector<deadline_entry>, std::greater<>> deadlines_;
};

bus_client::bus_client() : bus_client(options{}) {}

bus_client::bus_client(options opts)
    : options_(opts), mailbox_endpoint_(unique_inproc_endpoint("bus-client")) {}

bus_client::~bus_client() { stop(); }

void bus_client::add_service(const std::string& service, std::vector<std::string> endpoints) {
  service_names_.push_back(service);
  service_endpoints_.push_back(std::move(endpoints));
  connected_count_.push_back(std::make_unique<std::atomic<int>>(0));
}

void bus_client::subscribe(const std::string& endpoint, std::vector<std::string> topics,
                           message_callback on_message) {
  subscriptions_.push_back(std::make_unique<subscription>(
      subscription{endpoint, std::move(topics), std::move(on_message)}));
}

status bus_client::start() {
  zmq::socket_t mailbox = bind_mailbox(mailbox_endpoint_);
  started_ = true;
  thread_ = std::thread([this, m = std::move(mailbox)]() mutable {
    loop l(*this);
    l.run(std::move(m));
  });
  return ok();
}

void bus_client::stop() {
  if (!started_) return;
  started_ = false;
  zmq::message_t stop_frame(0);
  post_to_mailbox(mailbox_endpoint_, &stop_frame, 1);
  thread_.join();
}

void bus_client::call(const std::string& service, request req, reply_callback done) {
  (void)submit(service, std::move(req), std::move(done), false);
}

std::uint64_t bus_client::call_stream(const std::string& service, request req,
                                      part_callback on_part) {
  return submit(service, std::move(req), std::move(on_part), true);
}

void bus_client::cancel(std::uint64_t call_id) {
  char frame[1 + sizeof call_id] = {'C'};
  std::memcpy(frame + 1, &call_id, sizeof call_id);
  zmq::message_t msg(frame, sizeof frame);
  post_to_mailbox(mailbox_endpoint_, &msg, 1);
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
  pending_call* raw = call.release();
  zmq::message_t msg(&raw, sizeof raw);
  post_to_mailbox(mailbox_endpoint_, &msg, 1);
  return id;
}

bool bus_client::connected(const std::string& service) const {
  for (std::size_t s = 0; s < service_names_.size(); ++s) {
    if (service_names_[s] == service) return connected_count_[s]->load() > 0;
  }
  return false;
}

}  // namespace suite
