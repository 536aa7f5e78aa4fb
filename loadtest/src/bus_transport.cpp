#include "loadgen/bus_transport.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <optional>

#include "route_table.hpp"
#include "suite/bus_client.hpp"
#include "suite/embedded_schemas.hpp"
#include "suite/json_msgpack.hpp"
#include "suite/op_catalogue.hpp"

namespace loadgen {

namespace asio = boost::asio;

std::map<std::string, std::string> default_bus_endpoints() {
  return {{"clinic-records", "tcp://127.0.0.1:5551"},
          {"chat-cache", "tcp://127.0.0.1:5552"},
          {"event-ingest", "tcp://127.0.0.1:5553"},
          {"rem-store", "tcp://127.0.0.1:5554"}};
}

struct bus_transport::state {
  explicit state(suite::op_catalogue c, std::chrono::milliseconds timeout)
      : catalogue(std::move(c)),
        routes(catalogue),
        client(suite::bus_client::options{timeout, std::chrono::milliseconds(50)}),
        timeout(timeout) {}
  suite::op_catalogue catalogue;
  suite::gateway::route_table routes;
  suite::bus_client client;
  std::chrono::milliseconds timeout;
};

namespace {

class bus_channel final : public channel {
 public:
  bus_channel(asio::io_context& io, channel_listener& listener, bus_transport::state& state)
      : io_(io), listener_(listener), state_(state) {}

  void send(const outgoing_request& request) override {
    auto match = state_.routes.match(request.method, request.target);
    if (!match) return answer_later(match.error().status, match.error().message);
    if (match->op->kind != "call") return answer_later(400, "a streaming route cannot be called");
    auto body = suite::json_to_packed(request.body, match->op->schema.get(), match->params);
    if (!body) return answer_later(body.error().status, body.error().message);
    suite::request call;
    call.op = match->op->op;
    call.tenant = "default";
    call.principal = "loadgen";
    call.packed_body = std::move(*body);
    call.deadline_ms = suite::unix_ms_now() + state_.timeout.count();
    // The reply arrives on the bus client's thread, outside the io_context: keep the
    // io_context running until it has been handed over.
    work_.emplace(io_.get_executor());
    state_.client.call(match->service, std::move(call), [this](suite::reply r) {
      asio::post(io_, [this, r = std::move(r)] {
        work_.reset();
        body_.clear();
        if (r.is_error()) {
          error_ = r.error->code + ": " + r.error->message;
          listener_.on_response({r.status, error_, {}});
        } else {
          suite::msgpack_to_json(r.body.object, body_);
          listener_.on_response({r.status, body_, {}});
        }
      });
    });
  }

  // Nothing to cancel: the call carries a deadline equal to the timeout, and the bus
  // client answers 504 when it passes.
  void abort() override {}

 private:
  // Answers from the io_context, never from inside send() (request_transport.hpp).
  void answer_later(int status, std::string message) {
    asio::post(io_, [this, status, message = std::move(message)] {
      error_ = message;
      listener_.on_response({status, error_, {}});
    });
  }

  asio::io_context& io_;
  channel_listener& listener_;
  bus_transport::state& state_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::string body_;
  std::string error_;
};

}  // namespace

std::unique_ptr<bus_transport> bus_transport::create(std::map<std::string, std::string> endpoints,
                                                     std::chrono::milliseconds timeout,
                                                     std::string& error) {
  auto catalogue = suite::op_catalogue::load(suite::embedded_schema_files());
  if (!catalogue) {
    error = "op catalogue: " + catalogue.error().message;
    return nullptr;
  }
  auto s = std::make_unique<state>(std::move(*catalogue), timeout);
  if (endpoints.empty()) endpoints = default_bus_endpoints();
  for (const auto& service : s->catalogue.services()) {
    const auto it = endpoints.find(service);
    if (it == endpoints.end()) continue;
    s->client.add_service(service, {it->second});
  }
  if (auto started = s->client.start(); !started) {
    error = "bus client: " + started.error().message;
    return nullptr;
  }
  return std::unique_ptr<bus_transport>(new bus_transport(std::move(s)));
}

bus_transport::bus_transport(std::unique_ptr<state> s) : state_(std::move(s)) {}

bus_transport::~bus_transport() { state_->client.stop(); }

std::unique_ptr<channel> bus_transport::open(asio::io_context& io, channel_listener& listener) {
  return std::make_unique<bus_channel>(io, listener, *state_);
}

}  // namespace loadgen
