// The gateway's security and limits end to end (docs/security.md, "Bad inputs tried"):
// the real gateway, event-ingest and rem-store as processes over real HTTP and ZeroMQ.
// Each case starts a gateway of its own with the flags it tests; the services are
// shared by the whole file. Time bounds here only stop a test that would otherwise
// hang; nothing asserts on speed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <filesystem>
#include <future>
#include <thread>

#include "authenticator.hpp"
#include "http_client.hpp"
#include "suite/bus_client.hpp"
#include "suite/inproc_mailbox.hpp"
#include "test_credentials.hpp"
#include "test_process.hpp"

using namespace suite;
using namespace suite::test;
using namespace std::chrono_literals;

namespace {

std::string tcp(int port) { return "tcp://127.0.0.1:" + std::to_string(port); }

// event-ingest and rem-store, started once for the file.
struct backends {
  int ingest_bus = free_port(), rem_bus = free_port(), silent_bus = free_port();
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("suite-security-" + std::to_string(::getpid()));
  test_process ingest{
      bin_dir() + "/event-ingest",
      {"--bus=" + tcp(ingest_bus), "--metrics=127.0.0.1:" + std::to_string(free_port()),
       "--data-dir=" + (dir / "ingest").string(), "--pub=" + tcp(free_port())}};
  test_process rem{bin_dir() + "/rem-store",
                   {"--bus=" + tcp(rem_bus), "--metrics=127.0.0.1:" + std::to_string(free_port()),
                    "--data-dir=" + (dir / "rem").string(), "--workers=2"}};
  backends() {
    std::filesystem::remove_all(dir);
    ingest.start();
    rem.start();
  }
  ~backends() {
    ingest.stop();
    rem.stop();
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
};

backends& shared_backends() {
  static backends b;
  return b;
}

// A gateway over the shared backends (clinic-records points at a ROUTER a test may bind
// and leave silent; chat-cache at nothing) with the test credentials and `extra` flags.
struct gateway_under_test {
  int http = free_port(), metrics_port = free_port();
  test_process process;
  explicit gateway_under_test(const std::vector<std::string>& extra = {})
      : process(bin_dir() + "/gateway", flags(extra)) {
    process.start();
    bool up = wait_until([&] {
      // Probes as a principal no rate test uses, so however many it takes they use up
      // neither admin's, monitor's nor the anonymous bucket.
      auto probe = api_key_header("no-roles");
      return http_once(http, "GET", "/api/sys/event-ingest/health", {}, probe).status == 200 &&
             http_once(http, "GET", "/api/sys/rem-store/health", {}, probe).status == 200;
    });
    REQUIRE_MESSAGE(up, process.log());
  }
  std::vector<std::string> flags(const std::vector<std::string>& extra) {
    auto& b = shared_backends();
    auto all = with_gateway_auth(
        {"--http=127.0.0.1:" + std::to_string(http),
         "--metrics=127.0.0.1:" + std::to_string(metrics_port), "--threads=2",
         "--backend-event-ingest=" + tcp(b.ingest_bus), "--backend-rem-store=" + tcp(b.rem_bus),
         "--backend-clinic-records=" + tcp(b.silent_bus),
         "--backend-chat-cache=" + tcp(free_port()), "--sub-event-ingest="});
    all.insert(all.end(), extra.begin(), extra.end());
    return all;
  }
  http_response as(const std::string& who, const std::string& method, const std::string& target,
                   const std::string& body = {}) {
    return http_once(http, method, target, body, api_key_header(who));
  }
  http_response anonymous(const std::string& method, const std::string& target,
                          const std::string& body = {}) {
    return http_once(http, method, target, body, {}, credential::none);
  }
  http_response bearer(const std::string& token, const std::string& target = "/api/stats") {
    return http_once(http, "GET", target, {}, {{"Authorization", "Bearer " + token}});
  }
  std::string metrics() { return http_once(metrics_port, "GET", "/metrics").body; }
};

bool has(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::string event_json(const std::string& session) {
  return R"({"session_id":")" + session +
         R"(","agent_type":"claude-code","event_type":"tool_use"})";
}

std::string claims(std::int64_t exp_offset_s, const std::string& extra = "") {
  auto now = gateway::authenticator::unix_seconds_now();
  return R"({"sub":"jwt-user","tenant":"default","roles":["monitor"],"exp":)" +
         std::to_string(now + exp_offset_s) + extra + "}";
}

