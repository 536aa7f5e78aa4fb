// Streamed replies through the in-process gateway over real HTTP and a real bus: parts
// become chunks as they arrive, the connection stays usable, a client that hangs up or
// reads too slowly is cut and the service is told to stop (sys.cancel).
#include <doctest/doctest.h>

#include <utility>  // Boost 1.74 Asio uses std::exchange without including it

#include <boost/asio.hpp>

#include "gateway.hpp"
#include "http_client.hpp"
#include "suite/bus_server.hpp"
#include "suite/inproc_mailbox.hpp"
#include "test_actors.hpp"
#include "test_process.hpp"

using namespace suite;
using namespace std::chrono_literals;

namespace {

// The ops are "public": this gateway has no keys, and the test is about streaming.
const std::string stream_ops = R"({"services":["t"],"ops":[
  {"op":"t.count","service":"t","method":"POST","route":"/api/count","kind":"call","role":"public"},
  {"op":"t.flood","service":"t","method":"POST","route":"/api/flood","kind":"call","role":"public"},
  {"op":"t.plain","service":"t","method":"POST","route":"/api/plain","kind":"call","role":"public"}
]})";

// What the test service saw, shared with the test thread.
struct service_log {
  std::atomic<int> parts_sent{0};
  std::atomic<int> cancelled{0};
  std::atomic<std::int64_t> last_part_sent_ns{0};
};

struct step {
  bus_job job;
  std::int64_t next = 0, total = 0, gap_ms = 0;
};

}  // namespace

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(step)

namespace {

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

msgpack_value raw_part(const std::string& content_type, const std::string& body, bool with_head) {
  return pack_value([&](msgpack_packer& p) {
    p.pack_map(1);
    pack_string(p, "$http");
    p.pack_map(with_head ? 3 : 1);
    if (with_head) {
      pack_string(p, "content_type");
      pack_string(p, content_type);
      pack_string(p, "headers");
      p.pack_map(1);
      pack_string(p, "X-Test");
      pack_string(p, "streamed");
    }
    pack_string(p, "body");
    pack_string(p, body);
  });
}

// t.count {n, gap_ms}: n NDJSON lines {"i":k} as parts, gap_ms apart, then a last one.
// t.flood {size}: parts of `size` bytes, 1 ms apart, until cancelled (at most 2000). Paced,
// so the service cannot push all 2000 parts into the bus's queues before the gateway cuts
// the client (it did, under CPU contention); 64 MB/s still fills any socket buffer a
// client that reads nothing has.
// t.plain: one ordinary reply.
caf::behavior test_service(caf::event_based_actor* self, std::shared_ptr<service_log> log) {
  return {
      [self](const bus_job& job) {
        mark_started(job);
        const auto& body = job.req.body.object;
        if (job.req.op == "t.plain") {
          respond_ok(job, pack_value([](msgpack_packer& p) {
                       p.pack_map(1);
                       pack_string(p, "plain");
                       p.pack_true();
                     }));
          return;
        }
        step s{job, 0, int_field(body, "n").value_or(0), int_field(body, "gap_ms").value_or(0)};
        if (job.req.op == "t.flood") s.total = -int_field(body, "size").value_or(65536);
        self->send(self, std::move(s));
      },
      [self, log](step& s) {
        if (cancelled(s.job)) {
          ++log->cancelled;
          return;
        }
        if (s.total < 0) {  // flood
          if (s.next++ >= 2000) return respond_ok(s.job, raw_part("", "end\n", false));
          respond_part(s.job,
                       ok_reply(0, raw_part("text/plain",
                                            std::string(static_cast<std::size_t>(-s.total), 'x'),
                                            s.next == 1)));
          ++log->parts_sent;
          self->delayed_send(self, std::chrono::milliseconds(1), std::move(s));
          return;
        }
        std::string line = "{\"i\":" + std::to_string(s.next) + "}\n";
        if (s.next == s.total) {
          log->last_part_sent_ns = now_ns();
          respond_ok(s.job, raw_part("", "{\"done\":true}\n", false));
          return;
        }
        respond_part(s.job, ok_reply(0, raw_part("application/x-ndjson", line, s.next == 0)));
        ++log->parts_sent;
        ++s.next;
        self->delayed_send(self, std::chrono::milliseconds(s.gap_ms), std::move(s));
      },
  };
}

struct streaming_fixture {
  test::test_actors config;
  caf::actor_system system{config};
  std::shared_ptr<service_log> log = std::make_shared<service_log>();
  std::unique_ptr<op_catalogue> catalogue;
  metrics service_metrics{"t"}, gateway_metrics{"gateway"};
  std::unique_ptr<bus_server> server;
  std::unique_ptr<gateway::gateway> gw;

  explicit streaming_fixture(std::size_t buffer_limit = 1 << 20) {
    auto loaded = op_catalogue::load({{"ops.json", stream_ops}});
    REQUIRE(loaded.ok());
    catalogue = std::make_unique<op_catalogue>(std::move(*loaded));
    std::string endpoint = "tcp://127.0.0.1:" + std::to_string(test::free_port());
    server = std::make_unique<bus_server>(endpoint, service_metrics);
    auto actor = system.spawn(test_service, log);
    for (const char* op : {"t.count", "t.flood", "t.plain"}) server->route(op, actor);
    REQUIRE(server->start().ok());
    gateway::gateway_settings settings;
    settings.http_bind = "127.0.0.1:0";
    settings.threads = 2;
    settings.timeout = 2s;
    settings.backends["t"] = {endpoint};
    settings.stream_buffer_limit = buffer_limit;
    gw = std::make_unique<gateway::gateway>(settings, *catalogue, gateway_metrics);
    REQUIRE(gw->start().ok());
    REQUIRE(test::wait_until([&] {
      return test::http_once(gw->http_port(), "POST", "/api/plain", "{}", {},
                             test::credential::none)
                 .status == 200;
    }));
  }
  ~streaming_fixture() {
    gw->stop();
    server->stop();
  }
};

struct raw_connection {
  boost::asio::ip::tcp::iostream s;
  explicit raw_connection(int port) {
    s.expires_after(10s);
    s.connect("127.0.0.1", std::to_string(port));
  }
  void post(const std::string& target, const std::string& body) {
    s << "POST " << target << " HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
      << "Content-Length: " << body.size() << "\r\n\r\n"
      << body << std::flush;
  }
};

}  // namespace

