// bus_server: a service's end of the bus. It binds one ROUTER socket, owned by one
// bridge thread, which decodes each request frame and sends it as a `bus_job` CAF
// message to the actor the op is routed to. That actor (or any actor it passes the job
// to) answers with respond(job, reply), from any thread; the reply travels back to the
// bridge through its inproc mailbox and out of the ROUTER socket.
//
// Guarantees: a malformed frame gets a 400 "bad_frame" reply and the server keeps
// serving; an unknown op gets 404 "unknown_op"; a request already past its deadline is
// answered 504 without being dispatched; a job dropped without an answer (its last copy
// destroyed) is answered 500, so a caller never waits for nothing. Metrics per op
// (count by status, latency), in-flight and queue depth are recorded here, so service
// code records nothing for the bus itself.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>

#include <caf/all.hpp>
#include <zmq.hpp>

#include "suite/envelope.hpp"
#include "suite/metrics.hpp"

namespace suite {

struct job_ticket;

// The message a routed actor receives. Copies share the ticket; the first respond wins.
struct bus_job {
  request req;
  std::shared_ptr<job_ticket> ticket;
};

// Answers the job: thread-safe, callable from any actor or thread, first call wins.
void respond(const bus_job& job, reply r);
void respond_ok(const bus_job& job, msgpack_value body, int status = 200);
void respond_error(const bus_job& job, error_info error);
// Called by the actor that starts working on the job: it leaves the queue-depth gauge.
void mark_started(const bus_job& job);

// A synchronous op handler, run by a worker actor: takes the request, returns the reply
// (its id is filled in for it). An exception becomes a 500 reply.
using sync_handler = std::function<reply(const request&)>;
using sync_handlers = std::unordered_map<std::string, sync_handler>;

// A pool of `workers` event-based actors, round robin, each running `handlers`.
caf::actor spawn_sync_workers(caf::actor_system& system, std::size_t workers,
                              sync_handlers handlers);

class bus_server {
 public:
  bus_server(std::string endpoint, metrics& metrics);
  ~bus_server();
  bus_server(const bus_server&) = delete;
  bus_server& operator=(const bus_server&) = delete;

  // Start-up only: sends every request for `op` to `handler`.
  void route(const std::string& op, caf::actor handler);
  // Binds the ROUTER and starts the bridge thread. Fails (e.g. address in use) cleanly.
  status start();
  void stop();

 private:
  void bridge_loop(zmq::socket_t router, zmq::socket_t mailbox);
  void dispatch(zmq::socket_t& router, zmq::message_t& identity, zmq::message_t& frame);

  std::string endpoint_;
  metrics& metrics_;
  std::string mailbox_endpoint_;
  std::unordered_map<std::string, caf::actor> routes_;
  std::thread bridge_;
  std::atomic<bool> running_{false};
};

}  // namespace suite

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(suite::bus_job)
