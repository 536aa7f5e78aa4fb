#include "loadgen/prometheus_text.hpp"

#include <doctest/doctest.h>

#include <boost/asio.hpp>
#include <cmath>
#include <thread>

#include "loadgen/service_monitor.hpp"

namespace {

constexpr const char* exposition =
    R"(# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 1.048576e+07
process_cpu_seconds_total 2.5
suite_startup_seconds{service="gateway"} 0.0123
suite_build_info{service="gateway",version="0.1.0",compiler="gcc \"12\"",cores="2"} 1
suite_request_duration_seconds_bucket{service="gateway",op="a",le="0.001"} 10
suite_request_duration_seconds_bucket{service="gateway",op="a",le="0.002"} 30
suite_request_duration_seconds_bucket{service="gateway",op="a",le="+Inf"} 40
suite_request_duration_seconds_count{service="gateway",op="a"} 40
suite_request_duration_seconds_bucket{service="gateway",op="b",le="0.001"} 0
suite_request_duration_seconds_bucket{service="gateway",op="b",le="0.002"} 60
suite_request_duration_seconds_bucket{service="gateway",op="b",le="+Inf"} 60
suite_request_duration_seconds_count{service="gateway",op="b"} 60
)";

}  // namespace

TEST_CASE("the exposition format is read with labels and escapes") {
  const auto samples = loadgen::parse_prometheus_text(exposition);
  REQUIRE(samples.size() == 12);
  CHECK(samples[0].name == "process_resident_memory_bytes");
  CHECK(samples[0].value == 10485760);
  CHECK(samples[3].label("compiler") == "gcc \"12\"");
  CHECK(samples[3].label("cores") == "2");
}

TEST_CASE("a service's state sums its ops' histograms") {
  const auto state = loadgen::read_service_state("gateway", exposition);
  CHECK(state.rss_bytes == 10485760);
  CHECK(state.cpu_seconds == 2.5);
  CHECK(state.startup_seconds == doctest::Approx(0.0123));
  CHECK(state.request_count == 100);
  REQUIRE(state.latency.size() == 3);
  CHECK(state.latency[0].second == 10);
  CHECK(state.latency[1].second == 90);
  CHECK(state.latency[2].second == 100);
}

TEST_CASE("quantiles interpolate within a bucket, as histogram_quantile does") {
  loadgen::histogram_buckets b{{0.001, 10}, {0.002, 90}, {INFINITY, 100}};
  CHECK(loadgen::histogram_quantile(0.05, b) == doctest::Approx(0.0005));
  CHECK(loadgen::histogram_quantile(0.5, b) == doctest::Approx(0.0015));
  CHECK(loadgen::histogram_quantile(0.99, b) == doctest::Approx(0.002));  // +Inf: highest bound
  // The run window is the difference of two scrapes.
  loadgen::histogram_buckets before{{0.001, 10}, {0.002, 10}, {INFINITY, 10}};
  loadgen::add_buckets(b, before, -1);
  CHECK(b[0].second == 0);
  CHECK(b[2].second == 90);
  // Rank 45 of 90, all 80 of the window's first observations in (1 ms, 2 ms].
  CHECK(loadgen::histogram_quantile(0.5, b) == doctest::Approx(0.0015625));
}

// Regression for RSS 0 in the demo: the gateway's and clinic-records' /metrics are over
// 64 KiB, and the scrape lost the lines after the first 64 KiB. A real HTTP scrape of a
// 150 KiB exposition, with the process metrics last as prometheus-cpp writes them.
TEST_CASE("a scrape over 64 KiB still reads the process metrics at its end") {
  std::string body;
  for (int i = 0; body.size() < 150 * 1024; ++i) {
    body += "suite_requests_total{service=\"gateway\",op=\"op" + std::to_string(i) +
            "\",status=\"200\"} 1\n";
  }
  body += "process_cpu_seconds_total 3.5\nprocess_resident_memory_bytes 12345678\n";
  const std::string response = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                               std::to_string(body.size()) + "\r\n\r\n" + body;

  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  const auto port = acceptor.local_endpoint().port();
  std::thread server([&] {
    boost::system::error_code ec;
    auto socket = acceptor.accept(ec);
    if (ec) return;
    boost::asio::streambuf request;
    boost::asio::read_until(socket, request, "\r\n\r\n", ec);
    boost::asio::write(socket, boost::asio::buffer(response), ec);
  });
  loadgen::service_monitor monitor("127.0.0.1", {{"gateway", port}});
  const auto snapshot = monitor.snapshot();
  server.join();
  REQUIRE(snapshot.count("gateway") == 1);
  CHECK(snapshot.at("gateway").rss_bytes == 12345678);
  CHECK(snapshot.at("gateway").cpu_seconds == 3.5);
}
