// SSE plumbing: the in-process gateway streams what a real PUB socket publishes to
// real HTTP clients, with heartbeats and a client limit; a live stream with a mark op
// opens once its mark comes back (again after the publisher restarts), or late when none
// does; and the open-connection gauge over keep-alive and SSE connections.
#include <doctest/doctest.h>

#include <mutex>
#include <utility>  // Boost 1.74 Asio uses std::exchange without including it

#include <boost/asio.hpp>

#include "gateway.hpp"
#include "suite/bus_server.hpp"
#include "suite/inproc_mailbox.hpp"
#include "test_actors.hpp"
#include "test_process.hpp"

using namespace suite;
using namespace std::chrono_literals;

namespace {

const std::string sse_ops = R"({"services":["a"],"ops":[
  {"op":"a.stream","service":"a","method":"GET","route":"/api/stream","kind":"sse","topic":"events","role":"public"}
]})";

struct stream_reader {
  boost::asio::ip::tcp::iostream s;
  explicit stream_reader(int port) {
    s.expires_after(5s);
    s.connect("127.0.0.1", std::to_string(port));
    s << "GET /api/stream HTTP/1.1\r\nHost: test\r\n\r\n" << std::flush;
  }
  // Reads lines until one contains `needle`; false at end of stream or time-out.
  bool read_until(const std::string& needle, std::string* first_line = nullptr) {
    std::string line;
    while (std::getline(s, line)) {
      if (first_line && first_line->empty()) *first_line = line;
      if (line.find(needle) != std::string::npos) return true;
    }
    return false;
  }
};

// Publishes {type, <key>: value} (by default an event).
void publish(zmq::socket_t& pub, const std::string& topic, const std::string& value,
             const char* type = "event", const char* key = "value") {
  auto body = pack_value([&](msgpack_packer& p) {
    p.pack_map(2);
    pack_string(p, "type");
    pack_string(p, type);
    pack_string(p, key);
    pack_string(p, value);
  });
  msgpack::sbuffer b;
  msgpack_packer(b).pack(body.object);
  pub.send(zmq::buffer(topic), zmq::send_flags::sndmore);
  pub.send(zmq::buffer(b.data(), b.size()));
}

// Publishes an event with `value` every 10 ms (a PUB drops what it publishes before a
// subscription reaches it) until `stream` reads it: false when it never does.
bool publish_until_streamed(zmq::socket_t& pub, stream_reader& stream, const std::string& value) {
  std::atomic<bool> seen{false};
  std::thread publishing([&] {
    for (int i = 0; i < 300 && !seen; ++i) {
      publish(pub, "events", value);
      std::this_thread::sleep_for(10ms);
    }
  });
  bool streamed = stream.read_until(R"("value":")" + value + "\"");
  seen = true;
  publishing.join();
  return streamed;
}

// A PUB socket on a free port, standing in for service "a", and gateway settings that
// stream "a"'s SSE routes from it (no service answers "a"'s bus endpoint).
struct test_publisher {
  std::string endpoint = "tcp://127.0.0.1:" + std::to_string(test::free_port());
  zmq::socket_t pub{bus_context(), zmq::socket_type::pub};

  test_publisher() { bind(); }
  void bind() {
    pub = zmq::socket_t(bus_context(), zmq::socket_type::pub);
    pub.set(zmq::sockopt::linger, 0);
    pub.bind(endpoint);
  }
  gateway::gateway_settings settings() const {
    gateway::gateway_settings s;
    s.http_bind = "127.0.0.1:0";
    s.backends["a"] = {"tcp://127.0.0.1:" + std::to_string(test::free_port())};
    s.publishers["a"] = endpoint;
    return s;
  }
};

// Service "a" with a mark op, whose live stream test_publisher stands in for.
const std::string marked_ops = R"({"services":["a"],"ops":[
  {"op":"a.stream","service":"a","method":"GET","route":"/api/stream","kind":"sse","topic":"events","role":"public","mark_op":"a.mark"},
  {"op":"a.mark","service":"a","method":"POST","route":"/api/mark","role":"public"}
]})";

// Service "a"'s bus end: answers a.mark by publishing the mark on the publisher, as
// event-ingest does, until stop_echo().
struct mark_echo {
  test::test_actors config;
  caf::actor_system system{config};
  metrics service_metrics{"a"};
  std::string endpoint = "tcp://127.0.0.1:" + std::to_string(test::free_port());
  bus_server server{endpoint, service_metrics};
  std::mutex mutex;  // the handler's use of the publisher's socket, against stop_echo()
  bool echo = true;

