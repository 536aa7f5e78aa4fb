// bus_server: a service's end of the bus. It binds one ROUTER socket, owned by one
// bridge thread, which decodes each request frame and sends it as a `bus_job` CAF
// message to the actor the op is routed to. That actor (or any actor it passes the job
// to) answers with respond(job, reply), from any thread; the reply travels back to the
// bridge through its inproc mailbox and out of the ROUTER socket.
//
// Guarantees: a malformed frame gets a 400 "bad_frame" reply and the server keeps
// serving; an unknown op gets 404 "unknown_op"; a request already past its deadline is
// answered 504 without being dispatched, and one whose deadline passes while it waits
// in an actor's mailbox is answered 504 without being worked on when the actor calls
// start_unless_expired() (both counted in suite_deadline_dropped_total); a job dropped without an
// answer (its last copy destroyed) is answered 500, so a caller never waits for nothing. Metrics
// per op (count by status, latency), in-flight and queue depth are recorded here, so service code
// records nothing for the bus itself.
//
// Streamed replies (envelope.hpp): respond_part(job, part) sends a part (more = true)
// and may be called any number of times before the one respond() that ends the reply.
// The parts and the final reply of one job are numbered as they are sent and the bridge
// forwards them in that order, even when the sender moves between threads (as a CAF
// actor does); calls for one job must not race each other (an actor's handlers never
// do), or their order is whichever call came first. Parts after the final reply are ignored. A job
// whose last copy is dropped after some parts still gets its 500 "dropped" final reply, ending the
// stream. Cancellation: a caller that stops waiting sends op "sys.cancel" with body {id: <the
// request id>} on the same connection; the bridge marks that job cancelled (no reply
// is sent to sys.cancel). Only a job that has sent a part can be cancelled (before its
// first part a job is one request/one reply and ends by its deadline). A service checks
// cancelled(job) and stops work nobody waits for; its parts are dropped from then on.
#pragma once

#include <atomic>
#include <functional>
#include <map>
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
struct server_link;
struct stream_order;

// The message a routed actor receives. Copies share the ticket; the first respond wins.
struct bus_job {
  request req;
  std::shared_ptr<job_ticket> ticket;
};

// Answers the job: thread-safe, callable from any actor or thread, first call wins.
void respond(const bus_job& job, reply r);
void respond_ok(const bus_job& job, msgpack_value body, int status = 200);
void respond_error(const bus_job& job, error_info error);
// Sends one part of a streamed reply (r.more is set for you): thread-safe, ordered.
void respond_part(const bus_job& job, reply part);
void respond_part_ok(const bus_job& job, msgpack_value body, int status = 200);
// True once the caller cancelled the job (sys.cancel) or the server stopped.
bool cancelled(const bus_job& job);
// Called by the actor that starts working on the job: it leaves the queue-depth gauge.
void mark_started(const bus_job& job);
// mark_started(), then: when the job's deadline has passed (nobody waits for the answer
// any more), answers it 504 "deadline_exceeded", counts it in
// suite_deadline_dropped_total and returns false: the caller must not do the work.
[[nodiscard]] bool start_unless_expired(const bus_job& job);

// A synchronous op handler, run by a worker actor: takes the request, returns the reply
// (its id is filled in for it). An exception becomes a 500 reply; a request whose
// deadline passed while it waited in the mailbox is answered 504 without running.
using sync_handler = std::function<reply(const request&)>;
using sync_handlers = std::unordered_map<std::string, sync_handler>;

// Where a pool's workers run: on the actor scheduler's threads (handlers that never
// block), or each on a thread of its own (handlers that block: an fsync, a disk read), so
// a blocked handler never holds a scheduler thread that other actors need.
enum class worker_threads { scheduled, own };

// A pool of `workers` actors, each running `handlers`. A job goes to a free worker, or
// waits for the first one to finish: never behind a slow job while another worker is free.
caf::actor spawn_sync_workers(caf::actor_system& system, std::size_t workers,
                              sync_handlers handlers,
                              worker_threads where = worker_threads::scheduled);

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
  void cancel(const zmq::message_t& identity, const request& req);
  // Bridge thread: forwards a streamed reply's message once those before it have gone.
  void forward_in_order(zmq::socket_t& router, const stream_order& order, zmq::message_t identity,
                        zmq::message_t frame);

  struct early_part {
    zmq::message_t identity, frame;
    bool last = false;
  };
  struct reorder_state {
    std::uint32_t next = 0;
    std::map<std::uint32_t, early_part> early;
  };

  std::string endpoint_;
  metrics& metrics_;
  std::string mailbox_endpoint_;
  std::shared_ptr<server_link> link_;
  std::unordered_map<std::string, caf::actor> routes_;
  std::unordered_map<std::uint64_t, reorder_state> reorder_;  // bridge thread only
  std::thread bridge_;
  std::atomic<bool> running_{false};
};

}  // namespace suite

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(suite::bus_job)
