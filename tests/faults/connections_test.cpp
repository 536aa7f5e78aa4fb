// Connection faults at the gateway's front door, through the real gateway process:
//   - an SSE client that stops reading does not hold up the others: a reading client
//     gets every event, and the stalled one is dropped once its queue is full;
//   - 10,000 idle connections do not stop new ones being served (RLIMIT_NOFILE is
//     raised in this process, and so in the gateway it starts).
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "ingest_fixture.hpp"  // sse_reader, from the event-ingest tests
#include "suite_stack.hpp"
#include "test_credentials.hpp"

using namespace suite::test;
using namespace std::chrono_literals;

namespace {

int connect_to(int port, int receive_buffer = 0) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  if (receive_buffer > 0)
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::string batch(int number, int size) {
  std::string padding(2000, 'x');  // frames big enough to fill a stalled client's buffers
  std::string body = "{\"events\":[";
  for (int i = 0; i < size; ++i) {
    body += std::string(i ? "," : "") +
            R"({"session_id":"sse","agent_type":"a","event_type":"tool_use","metadata":{"pad":")" +
            padding + R"("},"event_id":"b)" + std::to_string(number) + "-" + std::to_string(i) +
            "\"}";
  }
  return body + "]}";
}

}  // namespace

TEST_CASE("a stalled SSE client is dropped and does not hold up a reading one") {
  suite_stack s({.services = {"event-ingest"}});
  // Subscribed but never read, with a tiny receive buffer. 3000 frames of ~2.3 KB fill
  // the loopback socket buffers, so the gateway queues for it and drops it at 1024.
  int stalled = connect_to(s.http_port(), 4096);
  REQUIRE(stalled >= 0);
  std::string request =
      "GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: " + admin_api_key() + "\r\n\r\n";
  REQUIRE(::send(stalled, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size()));
  sse_reader reader(s.http_port(), "/api/stream");
  REQUIRE(reader.wait_for("connected"));
  constexpr int batches = 30, size = 100;  // 3000 frames: past the 1024-frame queue limit
  for (int b = 0; b < batches; ++b) {
    REQUIRE(s.api("POST", "/api/events/batch", batch(b, size)).status == 201);
    // The reader keeps up as the events arrive.
    CHECK(reader.wait_for("\"b" + std::to_string(b) + "-" + std::to_string(size - 1) + "\"", 10s));
  }
  CHECK(wait_until(
      [&] { return s.log("gateway").find("sse.slow_client_dropped") != std::string::npos; }, 10s));
  // Every event reached the reading client.
  int missing = 0;
  for (int b = 0; b < batches; ++b)
    for (int i = 0; i < size; ++i)
      if (reader.received().find("\"b" + std::to_string(b) + "-" + std::to_string(i) + "\"") ==
          std::string::npos)
        ++missing;
  CHECK(missing == 0);
  ::close(stalled);
  CHECK(s.api("GET", "/api/stats").status == 200);
}

TEST_CASE("10,000 idle connections do not stop new ones being served") {
  constexpr int idle_count = 10000;
  rlimit limit{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &limit) == 0);
  if (limit.rlim_max < idle_count + 1000) {
    MESSAGE("hard RLIMIT_NOFILE " << limit.rlim_max << " is below " << idle_count + 1000
                                  << ": cannot run");
    REQUIRE(limit.rlim_max >= idle_count + 1000);
  }
  limit.rlim_cur = limit.rlim_max;
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &limit) == 0);  // inherited by the gateway below
  suite_stack s({.services = {"event-ingest"}, .gateway_args = {"--idle-timeout-ms=600000"}});
  std::vector<int> idle;
  idle.reserve(idle_count);
  for (int i = 0; i < idle_count; ++i) {
    int fd = connect_to(s.http_port());
    REQUIRE_MESSAGE(fd >= 0, "connection " << i << " failed: " << std::strerror(errno));
    idle.push_back(fd);
  }
  // New connections are accepted and served while the idle ones stay open.
  for (int i = 0; i < 20; ++i) CHECK(s.api("GET", "/api/stats").status == 200);
  // The oldest idle connection is still served when it finally speaks.
  std::string request =
      "GET /api/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-API-Key: " +
      admin_api_key() + "\r\n\r\n";
  REQUIRE(::send(idle.front(), request.data(), request.size(), MSG_NOSIGNAL) > 0);
  char head[16] = {};
  CHECK(::recv(idle.front(), head, 12, MSG_WAITALL) == 12);
  CHECK(std::string(head, 12) == "HTTP/1.1 200");
  for (int fd : idle) ::close(fd);
}
