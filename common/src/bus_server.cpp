#include "suite/bus_server.hpp"

#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <optional>

#include "suite/inproc_mailbox.hpp"
#include "suite/log.hpp"

namespace suite {

// What a ticket needs of its server. Tickets can outlive the server (an actor may
// still hold a job when the server stops): once `open` is false they answer nothing
// and touch no metrics.
struct server_link {
  std::string mailbox;  // the bridge's inproc endpoint
  metrics* service_metrics = nullptr;
  std::atomic<bool> open{true};
  // Jobs that have sent a part, by caller identity + request id, so sys.cancel can
  // find them. Written by the tickets (any thread), read by the bridge.
  std::mutex streams_mutex;
  std::map<std::pair<std::string, std::uint64_t>, std::weak_ptr<job_ticket>> streams;
};

// The third frame of a streamed reply's message to the bridge.
struct stream_order {
  std::uint64_t key;
  std::uint32_t number;
  bool last;
};

// Where and how to answer one request. Shared by every copy of its bus_job.
struct job_ticket : std::enable_shared_from_this<job_ticket> {
  std::shared_ptr<server_link> server;
  std::string identity;  // the caller's ROUTER routing id
  std::uint64_t request_id = 0;
  op_metrics* op = nullptr;
  std::chrono::steady_clock::time_point received;
  std::atomic<bool> answered{false};
  std::atomic<bool> started{false};
  std::atomic<bool> cancelled{false};
  // A streamed reply's parts may be sent from different threads (an actor moves between
  // scheduler threads), and each thread has its own socket to the bridge, so they can
  // arrive out of order: each carries its stream's key and number, and the bridge puts
  // them back in order. The mutex makes the numbering follow the calls.
  std::mutex stream_mutex;
  std::uint64_t stream_key = 0;  // 0 until the first part
  std::uint32_t next_part = 0;

  void post(const reply& r, bool last) {
    msgpack::sbuffer buffer(frame_buffer_bytes);
    encode(r, buffer);
    zmq::message_t frames[3] = {zmq::message_t(identity.data(), identity.size()),
                                zmq::message_t(buffer.data(), buffer.size()), zmq::message_t()};
    if (stream_key == 0) {
      post_to_mailbox(server->mailbox, frames, 2);
      return;
    }
    stream_order order{stream_key, next_part++, last};
    frames[2] = zmq::message_t(&order, sizeof order);
    post_to_mailbox(server->mailbox, frames, 3);
  }

  void send_part(reply r) {
    std::lock_guard lock(stream_mutex);
    if (answered.load() || cancelled.load() || !server->open.load()) return;
    r.id = request_id;
    r.more = true;
    if (stream_key == 0) {
      static std::atomic<std::uint64_t> keys{1};
      stream_key = keys.fetch_add(1);
      if (!started.exchange(true)) server->service_metrics->bus_queue_depth().Decrement();
      std::lock_guard streams_lock(server->streams_mutex);
      server->streams[{identity, request_id}] = weak_from_this();
    }
    post(r, false);
  }

  void send(reply r) {
    std::lock_guard lock(stream_mutex);
    if (answered.exchange(true) || !server->open.load()) return;
    r.id = request_id;
    r.more = false;
    // Metrics first, so that whoever sees the reply also sees it counted.
    if (!started.exchange(true)) server->service_metrics->bus_queue_depth().Decrement();
    server->service_metrics->inflight().Decrement();
    op->record(r.status,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - received).count());
    post(r, true);
    if (stream_key != 0) {
      std::lock_guard streams_lock(server->streams_mutex);
      server->streams.erase({identity, request_id});
    }
  }

  ~job_ticket() {
    if (!answered.load()) {
      send(error_reply(
          request_id,
          make_error(500, "dropped", "the service dropped the request without answering")));
    }
  }
};

void respond(const bus_job& job, reply r) { job.ticket->send(std::move(r)); }

void respond_ok(const bus_job& job, msgpack_value body, int status) {
  respond(job, ok_reply(job.req.id, std::move(body), status));
}