// A raw TCP connection, for clients that misbehave at the HTTP level.
struct raw_connection {
  int fd = -1;
  explicit raw_connection(int port) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  }
  ~raw_connection() {
    if (fd >= 0) ::close(fd);
  }
  bool send(const std::string& text) {
    return ::send(fd, text.data(), text.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(text.size());
  }
  // Reads what arrives within `wait`; sets `closed` when the peer closed the connection.
  std::string receive(std::chrono::milliseconds wait, bool* closed = nullptr) {
    std::string out;
    auto deadline = std::chrono::steady_clock::now() + wait;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      char buffer[4096];
      auto n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n <= 0) {
        if (closed) *closed = true;
        return out;
      }
      out.append(buffer, static_cast<std::size_t>(n));
    }
    return out;
  }
};

}  // namespace

TEST_CASE("401 without or with a bad credential; the error says why and names the scheme") {
  gateway_under_test g;
  auto none = g.anonymous("GET", "/api/stats");
  CHECK(none.status == 401);
  CHECK(has(none.body, R"("code":"missing_credential")"));
  CHECK(has(none.headers["www-authenticate"], "Bearer"));

  auto good_key = api_key_of("monitor");
  auto other_key = api_key_of("agent");
  const std::vector<std::pair<std::string, std::string>> bad_keys{
      {"garbage", "not-a-key"},
      {"unknown id", "sk_000000000000_" + std::string(64, 'a')},
      // The right key id with another key's secret: only the hash can tell.
      {"wrong secret", good_key.substr(0, 16) + other_key.substr(16)},
      {"one char changed",
       good_key.substr(0, good_key.size() - 1) + (good_key.back() == 'a' ? "b" : "a")},
      {"truncated", good_key.substr(0, good_key.size() - 2)},
      {"empty id", "sk__" + std::string(64, 'a')},
  };
  for (const auto& [what, key] : bad_keys) {
    auto r = http_once(g.http, "GET", "/api/stats", {}, {{"X-API-Key", key}});
    CHECK_MESSAGE(r.status == 401, what);
    CHECK_MESSAGE(has(r.body, R"("code":"bad_api_key")"), what);
    CHECK_MESSAGE(has(r.headers["www-authenticate"], "invalid_token"), what);
  }
  CHECK(g.as("monitor", "GET", "/api/stats").status == 200);

  const auto& secret = test_jwt_secret();
  CHECK(g.bearer(gateway::sign_hs256_token(claims(300), secret)).status == 200);
  const std::vector<std::pair<std::string, std::string>> bad_tokens{
      {"bad signature",
       gateway::sign_hs256_token(claims(300), "another-secret-of-at-least-32-bytes!")},
      {"alg none", gateway::sign_hs256_token(claims(300), secret, "none")},
      {"alg HS512", gateway::sign_hs256_token(claims(300), secret, "HS512")},
      {"alg RS256", gateway::sign_hs256_token(claims(300), secret, "RS256")},
      {"expired", gateway::sign_hs256_token(claims(-10), secret)},
      {"not valid yet",
       gateway::sign_hs256_token(
           claims(300,
                  R"(,"nbf":)" + std::to_string(gateway::authenticator::unix_seconds_now() + 120)),
           secret)},
      {"no exp",
       gateway::sign_hs256_token(R"({"sub":"x","tenant":"default","roles":["admin"]})", secret)},
      {"no sub", gateway::sign_hs256_token(R"({"tenant":"default","exp":9999999999})", secret)},
      {"no tenant", gateway::sign_hs256_token(R"({"sub":"x","exp":9999999999})", secret)},
      {"roles not a list",
       gateway::sign_hs256_token(R"({"sub":"x","tenant":"t","roles":"admin","exp":9999999999})",
                                 secret)},
      {"two parts", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0"},
      {"not base64", "###.$$$.%%%"},
      {"empty", ""},
  };
  for (const auto& [what, token] : bad_tokens) {
    auto r = g.bearer(token);
    CHECK_MESSAGE(r.status == 401, what);
    CHECK_MESSAGE(has(r.headers["www-authenticate"], "Bearer"), what);
  }
  // A payload re-signed by nobody: roles raised to admin after signing.
  auto token = gateway::sign_hs256_token(claims(300), secret);
  auto forged = gateway::sign_hs256_token(
      R"({"sub":"jwt-user","tenant":"default","roles":["admin"],"exp":9999999999})", secret);
  auto tampered = token.substr(0, token.find('.') + 1) +
                  forged.substr(forged.find('.') + 1, forged.rfind('.') - forged.find('.') - 1) +
                  token.substr(token.rfind('.'));
  CHECK(g.bearer(tampered, "/api/sys/event-ingest/info").status == 401);
  CHECK(http_once(g.http, "GET", "/api/stats", {}, {{"Authorization", "Basic YWRtaW46YWRtaW4="}})
            .status == 401);

  // Nothing refused reached a backend; the refusals are counted.
  CHECK(has(g.metrics(),
            R"(suite_gateway_refused_total{reason="unauthenticated",service="gateway"})"));
  // /healthz and sys.health stay open.
  CHECK(g.anonymous("GET", "/healthz").status != 401);
  CHECK(g.anonymous("GET", "/api/sys/event-ingest/health").status == 200);
  CHECK(g.anonymous("GET", "/api/sys/event-ingest/info").status == 401);
}

TEST_CASE("403 without the op's role; admin may do everything") {
  gateway_under_test g;
  auto r = g.as("agent", "GET", "/api/stats");
  CHECK(r.status == 403);
  CHECK(has(r.body, R"("code":"forbidden")"));
  CHECK(has(r.body, "monitor"));
  CHECK(g.as("agent", "POST", "/api/events", event_json("sec-role")).status == 201);
  CHECK(g.as("monitor", "POST", "/api/events", event_json("sec-role")).status == 403);
  CHECK(g.as("monitor", "GET", "/api/sys/event-ingest/info").status == 403);
  CHECK(g.as("no-roles", "GET", "/api/stats").status == 403);
  CHECK(g.as("rem-a", "GET", "/api/stats").status == 403);
  CHECK(g.as("admin", "GET", "/api/stats").status == 200);
  CHECK(g.as("admin", "GET", "/api/sys/event-ingest/info").status == 200);
  // A token's roles count the same way.
  auto agent_token = gateway::sign_hs256_token(
      R"({"sub":"a","tenant":"default","roles":["ingest"],"exp":9999999999})", test_jwt_secret());
  CHECK(g.bearer(agent_token).status == 403);
}

TEST_CASE("the credential's tenant wins over any tenant in the body or the query") {
  gateway_under_test g;
  const std::string schema =
      R"({"name":"note","key_field":"k","schema":{"type":"object","required":["k"],"properties":{"k":{"type":"string"}}}})";
  REQUIRE(g.as("rem-a", "POST", "/api/rem/schemas", schema).status / 100 == 2);
  auto created = g.as("rem-a", "POST", "/api/rem/types/note/records",
                      R"({"record":{"k":"secret-of-a","tenant":"tenant-b"}})");
  REQUIRE_MESSAGE(created.status / 100 == 2, created.body);
  auto at = created.body.find("\"id\":\"");
  REQUIRE(at != std::string::npos);
  auto id = created.body.substr(at + 6, 16);

  CHECK(g.as("rem-a", "GET", "/api/rem/records/" + id).status == 200);
  CHECK(g.as("rem-b", "GET", "/api/rem/records/" + id).status == 404);
  // Asking for A's tenant by query or body is refused, not obeyed.
  auto by_query = g.as("rem-b", "GET", "/api/rem/records/" + id + "?tenant=tenant-a");
  CHECK(by_query.status == 400);
  CHECK(!has(by_query.body, "secret-of-a"));
  CHECK(g.as("rem-b", "GET", "/api/rem/types/note/keys/secret-of-a").status == 404);
  CHECK(g.as("rem-b", "GET", "/api/rem/types/note/keys/secret-of-a?tenant=tenant-a").status == 400);
  auto injected = g.as("rem-b", "POST", "/api/rem/types/note/records",
                       R"({"tenant":"tenant-a","record":{"k":"secret-of-a"}})");
  CHECK(injected.status == 400);
  // B's own record with the same key is B's, in B's tenant, and does not touch A's.
  REQUIRE(g.as("rem-b", "POST", "/api/rem/schemas", schema).status / 100 == 2);
  auto b_record =
      g.as("rem-b", "POST", "/api/rem/types/note/records", R"({"record":{"k":"secret-of-a"}})");
  REQUIRE(b_record.status / 100 == 2);
  CHECK(!has(b_record.body, id));
  auto a_again = g.as("rem-a", "GET", "/api/rem/types/note/keys/secret-of-a");
  CHECK(a_again.status == 200);
  CHECK(has(a_again.body, id));
  // A query runs in the caller's tenant only.
  auto lookup = g.as("rem-b", "POST", "/api/rem/query", R"({"query":"LOOKUP 'secret-of-a'"})");
  CHECK(lookup.status == 200);
  CHECK(!has(lookup.body, id));
  auto select = g.as("rem-b", "POST", "/api/rem/query", R"({"query":"SELECT * FROM note"})");
  CHECK(select.status == 200);
  CHECK(!has(select.body, id));
  CHECK(has(g.as("rem-a", "POST", "/api/rem/query", R"({"query":"SELECT * FROM note"})").body, id));
}

TEST_CASE("over its rate a principal gets 429 with Retry-After, then is served again") {
  gateway_under_test g({"--rate-limit=2", "--rate-burst=3"});
  std::vector<int> statuses;
  http_response refused;
  for (int i = 0; i < 10; ++i) {
    auto r = g.as("monitor", "GET", "/api/stats");
    statuses.push_back(r.status);
    if (r.status == 429) refused = r;
  }
  CHECK(std::count(statuses.begin(), statuses.end(), 200) >= 3);
  REQUIRE(std::count(statuses.begin(), statuses.end(), 429) >= 1);
  CHECK(has(refused.body, R"("code":"rate_limited")"));
  int retry_after = std::stoi(refused.headers["retry-after"]);
  CHECK(retry_after >= 1);
  // Another principal has its own bucket.
  CHECK(g.as("admin", "GET", "/api/stats").status == 200);
  std::this_thread::sleep_for(std::chrono::seconds(retry_after));
  CHECK(g.as("monitor", "GET", "/api/stats").status == 200);
  CHECK(
      has(g.metrics(), R"(suite_gateway_refused_total{reason="rate_limited",service="gateway"})"));
}

TEST_CASE("anonymous requests are limited per client IP") {
  gateway_under_test g(
      {"--anonymous-ingest=true", "--anonymous-rate-limit=1", "--anonymous-rate-burst=2"});
  int refused = 0;
  for (int i = 0; i < 6; ++i) {
    refused += g.anonymous("POST", "/api/events", event_json("anon-rate")).status == 429;
  }
  CHECK(refused >= 3);
  CHECK(g.as("agent", "POST", "/api/events", event_json("anon-rate")).status == 201);
}

TEST_CASE("at its in-flight bound a backend gets a fast 503, never a queue") {
  auto& b = shared_backends();
  zmq::socket_t silent(bus_context(), zmq::socket_type::router);
  silent.set(zmq::sockopt::linger, 0);
  silent.bind(tcp(b.silent_bus));
  silent.set(zmq::sockopt::rcvtimeo, 500);
  gateway_under_test g({"--max-inflight-per-backend=2", "--timeout-ms=3000"});
  // Two calls that the silent backend holds until their 3 s deadline. A call made before
  // the bus client has connected is answered 503 "backend_unavailable" at once: retry.
  std::vector<std::future<int>> held;
  for (int attempt = 0; attempt < 50 && held.size() < 2; ++attempt) {
    auto call = std::async(std::launch::async, [&] {
      return g.as("admin", "GET", "/api/sys/clinic-records/info").status;
    });
    zmq::message_t identity, frame;
    if (silent.recv(identity) && silent.recv(frame)) {
      held.push_back(std::move(call));
    } else {
      CHECK(call.get() == 503);
    }
  }
  REQUIRE(held.size() == 2);
  auto started = std::chrono::steady_clock::now();
  auto r = g.as("admin", "GET", "/api/sys/clinic-records/info");
  MESSAGE("refused at the bound after "
          << std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
                 .count()
          << " ms");
  CHECK(r.status == 503);
  CHECK(has(r.body, R"("code":"overloaded")"));
  CHECK(r.headers["retry-after"] == "1");
  // Other backends are not affected by one backend's bound.
  CHECK(g.as("admin", "GET", "/api/stats").status == 200);
  for (auto& f : held) CHECK(f.get() == 504);
  // When they have ended the backend takes calls again (and answers nothing: 504).
  CHECK(g.as("admin", "GET", "/api/sys/clinic-records/info").status == 504);
}

TEST_CASE("a slow client is closed; so is an idle keep-alive connection") {
  gateway_under_test g({"--request-timeout-ms=500", "--idle-timeout-ms=1500"});
  SUBCASE("headers that never finish") {
    raw_connection slow(g.http);
    REQUIRE(slow.send("GET /api/stats HTTP/1.1\r\nHost: x\r\n"));
    bool closed = false;
    auto started = std::chrono::steady_clock::now();
    for (int i = 0; i < 100 && !closed; ++i) {  // one header line every 100 ms, forever
      slow.send("X-Trickle-" + std::to_string(i) + ": a\r\n");
      slow.receive(100ms, &closed);
    }
    CHECK(closed);
    MESSAGE("slowloris closed after "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()
            << " s");
    // Beast closes the socket when the timer fires and only then completes the read that
    // counts it, so the count may trail the close we saw by a moment.
    CHECK(wait_until(
        [&] {
          return has(g.metrics(), "suite_gateway_slow_clients_closed_total{service=\"gateway\"} 1");
        },
        2s));
  }
  SUBCASE("a body that never finishes") {
    raw_connection slow(g.http);
    REQUIRE(slow.send("POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"));
    bool closed = false;
    slow.receive(5s, &closed);
    CHECK(closed);
  }
  SUBCASE("an idle keep-alive connection") {
    raw_connection idle(g.http);
    REQUIRE(idle.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    bool closed = false;
    auto answer = idle.receive(500ms, &closed);
    CHECK(has(answer, "HTTP/1.1 "));
    CHECK(!closed);  // kept alive past the request time-out while idle
    idle.receive(5s, &closed);
    CHECK(closed);
  }
}

TEST_CASE("connections per client IP are capped; over the cap one is refused and closed") {
  gateway_under_test g({"--max-connections-per-ip=3"});
  std::vector<std::unique_ptr<raw_connection>> open;
  // wait_until above used connections that may still be closing: wait for them.
  REQUIRE(wait_until([&] {
    open.clear();
    for (int i = 0; i < 3; ++i) open.push_back(std::make_unique<raw_connection>(g.http));
    bool closed = false;
    open.back()->send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    auto answer = open.back()->receive(300ms, &closed);
    return has(answer, "HTTP/1.1 ") && !has(answer, "too_many_connections");
  }));
  raw_connection fourth(g.http);
  bool closed = false;
  auto answer = fourth.receive(2s, &closed);
  CHECK(has(answer, "503"));
  CHECK(has(answer, "too_many_connections"));
  CHECK(closed);
  CHECK(has(g.metrics(), "suite_gateway_refused_connections_total{service=\"gateway\"}"));
  open.pop_back();  // one closes: a new one is served again
  CHECK(wait_until([&] { return http_once(g.http, "GET", "/healthz").status != 0; }));
}

TEST_CASE("anonymous ingest works only when the flag is on, and only for event posting") {
  {
    gateway_under_test off;
    CHECK(off.anonymous("POST", "/api/events", event_json("anon")).status == 401);
    CHECK(has(off.process.log(), "anonymous_ingest=off"));
  }
  gateway_under_test on({"--anonymous-ingest=true"});
  CHECK(has(on.process.log(), "anonymous_ingest=on"));
  CHECK(on.anonymous("POST", "/api/events", event_json("anon")).status == 201);
  CHECK(on.anonymous("POST", "/api/events/batch", R"({"events":[)" + event_json("anon") + "]}")
            .status == 201);
  CHECK(on.anonymous("GET", "/api/health").status == 200);
  CHECK(on.anonymous("GET", "/api/stats").status == 401);
  CHECK(on.anonymous("GET", "/api/events").status == 401);
  CHECK(on.anonymous("GET", "/api/rem/schemas").status == 401);
  // A bad credential is refused even where no credential would be let through.
  CHECK(http_once(on.http, "POST", "/api/events", event_json("anon"), {{"X-API-Key", "sk_bad_x"}})
            .status == 401);
}

TEST_CASE("oversized and over-deep input is refused with the limit named") {
  gateway_under_test g({"--body-limit=4096"});
  auto deep = std::string(100, '[') + std::string(100, ']');
  auto r = g.as("agent", "POST", "/api/events", R"({"a":)" + deep + "}");
  CHECK(r.status == 400);
  CHECK(has(r.body, "deeper than 64"));
  CHECK(g.as("agent", "POST", "/api/events", std::string(5000, ' ')).status == 413);
  auto huge_header =
      http_once(g.http, "GET", "/api/stats", {},
                {{"X-API-Key", admin_api_key()}, {"X-Filler", std::string(20000, 'x')}});
  CHECK(huge_header.status == 431);
}
