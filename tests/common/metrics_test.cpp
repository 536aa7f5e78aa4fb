#include <doctest/doctest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "http_client.hpp"
#include "suite/config.hpp"
#include "suite/metrics.hpp"
#include "suite/start_settings.hpp"

using namespace suite;

TEST_CASE("the text exposition carries the standard families") {
  metrics m("test-svc");
  m.add_op("things.get");
  m.op("things.get").record(200, 0.0003);
  m.op("things.get").record(200, 0.0003);
  m.op("things.get").record(404, 0.002);
  m.op("unknown.op").record(418, 0.001);
  m.inflight().Increment();
  m.set_startup_seconds(0.012);
  auto text = m.render();
  CHECK(text.find(R"(suite_requests_total{op="things.get",service="test-svc",status="200"} 2)") !=
        std::string::npos);
  CHECK(text.find(R"(suite_requests_total{op="things.get",service="test-svc",status="404"} 1)") !=
        std::string::npos);
  CHECK(text.find(R"(suite_requests_total{op="other",service="test-svc",status="other"} 1)") !=
        std::string::npos);
  CHECK(
      text.find(
          R"(suite_request_duration_seconds_bucket{op="things.get",service="test-svc",le="5e-05"} 0)") !=
      std::string::npos);
  CHECK(
      text.find(
          R"(suite_request_duration_seconds_bucket{op="things.get",service="test-svc",le="0.0004"} 2)") !=
      std::string::npos);
  CHECK(
      text.find(R"(suite_request_duration_seconds_count{op="things.get",service="test-svc"} 3)") !=
      std::string::npos);
  CHECK(text.find(R"(suite_inflight_requests{service="test-svc"} 1)") != std::string::npos);
  CHECK(text.find(R"(suite_bus_queue_depth{service="test-svc"} 0)") != std::string::npos);
  CHECK(text.find(R"(suite_startup_seconds{service="test-svc"} 0.012)") != std::string::npos);
  CHECK(text.find("suite_build_info{build_type=") != std::string::npos);
  CHECK(text.find("cpu_model=\"" + cpu_model() + "\"") != std::string::npos);
  for (const char* family :
       {"process_resident_memory_bytes ", "process_virtual_memory_bytes ",
        "process_cpu_seconds_total ", "process_open_fds ", "process_start_time_seconds "}) {
    CHECK_MESSAGE(text.find(family) != std::string::npos, family);
  }
}

TEST_CASE("process metrics are real readings") {
  metrics m("test-svc");
  auto text = m.render();
  auto value_of = [&](const std::string& name) {
    auto at = text.find("\n" + name + " ");
    REQUIRE(at != std::string::npos);
    return std::stod(text.substr(at + name.size() + 2));
  };
  CHECK(value_of("process_resident_memory_bytes") > 1e6);
  CHECK(value_of("process_open_fds") >= 3);
  double start = value_of("process_start_time_seconds");
  double now = static_cast<double>(std::time(nullptr));
  CHECK(start <= now + 1);
  CHECK(start > now - 3600);
}

TEST_CASE("recording can be switched off to measure its cost") {
  metrics m("test-svc");
  m.add_op("a");
  metrics::set_recording(false);
  m.op("a").record(200, 0.1);
  metrics::set_recording(true);
  CHECK(m.render().find(R"(suite_requests_total{op="a",service="test-svc",status="200"} 0)") !=
        std::string::npos);
}

TEST_CASE("serving on a taken port is a clear error") {
  metrics a("a"), b("b");
  REQUIRE(a.serve("127.0.0.1:0").ok());
  auto taken = "127.0.0.1:" + std::to_string(a.port());
  auto second = b.serve(taken);
  REQUIRE(!second.ok());
  CHECK(second.error().message.find(taken) != std::string::npos);
  CHECK(!b.serve("127.0.0.1").ok());
  CHECK(!b.serve("127.0.0.1:http").ok());
}

TEST_CASE("/metrics over HTTP/1.1: keep-alive, 404, 405, and a stop with a client idle") {
  using test::http_once;
  metrics m("test-svc");
  m.add_op("a");
  m.op("a").record(200, 0.001);
  REQUIRE(m.serve("127.0.0.1:0").ok());
  REQUIRE(m.port() != 0);
  {
    // Two scrapes on one keep-alive connection; the client stays connected while the
    // server below stops, which must not wait for it.
    test::http_client scraper("127.0.0.1", m.port(), test::credential::none);
    for (int i = 0; i < 2; ++i) {
      auto r = scraper.get(i == 0 ? "/metrics" : "/metrics?x=1");
      REQUIRE(r.status == 200);
      CHECK(r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8");
      CHECK(r.body.find(R"(suite_requests_total{op="a",service="test-svc",status="200"} 1)") !=
            std::string::npos);
    }
    CHECK(http_once(m.port(), "GET", "/other", {}, {}, test::credential::none).status == 404);
    CHECK(http_once(m.port(), "POST", "/metrics", "x", {}, test::credential::none).status == 405);

    auto other = std::make_unique<metrics>("other");
    REQUIRE(other->serve("127.0.0.1:0").ok());
    test::http_client idle("127.0.0.1", other->port(), test::credential::none);
    REQUIRE(idle.get("/metrics").status == 200);
    other.reset();  // stops with `idle` still connected (a stop that waited would hang here)
    CHECK(idle.get("/metrics").status == 0);  // closed by the stop
  }
}

namespace {

// A gauge read at each scrape: how many times it has been collected.
class counting_collectable final : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override {
    auto family = gauge_family("test_collected", "Scrapes seen.");
    family.metric.push_back(gauge_sample(static_cast<double>(++collected_), {{"k", "v"}}));
    return {std::move(family)};
  }

 private:
  mutable std::atomic<int> collected_{0};
};

}  // namespace

TEST_CASE("a collectable added while scrapes run is read at every later scrape") {
  metrics m("test-svc");
  REQUIRE(m.serve("127.0.0.1:0").ok());
  std::atomic<bool> scraping{true};
  std::thread scraper([&] {  // scrapes all along, so the add races with them
    while (scraping)
      (void)test::http_once(m.port(), "GET", "/metrics", {}, {}, test::credential::none);
  });
  CHECK(m.render().find("test_collected") == std::string::npos);
  m.add_collectable(std::make_shared<counting_collectable>());
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  scraping = false;
  scraper.join();
  auto text = m.render();
  CHECK(text.find("# TYPE test_collected gauge") != std::string::npos);
  CHECK(text.find(R"(test_collected{k="v"} )") != std::string::npos);
}

TEST_CASE("every binary's start-up reads metrics-recording") {
  auto start = [](std::vector<std::string> args) {
    config settings;
    settings.add("log-level", "info", "log level");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    return start_settings(settings, "test-svc", static_cast<int>(argv.size()), argv.data());
  };
  CHECK_FALSE(start({"svc", "--metrics-recording=false"}).has_value());
  CHECK_FALSE(metrics::recording());
  CHECK_FALSE(start({"svc"}).has_value());
  CHECK(metrics::recording());  // on by default
  // A bad value stops the start and changes nothing.
  metrics::set_recording(true);
  CHECK(start({"svc", "--metrics-recording=maybe"}) == 2);
  CHECK(metrics::recording());
}