void respond_error(const bus_job& job, error_info error) {
  respond(job, error_reply(job.req.id, std::move(error)));
}

void respond_part(const bus_job& job, reply part) { job.ticket->send_part(std::move(part)); }

void respond_part_ok(const bus_job& job, msgpack_value body, int status) {
  respond_part(job, ok_reply(job.req.id, std::move(body), status));
}

bool cancelled(const bus_job& job) {
  return job.ticket->cancelled.load() || !job.ticket->server->open.load();
}

void mark_started(const bus_job& job) {
  auto& ticket = *job.ticket;
  if (ticket.server->open.load() && !ticket.started.exchange(true)) {
    ticket.server->service_metrics->bus_queue_depth().Decrement();
  }
}

bool start_unless_expired(const bus_job& job) {
  mark_started(job);
  if (!past_deadline(job.req)) return true;
  auto& ticket = *job.ticket;
  if (ticket.server->open.load()) ticket.server->service_metrics->deadline_dropped().Increment();
  respond_error(job, make_error(504, "deadline_exceeded",
                                "the request waited past its deadline and was dropped unserved"));
  return false;
}

namespace {

void run_sync_job(const sync_handlers& handlers, const bus_job& job) {
  if (!start_unless_expired(job)) return;  // waited past its deadline
  auto it = handlers.find(job.req.op);
  if (it == handlers.end()) {
    respond_error(job, make_error(404, "unknown_op", "no handler for op '" + job.req.op + "'"));
    return;
  }
  try {
    respond(job, it->second(job.req));
  } catch (const std::exception& e) {
    log_error("handler.failed", {{"op", job.req.op}, {"error", e.what()}});
    respond_error(job, make_error(500, "internal", "internal error"));
  }
}

// What a pool's workers share: which of them are free, and the jobs that came while
// none was. A job goes to a free worker, else waits here until the first worker to
// finish takes it, so no job waits behind a slow one (an fsync, a long scan) while
// another worker could run it, as it would with round robin.
struct pool_queue {
  std::mutex mutex;
  std::vector<bool> free;  // by the worker's index in the pool
  std::deque<bus_job> waiting;
};

caf::behavior sync_worker(caf::event_based_actor* self,
                          std::shared_ptr<const sync_handlers> handlers,
                          std::shared_ptr<pool_queue> queue, std::size_t index) {
  return {[self, handlers, queue, index](const bus_job& job) {
    run_sync_job(*handlers, job);
    std::unique_lock lock(queue->mutex);
    if (queue->waiting.empty()) {
      queue->free[index] = true;
      return;
    }
    auto next = std::move(queue->waiting.front());
    queue->waiting.pop_front();
    lock.unlock();
    // Through the mailbox, not a loop here, so other actors on this scheduler thread
    // still get their turn while jobs keep coming.
    self->send(self, std::move(next));
  }};
}

// The pool's dispatch policy (it runs on the sender's thread).
struct to_free_worker {
  std::shared_ptr<pool_queue> queue;

  void operator()(caf::actor_system&, caf::actor_pool::uplock& guard,
                  const caf::actor_pool::actor_vec& workers, caf::mailbox_element_ptr& element,
                  caf::execution_unit* host) const {
    auto& content = element->content();
    if (content.size() != 1 || !content.match_element<bus_job>(0)) {
      log_error("pool.unexpected_message", {});
      return;
    }
    std::unique_lock lock(queue->mutex);
    auto n = std::min(workers.size(), queue->free.size());
    for (std::size_t i = 0; i < n; ++i) {
      if (!queue->free[i]) continue;
      queue->free[i] = false;
      lock.unlock();
      auto chosen = workers[i];
      guard.unlock();
      chosen->enqueue(std::move(element), host);
      return;
    }
    queue->waiting.push_back(std::move(content.get_mutable_as<bus_job>(0)));
  }
};

void send_frames(zmq::socket_t& router, const zmq::message_t& identity,
                 const msgpack::sbuffer& payload) {
  (void)router.send(zmq::buffer(identity.data(), identity.size()),
                    zmq::send_flags::sndmore | zmq::send_flags::dontwait);
  (void)router.send(zmq::buffer(payload.data(), payload.size()), zmq::send_flags::dontwait);
}

}  // namespace

