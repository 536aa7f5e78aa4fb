// bus_client: the caller's end of the bus (the gateway, the load generator's direct
// mode, tests). One thread owns every socket of a client: a DEALER per service endpoint
// (several endpoints of a service are used round robin), a SUB socket per subscription,
// and a monitor of each one's connections. That thread runs an Asio io_context, which waits on the
// sockets (ZeroMQ's ZMQ_FD) and on the deadlines:
//   - bus_client(opts) starts a thread of its own for that;
//   - bus_client(opts, context) runs on the caller's io_context instead (one thread runs
//     it: the gateway has one client per io thread). A call made on that thread is sent at
//     once and its reply handled there, with no hand-off to another thread either way.
//
// call() is thread-safe and never blocks: from the client's own thread it sends at once,
// from any other it hands the call over with asio::post (as cancel() always does). Its callback
// runs exactly once, on the client's thread (so it must be short: post the result to your own
// executor), never inside call() itself, with one of:
//   - the service's reply;
//   - 503 "backend_unavailable" when no instance of the service is connected,
//     and as soon as a connection drops for every call in flight on it;
//   - 504 "deadline_exceeded" when the reply does not come before the deadline
//     (the request's deadline_ms, or now + options.timeout when it has none);
//   - 404 "unknown_service" for a service that was never added.
// ZeroMQ reconnects by itself, every options.reconnect (no back-off); a service that comes
// back is used again as soon as its connection is up.
//
// call_stream() is call() for a reply that may come in parts (envelope.hpp): on_part
// runs, on the client thread, once per part in order, the last one with more = false
// (the errors above arrive as that last part, also after some parts have come). The
// deadline covers the first part and then each gap between parts (the same span
// again from each part), so a stream may run as long as it keeps moving. It returns
// the call's id: cancel(id) stops waiting (on_part is not called again) and sends
// "sys.cancel" {id} to the instance serving it, so the service can stop working.
// call() on an op that answers in parts skips the parts and gets the last one only, with
// the deadline covering the whole answer.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "suite/envelope.hpp"

namespace boost::asio {
class io_context;
}

namespace suite {

class bus_client {
 public:
  struct options {
    std::chrono::milliseconds timeout{5000};
    std::chrono::milliseconds reconnect{50};
  };
  using reply_callback = std::function<void(reply)>;
  using part_callback = std::function<void(reply)>;
  using message_callback =
      std::function<void(const std::string& topic, const msgpack_value& message)>;
  // What a subscription calls, each on the client's thread.
  struct subscriber {
    message_callback on_message{};
    // Asked before each published message is parsed: false drops the message unparsed
    // (nobody would use it, e.g. no SSE client is connected). Empty: all are wanted.
    std::function<bool()> wanted{};
    // Each time the connection to the publisher comes up (true: the handshake is done,
    // and the subscribed topics go out right after it; a publisher that restarted has
    // dropped what it published before they arrive) or drops (false). Optional.
    std::function<void(bool up)> on_connection{};
    // Whether the topics are subscribed from the start (listen() changes it).
    bool listening = true;
  };

  bus_client();
  explicit bus_client(options opts);
  // Runs on `context` (which one thread runs) instead of a thread of its own. stop() it,
  // or destroy it, once the context has stopped running (handlers it has queued there
  // must never run after that), and before the context is destroyed.
  bus_client(options opts, boost::asio::io_context& context);
  ~bus_client();
  bus_client(const bus_client&) = delete;
  bus_client& operator=(const bus_client&) = delete;

  // Start-up only, before start().
  void add_service(const std::string& service, std::vector<std::string> endpoints);
  void subscribe(const std::string& endpoint, std::vector<std::string> topics, subscriber calls);

  status start();
  // Fails every call still in flight with 503, closes the sockets and, when the client
  // has a thread of its own, joins it.
  void stop();

  // Thread-safe; assigns req.id and, when missing, req.deadline_ms.
  void call(const std::string& service, request req, reply_callback done);
  // Thread-safe; as call() for a streamed reply. Returns the call's id, for cancel().
  std::uint64_t call_stream(const std::string& service, request req, part_callback on_part);
  // Thread-safe; a no-op for a call that already ended.
  void cancel(std::uint64_t call_id);

  // Thread-safe snapshots.
  bool connected(const std::string& service) const;
  // Whether the subscription to `endpoint` has its connection to the publisher (the
  // handshake done; an inproc:// one always). Its topics go out right after the
  // handshake, and a PUB drops what it publishes before they arrive: a message published
  // at that very moment may still be missed.
  bool subscribed(const std::string& endpoint) const;
  // Thread-safe: subscribes (true) or unsubscribes (false) the topics of the subscription
  // to `endpoint`, on the client's thread (at once when called there). The connection
  // stays up either way. A publisher filters by topic, so while unsubscribed its messages
  // do not cross the network; and it drops what it publishes before a new subscription
  // reaches it (no reply says when): a caller that must not miss a message confirms the
  // subscription end to end (the gateway has the publisher echo a mark, gateway.cpp).
  void listen(const std::string& endpoint, bool on);
  std::int64_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }
  const std::vector<std::string>& services() const { return service_names_; }

 private:
  struct subscription;
  struct pending_call;
  class loop;

  std::uint64_t submit(const std::string& service, request req, reply_callback on_reply,
                       bool streamed);

  options options_;
  std::vector<std::string> service_names_;
  std::vector<std::vector<std::string>> service_endpoints_;
  std::vector<std::unique_ptr<subscription>> subscriptions_;
  std::vector<std::unique_ptr<std::atomic<int>>> connected_count_;  // per service
  std::atomic<std::uint64_t> next_id_{1};
  std::atomic<std::int64_t> in_flight_{0};
  std::unique_ptr<boost::asio::io_context> own_context_;  // with a thread of its own
  boost::asio::io_context* context_;
  std::unique_ptr<loop> loop_;
  std::thread thread_;
  bool started_ = false;
};

}  // namespace suite
