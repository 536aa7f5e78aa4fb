// The real gateway and a real service as processes, over real HTTP and ZeroMQ.
#include <doctest/doctest.h>

#include <filesystem>
#include <optional>
#include <regex>
#include <thread>

#include <unistd.h>

#include "http_client.hpp"
#include "suite/envelope.hpp"
#include "suite/inproc_mailbox.hpp"
#include "test_credentials.hpp"
#include "test_process.hpp"

using namespace suite;
using namespace suite::test;
using namespace std::chrono_literals;

namespace {

// An empty directory of this test process (a leftover of an earlier run is removed).
std::string fresh_dir(const std::string& name) {
  auto path = "/tmp/" + name + "-" + std::to_string(::getpid());
  std::filesystem::remove_all(path);
  return path;
}

// event-ingest (the service under test) and a gateway pointed at it; the other
// backends point at ports where nothing listens, or at `silent_router` (clinic-records).
struct suite_under_test {
  // The PUB endpoint the gateway takes event-ingest's live stream from (empty: none).
  explicit suite_under_test(std::string live = {}) : live_stream(std::move(live)) { start(); }

  std::string live_stream;
  int http = free_port(), gateway_metrics = free_port();
  int ingest_bus = free_port(), ingest_metrics = free_port();
  int silent = free_port();
  std::string ingest_dir = fresh_dir("suite-e2e-ingest");
  test_process ingest{
      bin_dir() + "/event-ingest",
      {"--bus=tcp://127.0.0.1:" + std::to_string(ingest_bus),
       "--metrics=127.0.0.1:" + std::to_string(ingest_metrics), "--data-dir=" + ingest_dir,
       "--pub=tcp://127.0.0.1:" + std::to_string(free_port())}};
  test_process gateway{
      bin_dir() + "/gateway",
      with_gateway_auth({"--http=127.0.0.1:" + std::to_string(http),
                         "--metrics=127.0.0.1:" + std::to_string(gateway_metrics),
                         "--backend-event-ingest=tcp://127.0.0.1:" + std::to_string(ingest_bus),
                         "--backend-clinic-records=tcp://127.0.0.1:" + std::to_string(silent),
                         "--backend-chat-cache=tcp://127.0.0.1:" + std::to_string(free_port()),
                         "--backend-rem-store=tcp://127.0.0.1:" + std::to_string(free_port()),
                         "--sub-event-ingest=" + live_stream, "--timeout-ms=300",
                         "--body-limit=1024", "--threads=2"})};

  void start() {
    ingest.start();
    gateway.start();
    // Ready as /healthz defines it: every io thread's connection to event-ingest is up (one
    // request answered is not enough, it may have gone through the other thread's connection).
    bool up = wait_until([&] {
      return http_once(http, "GET", "/healthz").body.find(R"("event-ingest":{"status":"ok")") !=
             std::string::npos;
    });
    REQUIRE_MESSAGE(up, gateway.log() << ingest.log());
  }
};

double metric_value(int port, const std::string& series) {
  auto text = http_once(port, "GET", "/metrics").body;
  auto at = text.find(series + " ");
  return at == std::string::npos ? -1 : std::stod(text.substr(at + series.size() + 1));
}

}  // namespace