caf::actor spawn_sync_workers(caf::actor_system& system, std::size_t workers,
                              sync_handlers handlers, worker_threads where) {
  auto shared = std::make_shared<const sync_handlers>(std::move(handlers));
  auto queue = std::make_shared<pool_queue>();
  queue->free.assign(workers, true);
  // actor_pool::make calls the factory once per worker, in the order of its worker list.
  std::size_t made = 0;
  return caf::actor_pool::make(
      system.dummy_execution_unit(), workers,
      [&system, shared, queue, &made, where] {
        auto index = made++;
        return where == worker_threads::own
                   ? system.spawn<caf::detached>(sync_worker, shared, queue, index)
                   : system.spawn(sync_worker, shared, queue, index);
      },
      to_free_worker{queue});
}

bus_server::bus_server(std::string endpoint, metrics& metrics)
    : endpoint_(std::move(endpoint)),
      metrics_(metrics),
      mailbox_endpoint_(unique_inproc_endpoint("bus-server")),
      link_(std::make_shared<server_link>()) {
  link_->mailbox = mailbox_endpoint_;
  link_->service_metrics = &metrics_;
}

bus_server::~bus_server() { stop(); }

void bus_server::route(const std::string& op, caf::actor handler) {
  metrics_.add_op(op);
  routes_[op] = std::move(handler);
}