TEST_CASE("a streamed reply reaches the HTTP client chunk by chunk as the service sends it") {
  streaming_fixture f;
  raw_connection c(f.gw->http_port());
  c.post("/api/count", R"({"n":5,"gap_ms":150})");
  std::string line, head;
  while (std::getline(c.s, line) && line != "\r") head += line + "\n";
  CHECK(head.starts_with("HTTP/1.1 200"));
  CHECK(head.find("Transfer-Encoding: chunked") != std::string::npos);
  CHECK(head.find("Content-Type: application/x-ndjson") != std::string::npos);
  CHECK(head.find("X-Test: streamed") != std::string::npos);
  // Chunks: size line, payload line. The first must be read before the service has
  // even sent its last part (it is 600 ms of gaps later): arrival order, not a threshold.
  std::vector<std::string> payloads;
  std::int64_t first_read_ns = 0;
  while (std::getline(c.s, line)) {
    auto size = std::stoul(line, nullptr, 16);
    if (size == 0) break;
    std::string payload(size, '\0');
    c.s.read(payload.data(), static_cast<std::streamsize>(size));
    std::getline(c.s, line);  // the chunk's CRLF
    if (payloads.empty()) first_read_ns = now_ns();
    payloads.push_back(payload);
  }
  REQUIRE(payloads.size() == 6);
  for (int i = 0; i < 5; ++i)
    CHECK(payloads[static_cast<std::size_t>(i)] == "{\"i\":" + std::to_string(i) + "}\n");
  CHECK(payloads[5] == "{\"done\":true}\n");
  CHECK(first_read_ns < f.log->last_part_sent_ns.load());

  // The same keep-alive connection serves the next request, streamed or not.
  test::http_client client("127.0.0.1", f.gw->http_port(), test::credential::none);
  auto streamed = client.post("/api/count", R"({"n":3,"gap_ms":0})");
  CHECK(streamed.status == 200);
  CHECK(streamed.body == "{\"i\":0}\n{\"i\":1}\n{\"i\":2}\n{\"done\":true}\n");
  auto plain = client.post("/api/plain", "{}");
  CHECK(plain.status == 200);
  CHECK(plain.body == R"({"plain":true})");
}

TEST_CASE("a client that hangs up mid-stream makes the gateway cancel the service's work") {
  streaming_fixture f;
  {
    raw_connection c(f.gw->http_port());
    c.post("/api/count", R"({"n":1000,"gap_ms":20})");
    REQUIRE(test::wait_until([&] { return f.log->parts_sent >= 3; }));
  }  // closed
  REQUIRE(test::wait_until([&] { return f.log->cancelled == 1; }, 5s));
  CHECK(f.log->parts_sent < 1000);
}

TEST_CASE("a client that does not read is cut at the buffer bound and the work is cancelled") {
  streaming_fixture f(256 << 10);
  raw_connection c(f.gw->http_port());
  c.post("/api/flood", R"({"size":65536})");
  // The client reads nothing: socket buffers fill, then the gateway's 256 KiB bound.
  bool ok = test::wait_until([&] { return f.log->cancelled == 1; }, 10s);
  INFO("parts sent: " << f.log->parts_sent.load());
  REQUIRE(ok);
  CHECK(f.log->parts_sent < 2000);
  // What the kernel had buffered can still be read, then the connection is closed.
  std::string sink(1 << 16, '\0');
  std::size_t total = 0;
  while (c.s.read(sink.data(), static_cast<std::streamsize>(sink.size())) || c.s.gcount() > 0) {
    total += static_cast<std::size_t>(c.s.gcount());
    if (c.s.eof() || !c.s) break;
  }
  CHECK(total < 2000u * 65536u);
}

TEST_CASE("an HTTP/1.0 client gets the streamed bytes unchunked, ended by closing") {
  streaming_fixture f;
  boost::asio::ip::tcp::iostream s;
  s.expires_after(10s);
  s.connect("127.0.0.1", std::to_string(f.gw->http_port()));
  std::string body = R"({"n":3,"gap_ms":10})";
  s << "POST /api/count HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: "
    << body.size() << "\r\n\r\n"
    << body << std::flush;
  std::string all((std::istreambuf_iterator<char>(s)), std::istreambuf_iterator<char>());
  auto split = all.find("\r\n\r\n");
  REQUIRE(split != std::string::npos);
  auto head = all.substr(0, split);
  CHECK(head.starts_with("HTTP/1.1 200"));
  CHECK(head.find("Transfer-Encoding") == std::string::npos);
  CHECK(head.find("Connection: close") != std::string::npos);
  CHECK(all.substr(split + 4) == "{\"i\":0}\n{\"i\":1}\n{\"i\":2}\n{\"done\":true}\n");
}