  // After it returns, the handler no longer touches the publisher's socket.
  void stop_echo() {
    std::lock_guard lock(mutex);
    echo = false;
  }

  explicit mark_echo(test_publisher& publisher) {
    sync_handlers handlers;
    handlers["a.mark"] = [this, &publisher](const request& req) {
      std::lock_guard lock(mutex);
      if (echo)
        publish(publisher.pub, "events",
                std::string(string_field(req.body.object, "token").value_or("")), "mark", "token");
      return ok_reply(req.id, pack_value([](msgpack_packer& p) { p.pack_map(0); }));
    };
    server.route("a.mark", spawn_sync_workers(system, 1, std::move(handlers)));
    REQUIRE(server.start().ok());
  }
  ~mark_echo() { server.stop(); }
};

}  // namespace

TEST_CASE("SSE routes stream the service's PUB topic with heartbeats and a client limit") {
  auto catalogue = op_catalogue::load({{"ops.json", sse_ops}});
  REQUIRE(catalogue.ok());
  test_publisher publisher;
  auto& pub = publisher.pub;
  auto settings = publisher.settings();
  settings.threads = 2;
  settings.sse_max_clients = 2;
  settings.sse_heartbeat = 100ms;
  metrics m("gateway");
  gateway::gateway gw(settings, *catalogue, m);
  REQUIRE(gw.start().ok());

  stream_reader first(gw.http_port());
  std::string status_line;
  REQUIRE(first.read_until(R"(data: {"type":"connected"})", &status_line));
  CHECK(status_line.find("200") != std::string::npos);
  stream_reader second(gw.http_port());
  REQUIRE(second.read_until(R"("type":"connected")"));

  SUBCASE("a client over the limit gets 503 at once") {
    stream_reader third(gw.http_port());
    std::string line;
    REQUIRE(std::getline(third.s, line));
    CHECK(line.find("503") != std::string::npos);
  }
  SUBCASE("published messages reach every client; other topics do not") {
    // The SUB side connects asynchronously: publish until the first message lands.
    std::atomic<bool> seen{false};
    std::thread publishing([&] {
      for (int i = 0; i < 300 && !seen; ++i) {
        publish(pub, "other.topic", "hidden");
        publish(pub, "events.e1", "v" + std::to_string(i));
        std::this_thread::sleep_for(10ms);
      }
    });
    std::string line;
    bool got = false;
    while (std::getline(first.s, line)) {
      CHECK(line.find("hidden") == std::string::npos);
      if (line.starts_with(R"(data: {"type":"event","value":"v)")) {
        got = true;
        break;
      }
    }
    seen = true;
    publishing.join();
    CHECK(got);
    CHECK(second.read_until(R"("type":"event")"));
  }
  SUBCASE("heartbeats keep idle streams alive") { CHECK(first.read_until(": heartbeat")); }
  SUBCASE("a client that leaves frees its place") {
    first.s.close();
    bool admitted = test::wait_until(
        [&] {
          stream_reader again(gw.http_port());
          std::string line;
          return std::getline(again.s, line) && line.find("200") != std::string::npos;
        },
        5s);
    CHECK(admitted);
  }
  gw.stop();
}

TEST_CASE("with a mark op, a publisher that never echoes the mark holds a stream back briefly") {
  // The gateway subscribes when the stream arrives and waits for its mark, which this
  // publisher (no service answers the bus) never sends: the stream opens anyway, late.
  auto catalogue = op_catalogue::load({{"ops.json", marked_ops}});
  REQUIRE(catalogue.ok());
  test_publisher publisher;
  metrics m("gateway");
  gateway::gateway gw(publisher.settings(), *catalogue, m);
  REQUIRE(gw.start().ok());

  auto asked = std::chrono::steady_clock::now();
  stream_reader stream(gw.http_port());
  REQUIRE(stream.read_until(R"(data: {"type":"connected"})"));
  auto waited = std::chrono::steady_clock::now() - asked;
  CHECK(waited >= 500ms);  // the marks it sent first: 20 + 40 + 80 + 160 + 320 ms
  // A stream that comes while the marks still go unanswered opens at the next one (0.64
  // s apart), not when a mark finally comes back (never, here).
  stream_reader later(gw.http_port());
  CHECK(later.read_until(R"(data: {"type":"connected"})"));
  // Subscribed all the same: what is published now reaches the stream.
  CHECK(publish_until_streamed(publisher.pub, stream, "late"));
  gw.stop();
}