status bus_server::start() {
  zmq::socket_t router(bus_context(), zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.set(zmq::sockopt::rcvhwm, 100000);
  router.set(zmq::sockopt::sndhwm, 100000);
  // Heartbeats let the ROUTER forget callers that vanished without closing.
  router.set(zmq::sockopt::heartbeat_ivl, 1000);
  router.set(zmq::sockopt::heartbeat_timeout, 3000);
  try {
    router.bind(endpoint_);
  } catch (const zmq::error_t& e) {
    return make_error(503, "bus_bind_failed",
                      "cannot bind bus endpoint " + endpoint_ + " (port taken?): " + e.what());
  }
  zmq::socket_t mailbox = bind_mailbox(mailbox_endpoint_);
  running_ = true;
  bridge_ = std::thread([this, r = std::move(router), m = std::move(mailbox)]() mutable {
    bridge_loop(std::move(r), std::move(m));
  });
  return ok();
}

void bus_server::stop() {
  link_->open = false;
  if (!running_.exchange(false)) return;
  zmq::message_t stop_frame(0);
  post_to_mailbox(mailbox_endpoint_, &stop_frame, 1);
  if (bridge_.joinable()) bridge_.join();
}

void bus_server::bridge_loop(zmq::socket_t router, zmq::socket_t mailbox) {
  zmq::pollitem_t items[] = {{router.handle(), 0, ZMQ_POLLIN, 0},
                             {mailbox.handle(), 0, ZMQ_POLLIN, 0}};
  zmq::message_t identity, frame, extra;
  while (true) {
    zmq::poll(items, 2, std::chrono::milliseconds(-1));
    // Drain in bounded batches so neither side starves the other.
    for (int i = 0; i < 256 && (items[0].revents & ZMQ_POLLIN); ++i) {
      if (!router.recv(identity, zmq::recv_flags::dontwait)) break;
      bool has_payload = identity.more() && router.recv(frame, zmq::recv_flags::dontwait);
      bool more = has_payload && frame.more();
      while (more) {  // a request is exactly one frame: discard anything beyond it
        (void)router.recv(extra, zmq::recv_flags::dontwait);
        more = extra.more();
      }
      if (has_payload) dispatch(router, identity, frame);
    }
    for (int i = 0; i < 256 && (items[1].revents & ZMQ_POLLIN); ++i) {
      if (!mailbox.recv(identity, zmq::recv_flags::dontwait)) break;
      if (!identity.more()) return;  // the stop message
      (void)mailbox.recv(frame);
      if (!frame.more()) {
        (void)router.send(identity, zmq::send_flags::sndmore | zmq::send_flags::dontwait);
        (void)router.send(frame, zmq::send_flags::dontwait);
        continue;
      }
      (void)mailbox.recv(extra);
      stream_order order{};
      if (extra.size() == sizeof order) std::memcpy(&order, extra.data(), sizeof order);
      forward_in_order(router, order, std::move(identity), std::move(frame));
    }
  }
}

void bus_server::forward_in_order(zmq::socket_t& router, const stream_order& order,
                                  zmq::message_t identity, zmq::message_t frame) {
  auto& pending = reorder_[order.key];
  auto forward = [&router](zmq::message_t& id, zmq::message_t& payload) {
    (void)router.send(id, zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    (void)router.send(payload, zmq::send_flags::dontwait);
  };
  if (order.number != pending.next) {
    pending.early.emplace(order.number,
                          early_part{std::move(identity), std::move(frame), order.last});
    return;
  }
  forward(identity, frame);
  bool ended = order.last;
  ++pending.next;
  for (auto it = pending.early.find(pending.next); !ended && it != pending.early.end();
       it = pending.early.find(pending.next)) {
    forward(it->second.identity, it->second.frame);
    ended = it->second.last;
    pending.early.erase(it);
    ++pending.next;
  }
  if (ended) reorder_.erase(order.key);
}

void bus_server::dispatch(zmq::socket_t& router, zmq::message_t& identity, zmq::message_t& frame) {
  auto received = std::chrono::steady_clock::now();
  auto answer_here = [&](op_metrics& op, reply r) {
    msgpack::sbuffer buffer(frame_buffer_bytes);
    encode(r, buffer);
    op.record(r.status,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - received).count());
    send_frames(router, identity, buffer);
  };
  std::uint64_t id = 0;
  auto decoded = decode_request(frame.data<char>(), frame.size(), &id);
  if (!decoded) {
    log_debug("bus.bad_frame", {{"error", decoded.error().message}});
    answer_here(metrics_.op("other"), error_reply(id, decoded.error()));
    return;
  }
  if (decoded->op == "sys.cancel") {  // no reply: the caller has stopped waiting
    cancel(identity, *decoded);
    return;
  }
  auto route = routes_.find(decoded->op);
  if (route == routes_.end()) {
    answer_here(metrics_.op("other"), error_reply(id, make_error(404, "unknown_op",
                                                                 "no op '" + decoded->op + "' in " +
                                                                     metrics_.service())));
    return;
  }
  op_metrics& op = metrics_.op(decoded->op);
  if (past_deadline(*decoded)) {
    metrics_.deadline_dropped().Increment();
    answer_here(op, error_reply(id, make_error(504, "deadline_exceeded",
                                               "request arrived after its deadline")));
    return;
  }
  auto ticket = std::make_shared<job_ticket>();
  ticket->server = link_;
  ticket->identity.assign(identity.data<char>(), identity.size());
  ticket->request_id = id;
  ticket->op = &op;
  ticket->received = received;
  metrics_.inflight().Increment();
  metrics_.bus_queue_depth().Increment();
  caf::anon_send(route->second, bus_job{std::move(*decoded), std::move(ticket)});
}

void bus_server::cancel(const zmq::message_t& identity, const request& req) {
  const auto* id = find_field(req.body.object, "id");
  if (!id || id->type != msgpack::type::POSITIVE_INTEGER) return;
  std::shared_ptr<job_ticket> ticket;
  {
    std::lock_guard lock(link_->streams_mutex);
    auto it =
        link_->streams.find({std::string(identity.data<char>(), identity.size()), id->via.u64});
    if (it != link_->streams.end()) ticket = it->second.lock();
  }
  if (ticket) ticket->cancelled = true;
}

}  // namespace suite