TEST_CASE("/healthz counts a backend down while the gateway has no connection to its live stream") {
  auto live = "tcp://127.0.0.1:" + std::to_string(free_port());
  auto event_ingest_health = [](int http) {
    auto body = http_once(http, "GET", "/healthz").body;
    auto at = body.find(R"("event-ingest":)");
    return at == std::string::npos ? body : body.substr(at, body.find('}', at) - at);
  };
  std::optional<suite_under_test> s;
  {
    zmq::socket_t pub(bus_context(), zmq::socket_type::pub);
    pub.set(zmq::sockopt::linger, 0);
    pub.bind(live);
    s.emplace(live);  // waits until /healthz has event-ingest ok
  }                   // the publisher goes away; event-ingest itself still answers
  CHECK(wait_until([&] {
    return event_ingest_health(s->http).find(R"("status":"down")") != std::string::npos;
  }));
  auto down = event_ingest_health(s->http);
  CHECK(down.find("not connected to its live stream " + live) != std::string::npos);
  CHECK(http_once(s->http, "GET", "/api/sys/event-ingest/health").status == 200);
  // The same, as gauges; a backend without SSE routes has no live stream series.
  auto gauge = [&](const char* name, const char* backend) {
    return metric_value(s->gateway_metrics,
                        std::string(name) + "{backend=\"" + backend + "\",service=\"gateway\"}");
  };
  CHECK(gauge("suite_gateway_live_stream_connected", "event-ingest") == 0);
  CHECK(gauge("suite_gateway_backend_connected", "event-ingest") == 1);
  CHECK(gauge("suite_gateway_backend_connected", "chat-cache") == 0);
  CHECK(gauge("suite_gateway_live_stream_connected", "chat-cache") == -1);  // no such series
  zmq::socket_t pub(bus_context(), zmq::socket_type::pub);
  pub.set(zmq::sockopt::linger, 0);
  pub.bind(live);
  CHECK(wait_until(
      [&] { return event_ingest_health(s->http).find(R"("status":"ok")") != std::string::npos; }));
  CHECK(gauge("suite_gateway_live_stream_connected", "event-ingest") == 1);
}

TEST_CASE(
    "end to end: HTTP -> gateway -> bus -> actor -> reply, with metrics, errors and recovery") {
  suite_under_test s;
  http_client client("127.0.0.1", s.http);

  SUBCASE("a request gets its reply and the request counters rise on both sides") {
    const std::string gw_series =
        R"(suite_requests_total{op="sys.health",service="gateway",status="200"})";
    const std::string svc_series =
        R"(suite_requests_total{op="sys.health",service="event-ingest",status="200"})";
    double gw_before = metric_value(s.gateway_metrics, gw_series);
    double svc_before = metric_value(s.ingest_metrics, svc_series);
    for (int i = 0; i < 5; ++i) {  // on one keep-alive connection
      auto r = client.get("/api/sys/event-ingest/health");
      REQUIRE(r.status == 200);
      CHECK(r.headers["content-type"] == "application/json");
      CHECK(r.body.find(R"("status":"ok")") != std::string::npos);
      CHECK(r.body.find(R"("service":"event-ingest")") != std::string::npos);
    }
    CHECK(metric_value(s.gateway_metrics, gw_series) == gw_before + 5);
    CHECK(metric_value(s.ingest_metrics, svc_series) == svc_before + 5);
    auto info = client.get("/api/sys/event-ingest/info");
    CHECK(info.status == 200);
    CHECK(info.body.find(R"("cpu_model")") != std::string::npos);
    auto text = http_once(s.gateway_metrics, "GET", "/metrics").body;
    CHECK(text.find("suite_build_info{") != std::string::npos);
    CHECK(text.find("process_resident_memory_bytes ") != std::string::npos);
  }

  SUBCASE("bad requests get clear JSON errors") {
    auto missing = client.get("/api/nowhere");
    CHECK(missing.status == 404);
    CHECK(missing.body.find(R"("code":"not_found")") != std::string::npos);
    auto wrong = client.request("DELETE", "/api/sys/event-ingest/health");
    CHECK(wrong.status == 405);
    CHECK(wrong.headers["allow"] == "GET");
    auto unknown_service = client.get("/api/sys/nobody/health");
    CHECK(unknown_service.status == 404);
    auto bad_param = client.get("/api/sys/event-ingest/health?verbose=1");
    CHECK(bad_param.status == 400);
    CHECK(bad_param.body.find(R"("field":"verbose")") != std::string::npos);
    auto bad_json = client.request("GET", "/api/sys/event-ingest/health", "{,");
    CHECK(bad_json.status == 400);
    CHECK(bad_json.body.find(R"("code":"bad_json")") != std::string::npos);
    auto too_big = http_once(s.http, "GET", "/api/sys/event-ingest/health", std::string(4096, 'x'));
    CHECK(too_big.status == 413);
    // The connection used above still works after every error.
    CHECK(client.get("/api/sys/event-ingest/health").status == 200);
  }

  SUBCASE("/healthz aggregates every backend") {
    auto health = client.get("/healthz");
    CHECK(health.status == 503);
    CHECK(health.body.find(R"("status":"degraded")") != std::string::npos);
    CHECK(health.body.find(R"("event-ingest":{"status":"ok")") != std::string::npos);
    CHECK(health.body.find(R"("chat-cache":{"status":"down")") != std::string::npos);
  }

  SUBCASE("a backend that does not answer gives 504 at the deadline") {
    zmq::socket_t silent(bus_context(), zmq::socket_type::router);
    silent.set(zmq::sockopt::linger, 0);
    silent.bind("tcp://127.0.0.1:" + std::to_string(s.silent));
    REQUIRE(wait_until([&] { return client.get("/api/sys/clinic-records/health").status == 504; }));
    auto start = std::chrono::steady_clock::now();
    auto r = client.get("/api/sys/clinic-records/health");
    CHECK(r.status == 504);
    CHECK(std::chrono::steady_clock::now() - start >= 250ms);
  }

  SUBCASE("a killed service gives 503 at once and is served again when it is back") {
    s.ingest.kill_hard();
    std::vector<double> waits;
    for (int i = 0; i < 5; ++i) {
      auto start = std::chrono::steady_clock::now();
      auto r = client.get("/api/sys/event-ingest/health");
      waits.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count());
      CHECK(r.status == 503);
      CHECK(r.body.find("backend_unavailable") != std::string::npos);
    }
    std::sort(waits.begin(), waits.end());
    MESSAGE("503 after a kill, median ms: " << waits[2]);
    CHECK(waits[2] < 100.0);
    s.ingest.start();
    CHECK(
        wait_until([&] { return client.get("/api/sys/event-ingest/health").status == 200; }, 10s));
  }

  SUBCASE("garbage sent straight to a service's ROUTER does not stop it") {
    zmq::socket_t raw(bus_context(), zmq::socket_type::dealer);
    raw.set(zmq::sockopt::linger, 0);
    raw.set(zmq::sockopt::rcvtimeo, 2000);
    raw.connect("tcp://127.0.0.1:" + std::to_string(s.ingest_bus));
    for (std::string garbage :
         {std::string("\xc1\xc1\xc1"), std::string(1000, '\xdf'), std::string("{\"json\":1}")}) {
      REQUIRE(raw.send(zmq::buffer(garbage), zmq::send_flags::none));
      zmq::message_t answer;
      REQUIRE(raw.recv(answer));
      auto r = decode_reply(answer.data<char>(), answer.size());
      REQUIRE(r.ok());
      CHECK(r->status == 400);
    }
    CHECK(s.ingest.running());
    CHECK(client.get("/api/sys/event-ingest/health").status == 200);
  }
}