TEST_CASE("a live stream is confirmed again when its publisher comes back") {
  auto catalogue = op_catalogue::load({{"ops.json", marked_ops}});
  REQUIRE(catalogue.ok());
  test_publisher publisher;
  mark_echo service(publisher);
  auto settings = publisher.settings();
  settings.backends["a"] = {service.endpoint};
  metrics m("gateway");
  gateway::gateway gw(settings, *catalogue, m);
  REQUIRE(gw.start().ok());
  const std::string connected = R"(data: {"type":"connected"})";

  // The service echoes the mark: the stream opens well before unanswered marks would let it.
  auto asked = std::chrono::steady_clock::now();
  stream_reader first(gw.http_port());
  REQUIRE(first.read_until(connected));
  CHECK(std::chrono::steady_clock::now() - asked < 500ms);

  // The publisher restarts (the one that comes back never echoes a mark). Only its
  // marks can tell the gateway when the subscription has reached it again.
  auto live_stream_connected = [&] {
    const std::string series = "suite_gateway_live_stream_connected{";
    auto text = m.render();
    auto at = text.find("} ", text.find(series));
    return std::stod(text.substr(at + 2));
  };
  service.stop_echo();
  publisher.pub.close();
  REQUIRE(test::wait_until([&] { return live_stream_connected() == 0; }));
  publisher.bind();
  REQUIRE(test::wait_until([&] { return live_stream_connected() == 1; }));
  // So a stream that comes now waits for a mark (here until they are given up on, after
  // 20 + 40 + 80 + 160 + 320 ms): it does not open at once.
  asked = std::chrono::steady_clock::now();
  stream_reader second(gw.http_port());
  REQUIRE(second.read_until(connected));
  CHECK(std::chrono::steady_clock::now() - asked >= 500ms);

  // The stream that was open all along goes on with what the new publisher sends.
  CHECK(publish_until_streamed(publisher.pub, first, "after"));
  gw.stop();
}

TEST_CASE("open connections are counted, keep-alive and SSE alike, until they close") {
  auto catalogue = op_catalogue::load({{"ops.json", sse_ops}});
  REQUIRE(catalogue.ok());
  std::string pub_endpoint = "tcp://127.0.0.1:" + std::to_string(test::free_port());
  gateway::gateway_settings settings;
  settings.http_bind = "127.0.0.1:0";
  settings.threads = 2;
  settings.backends["a"] = {"tcp://127.0.0.1:" + std::to_string(test::free_port())};
  settings.publishers["a"] = pub_endpoint;
  settings.sse_heartbeat = 100ms;
  metrics m("gateway");
  gateway::gateway gw(settings, *catalogue, m);
  REQUIRE(gw.start().ok());
  auto connections = [&] {
    const std::string series = "suite_gateway_http_connections{service=\"gateway\"} ";
    auto text = m.render();
    auto at = text.find(series);
    return at == std::string::npos ? -1.0 : std::stod(text.substr(at + series.size()));
  };
  auto becomes = [&](double expected) {
    return test::wait_until([&] { return connections() == expected; }, 5s);
  };
  CHECK(connections() == 0);

  // Two keep-alive connections, each answered once (an unknown route: 404) and left open.
  std::vector<std::unique_ptr<boost::asio::ip::tcp::iostream>> plain;
  for (int i = 0; i < 2; ++i) {
    auto s = std::make_unique<boost::asio::ip::tcp::iostream>();
    s->expires_after(5s);
    s->connect("127.0.0.1", std::to_string(gw.http_port()));
    *s << "GET /nowhere HTTP/1.1\r\nHost: test\r\n\r\n" << std::flush;
    std::string status;
    REQUIRE(std::getline(*s, status));
    CHECK(status.find("404") != std::string::npos);
    plain.push_back(std::move(s));
  }
  CHECK(becomes(2));
  {
    stream_reader stream(gw.http_port());
    REQUIRE(stream.read_until(R"("type":"connected")"));
    CHECK(becomes(3));  // the session handed its connection to the stream: still one
    plain.clear();
    CHECK(becomes(1));
  }
  CHECK(becomes(0));
  gw.stop();
}