TEST_CASE("a taken port is a clear start-up error") {
  int port = free_port();
  // Both instances name one data directory: the second must fail on the port before it
  // reaches the directory's lock.
  auto data_dir =
      std::filesystem::temp_directory_path() / ("suite-taken-port-" + std::to_string(::getpid()));
  std::filesystem::remove_all(data_dir);
  test_process first(
      bin_dir() + "/rem-store",
      {"--bus=tcp://127.0.0.1:" + std::to_string(port),
       "--metrics=127.0.0.1:" + std::to_string(free_port()), "--data-dir=" + data_dir.string()});
  first.start();
  REQUIRE(wait_until([&] { return first.log().find("msg=ready") != std::string::npos; }));
  test_process second(
      bin_dir() + "/rem-store",
      {"--bus=tcp://127.0.0.1:" + std::to_string(port),
       "--metrics=127.0.0.1:" + std::to_string(free_port()), "--data-dir=" + data_dir.string()});
  second.start();
  REQUIRE(wait_until([&] { return second.log().find("bus.failed") != std::string::npos; }));
  CHECK(second.log().find(std::to_string(port)) != std::string::npos);
  CHECK(second.stop() != 0);
  CHECK(first.stop() == 0);
  std::filesystem::remove_all(data_dir);
}

TEST_CASE("bad settings stop the start with a message naming the setting") {
  test_process bad(bin_dir() + "/chat-cache", {"--workers=0"});
  bad.start();
  REQUIRE(wait_until([&] { return bad.log().find("config.invalid") != std::string::npos; }));
  CHECK(bad.log().find("workers") != std::string::npos);
  CHECK(bad.stop() == 2);
}
