// The bus over real ZeroMQ sockets (inproc and tcp loopback): request/reply through a
// CAF actor, deadlines, reconnect, round robin and malformed frames.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "suite/bus_client.hpp"
#include "suite/bus_server.hpp"
#include "suite/inproc_mailbox.hpp"
#include "test_actors.hpp"
#include "test_process.hpp"

using namespace suite;
using namespace std::chrono_literals;

namespace {

struct bus_fixture {
  test::test_actors config;
  caf::actor_system system{config};

  caf::actor echo_workers() {
    sync_handlers handlers;
    handlers["echo"] = [](const request& r) { return ok_reply(r.id, r.body); };
    handlers["whoami"] = [](const request& r) {
      return ok_reply(r.id, pack_value([&](msgpack_packer& p) {
                        p.pack_map(2);
                        pack_string(p, "principal");
                        pack_string(p, r.principal);
                        pack_string(p, "tenant");
                        pack_string(p, r.tenant);
                      }));
    };
    handlers["boom"] = [](const request&) -> reply { throw std::runtime_error("boom"); };
    return spawn_sync_workers(system, 2, std::move(handlers));
  }

  // An actor that keeps every job and never answers (until it is told to drop them).
  // (CAF 0.17 dereferences a null argument tuple when an actor function takes no
  // arguments besides `self`, which UBSan rightly flags: these take one.)
  caf::actor holder(std::shared_ptr<std::vector<bus_job>> held) {
    return system.spawn(
        [](caf::event_based_actor*, std::shared_ptr<std::vector<bus_job>> jobs) -> caf::behavior {
          return {[jobs](const bus_job& job) { jobs->push_back(job); }};
        },
        std::move(held));
  }
  caf::actor dropper() {
    return system.spawn(
        [](caf::event_based_actor*, int) -> caf::behavior {
          return {[](const bus_job&) { /* forgets the job: the bus must still answer */ }};
        },
        0);
  }
};

reply call_sync(bus_client& client, const std::string& service, request r) {
  // Shared, so the promise outlives set_value even after the waiter has returned.
  auto promise = std::make_shared<std::promise<reply>>();
  auto future = promise->get_future();
  client.call(service, std::move(r), [promise](reply x) { promise->set_value(std::move(x)); });
  return future.get();
}

request make_request(const std::string& op, std::int64_t n = 0) {
  request r;
  r.op = op;
  r.principal = "tester";
  r.tenant = "t";
  r.body = pack_value([n](msgpack_packer& p) {
    p.pack_map(1);
    pack_string(p, "n");
    p.pack_int64(n);
  });
  return r;
}

std::string tcp_endpoint() { return "tcp://127.0.0.1:" + std::to_string(test::free_port()); }

}  // namespace

TEST_CASE("request and reply over inproc and tcp") {
  bus_fixture f;
  for (const std::string& endpoint : {unique_inproc_endpoint("bus-test"), tcp_endpoint()}) {
    CAPTURE(endpoint);
    metrics m("bus-test");
    bus_server server(endpoint, m);
    auto workers = f.echo_workers();
    server.route("echo", workers);
    server.route("whoami", workers);
    server.route("boom", workers);
    REQUIRE(server.start().ok());
    bus_client client;
    client.add_service("svc", {endpoint});
    REQUIRE(client.start().ok());
    REQUIRE(test::wait_until([&] { return client.connected("svc"); }));

    for (int i = 0; i < 100; ++i) {
      auto r = call_sync(client, "svc", make_request("echo", i));
      REQUIRE(r.status == 200);
      CHECK(int_field(r.body.object, "n") == i);
    }
    auto who = call_sync(client, "svc", make_request("whoami"));
    CHECK(string_field(who.body.object, "principal") == "tester");

    auto unknown = call_sync(client, "svc", make_request("nope"));
    CHECK(unknown.status == 404);
    CHECK(unknown.error->code == "unknown_op");

    auto boom = call_sync(client, "svc", make_request("boom"));
    CHECK(boom.status == 500);

    auto no_service = call_sync(client, "other", make_request("echo"));
    CHECK(no_service.status == 404);

    auto text = m.render();
    CHECK(text.find(R"(suite_requests_total{op="echo",service="bus-test",status="200"} 100)") !=
          std::string::npos);
    CHECK(text.find(R"(suite_inflight_requests{service="bus-test"} 0)") != std::string::npos);
    CHECK(text.find(R"(suite_bus_queue_depth{service="bus-test"} 0)") != std::string::npos);
  }
}

TEST_CASE("many concurrent calls from several threads all get their own reply") {
  bus_fixture f;
  auto endpoint = tcp_endpoint();
  metrics m("bus-test");
  bus_server server(endpoint, m);
  server.route("echo", f.echo_workers());
  REQUIRE(server.start().ok());
  bus_client client;
  client.add_service("svc", {endpoint});
  REQUIRE(client.start().ok());
  REQUIRE(test::wait_until([&] { return client.connected("svc"); }));
  std::atomic<int> right{0}, wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        auto r = call_sync(client, "svc", make_request("echo", t * 1000 + i));
        (int_field(r.body.object, "n") == t * 1000 + i ? right : wrong)++;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(right == 2000);
  CHECK(wrong == 0);
}

TEST_CASE("a call without a reply times out with 504 at its deadline") {
  bus_fixture f;
  auto endpoint = tcp_endpoint();
  metrics m("bus-test");
  bus_server server(endpoint, m);
  auto held = std::make_shared<std::vector<bus_job>>();
  server.route("hold", f.holder(held));
  REQUIRE(server.start().ok());
  bus_client client(bus_client::options{150ms, 50ms});
  client.add_service("svc", {endpoint});
  REQUIRE(client.start().ok());
  REQUIRE(test::wait_until([&] { return client.connected("svc"); }));
  auto start = std::chrono::steady_clock::now();
  auto r = call_sync(client, "svc", make_request("hold"));
  auto waited = std::chrono::steady_clock::now() - start;
  CHECK(r.status == 504);
  CHECK(waited >= 140ms);
  CHECK(waited < 5s);
}

TEST_CASE("a job dropped without an answer is answered 500, not left hanging") {
  bus_fixture f;
  auto endpoint = unique_inproc_endpoint("bus-test");
  metrics m("bus-test");
  bus_server server(endpoint, m);
  server.route("drop", f.dropper());
  REQUIRE(server.start().ok());
  bus_client client(bus_client::options{10s, 50ms});
  client.add_service("svc", {endpoint});
  REQUIRE(client.start().ok());
  auto r = call_sync(client, "svc", make_request("drop"));
  CHECK(r.status == 500);
  CHECK(r.error->code == "dropped");
}

TEST_CASE(
    "a dead service is 503 at once, in-flight calls fail fast, and it is used again when back") {
  bus_fixture f;
  auto endpoint = tcp_endpoint();
  bus_client client(bus_client::options{5s, 20ms});
  client.add_service("svc", {endpoint});
  REQUIRE(client.start().ok());

  // Nothing listening yet: 503 at once, not after the time-out.
  auto start = std::chrono::steady_clock::now();
  auto down = call_sync(client, "svc", make_request("echo"));
  CHECK(down.status == 503);
  CHECK(std::chrono::steady_clock::now() - start < 100ms);

  metrics m("bus-test");
  auto held = std::make_shared<std::vector<bus_job>>();
  {
    bus_server server(endpoint, m);
    server.route("echo", f.echo_workers());
    server.route("hold", f.holder(held));
    REQUIRE(server.start().ok());
    REQUIRE(test::wait_until([&] { return client.connected("svc"); }));
    CHECK(call_sync(client, "svc", make_request("echo", 1)).status == 200);

    auto promise = std::make_shared<std::promise<reply>>();
    auto future = promise->get_future();
    client.call("svc", make_request("hold"),
                [promise](reply x) { promise->set_value(std::move(x)); });
    std::this_thread::sleep_for(50ms);
    auto killed = std::chrono::steady_clock::now();
    server.stop();
    REQUIRE(future.wait_for(2s) == std::future_status::ready);
    CHECK(future.get().status == 503);
    CHECK(std::chrono::steady_clock::now() - killed < 1s);
  }
  REQUIRE(test::wait_until([&] { return !client.connected("svc"); }));

  bus_server again(endpoint, m);
  again.route("echo", f.echo_workers());
  REQUIRE(again.start().ok());
  REQUIRE(test::wait_until([&] { return client.connected("svc"); }));
  CHECK(call_sync(client, "svc", make_request("echo", 2)).status == 200);
}

TEST_CASE("several endpoints of one service share the calls round robin") {
  bus_fixture f;
  auto a = tcp_endpoint(), b = tcp_endpoint();
  metrics ma("bus-a"), mb("bus-b");
  bus_server sa(a, ma), sb(b, mb);
  sa.route("echo", f.echo_workers());
  sb.route("echo", f.echo_workers());
  REQUIRE(sa.start().ok());
  REQUIRE(sb.start().ok());
  bus_client client;
  client.add_service("svc", {a, b});
  REQUIRE(client.start().ok());
  REQUIRE(test::wait_until([&] {
    return call_sync(client, "svc", make_request("echo")).status == 200 && client.connected("svc");
  }));
  std::this_thread::sleep_for(100ms);  // both connections up
  for (int i = 0; i < 20; ++i)
    REQUIRE(call_sync(client, "svc", make_request("echo", i)).status == 200);
  auto count = [](metrics& m) {
    auto text = m.render();
    auto key = std::string(R"(op="echo",service=")") + m.service() + R"(",status="200"} )";
    auto at = text.find(key);
    return at == std::string::npos ? 0 : std::stoi(text.substr(at + key.size()));
  };
  CHECK(count(ma) >= 5);
  CHECK(count(mb) >= 5);
}

TEST_CASE(
    "garbage and late frames sent straight to the ROUTER get errors and the server keeps serving") {
  bus_fixture f;
  auto endpoint = tcp_endpoint();
  metrics m("bus-test");
  bus_server server(endpoint, m);
  server.route("echo", f.echo_workers());
  REQUIRE(server.start().ok());

  zmq::socket_t raw(bus_context(), zmq::socket_type::dealer);
  raw.set(zmq::sockopt::linger, 0);
  raw.set(zmq::sockopt::rcvtimeo, 2000);
  raw.connect(endpoint);
  auto expect_error = [&](const std::string& frame, int status) {
    REQUIRE(raw.send(zmq::buffer(frame), zmq::send_flags::none));
    zmq::message_t answer;
    REQUIRE(raw.recv(answer));
    auto r = decode_reply(answer.data<char>(), answer.size());
    REQUIRE(r.ok());
    CHECK(r->status == status);
  };
  expect_error("this is not msgpack \xc1", 400);
  expect_error(std::string("\x81\xa2id\x05", 5), 400);  // {id: 5} without op
  request late = make_request("echo");
  late.id = 77;
  late.deadline_ms = unix_ms_now() - 1000;
  msgpack::sbuffer late_frame;
  encode(late, late_frame);
  expect_error(std::string(late_frame.data(), late_frame.size()), 504);
  // Multi-frame garbage: the extra frames are discarded.
  REQUIRE(raw.send(zmq::str_buffer("x"), zmq::send_flags::sndmore));
  REQUIRE(raw.send(zmq::str_buffer("y"), zmq::send_flags::none));
  zmq::message_t ignored;
  (void)raw.recv(ignored);

  bus_client client;
  client.add_service("svc", {endpoint});
  REQUIRE(client.start().ok());
  REQUIRE(test::wait_until([&] { return client.connected("svc"); }));
  CHECK(call_sync(client, "svc", make_request("echo", 5)).status == 200);
}

TEST_CASE("binding a taken endpoint is a clear error") {
  bus_fixture f;
  auto endpoint = tcp_endpoint();
  metrics m("bus-test");
  bus_server first(endpoint, m), second(endpoint, m);
  REQUIRE(first.start().ok());
  auto r = second.start();
  REQUIRE(!r.ok());
  CHECK(r.error().message.find(endpoint) != std::string::npos);
}

TEST_CASE("a subscription receives what a PUB socket publishes") {
  auto endpoint = tcp_endpoint();
  zmq::socket_t pub(bus_context(), zmq::socket_type::pub);
  pub.set(zmq::sockopt::linger, 0);
  pub.bind(endpoint);
  std::promise<std::string> got;
  auto future = got.get_future();
  std::atomic<bool> done{false};
  bus_client client;
  client.subscribe(
      endpoint, {"events"}, {.on_message = [&](const std::string& topic, const msgpack_value& v) {
        if (!done.exchange(true))
          got.set_value(topic + ":" + std::string(string_field(v.object, "k").value_or("")));
      }});
  REQUIRE(client.start().ok());
  auto payload = pack_value([](msgpack_packer& p) {
    p.pack_map(1);
    pack_string(p, "k");
    pack_string(p, "v");
  });
  msgpack::sbuffer b;
  msgpack_packer(b).pack(payload.object);
  // PUB drops messages until the subscription has arrived: publish until one lands.
  for (int i = 0; i < 200 && future.wait_for(10ms) != std::future_status::ready; ++i) {
    pub.send(zmq::str_buffer("events.e1"), zmq::send_flags::sndmore);
    pub.send(zmq::buffer(b.data(), b.size()));
  }
  REQUIRE(future.wait_for(1s) == std::future_status::ready);
  CHECK(future.get() == "events.e1:v");
}

TEST_CASE("a subscription says whether it is connected to its publisher, and reports each change") {
  auto endpoint = tcp_endpoint();
  bus_client client;
  std::atomic<int> ups{0}, downs{0};
  client.subscribe(
      endpoint, {"events"},
      {.on_message = [](auto&, auto&) {}, .on_connection = [&](bool up) { ++(up ? ups : downs); }});
  client.subscribe("inproc://no-handshake-needed", {"events"}, {.on_message = [](auto&, auto&) {}});
  REQUIRE(client.start().ok());
  auto subscribed = [&] { return client.subscribed(endpoint); };
  // Nothing listens yet: not connected, however long it tries.
  std::this_thread::sleep_for(200ms);
  CHECK(!subscribed());
  CHECK(ups == 0);
  CHECK(client.subscribed("inproc://no-handshake-needed"));
  CHECK(!client.subscribed("tcp://127.0.0.1:1"));  // never subscribed to
  // A publisher, then (it goes away) another on the same endpoint: each connection is
  // reported as it comes and goes.
  for (int publisher = 1; publisher <= 2; ++publisher) {
    {
      zmq::socket_t pub(bus_context(), zmq::socket_type::pub);
      pub.set(zmq::sockopt::linger, 0);
      pub.bind(endpoint);
      CHECK(test::wait_until(subscribed));
      CHECK(ups == publisher);
    }
    CHECK(test::wait_until([&] { return !subscribed(); }));
    CHECK(downs == publisher);
  }
  client.stop();
  CHECK(!client.subscribed("inproc://no-handshake-needed"));
}

namespace {

// A streaming service: "count" answers {n} parts {i} and a final {done: n}, each part
// sent from a separate message to itself, so the actor may hop between scheduler threads
// between parts; "slow" sends a part every `gap_ms` for `n` parts; "stall" sends one
// part and then holds the job until it sees it cancelled (polling every 10 ms).
struct stream_step {
  bus_job job;
  std::int64_t next = 0, total = 0, gap_ms = 0;
  bool until_cancelled = false;
};

}  // namespace

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(stream_step)

namespace {

msgpack_value n_body(const char* key, std::int64_t n) {
  return pack_value([&](msgpack_packer& p) {
    p.pack_map(1);
    pack_string(p, key);
    p.pack_int64(n);
  });
}

caf::actor streamer(caf::actor_system& system, std::shared_ptr<std::atomic<int>> saw_cancel) {
  return system.spawn(
      [](caf::event_based_actor* self, std::shared_ptr<std::atomic<int>> cancels) -> caf::behavior {
        return {
            [self](const bus_job& job) {
              mark_started(job);
              stream_step step{job, 0, int_field(job.req.body.object, "n").value_or(0), 0, false};
              if (job.req.op == "slow") step.gap_ms = 60;
              if (job.req.op == "stall") step.until_cancelled = true;
              self->send(self, std::move(step));
            },
            [self, cancels](stream_step& step) {
              if (step.until_cancelled) {
                if (step.next == 0) respond_part_ok(step.job, n_body("i", 0));
                step.next = 1;
                if (cancelled(step.job)) {
                  ++*cancels;
                  return;  // dropping the job: its final 500 goes nowhere (cancelled)
                }
                self->delayed_send(self, std::chrono::milliseconds(10), std::move(step));
                return;
              }
              if (step.next == step.total) {
                respond_ok(step.job, n_body("done", step.total));
                return;
              }
              respond_part_ok(step.job, n_body("i", step.next));
              ++step.next;
              if (step.gap_ms > 0)
                self->delayed_send(self, std::chrono::milliseconds(step.gap_ms), std::move(step));
              else
                self->send(self, std::move(step));
            },
        };
      },
      std::move(saw_cancel));
}

struct stream_result {
  std::vector<reply> parts;  // read only after `ended` or through `count`
  std::atomic<int> count{0};
  std::promise<void> ended;
};

std::shared_ptr<stream_result> collect(bus_client& client, request r,
                                       std::uint64_t* id_out = nullptr) {
  auto out = std::make_shared<stream_result>();
  auto id = client.call_stream("svc", std::move(r), [out](reply part) {
    bool last = !part.more;
    out->parts.push_back(std::move(part));
    ++out->count;
    if (last) out->ended.set_value();
  });
  if (id_out) *id_out = id;
  return out;
}

}  // namespace

TEST_CASE("a streamed reply arrives part by part, in order, over inproc and tcp") {
  bus_fixture f;
  for (const std::string& endpoint : {unique_inproc_endpoint("bus-test"), tcp_endpoint()}) {
    CAPTURE(endpoint);
    metrics m("bus-test");
    bus_server server(endpoint, m);
    auto actor = streamer(f.system, std::make_shared<std::atomic<int>>(0));
    server.route("count", actor);
    server.route("echo", f.echo_workers());
    REQUIRE(server.start().ok());
    bus_client client;
    client.add_service("svc", {endpoint});
    REQUIRE(client.start().ok());
    REQUIRE(test::wait_until([&] { return client.connected("svc"); }));

    auto got = collect(client, make_request("count", 500));
    REQUIRE(got->ended.get_future().wait_for(10s) == std::future_status::ready);
    REQUIRE(got->parts.size() == 501);
    for (std::int64_t i = 0; i < 500; ++i) {
      CHECK(got->parts[static_cast<std::size_t>(i)].more);
      CHECK(int_field(got->parts[static_cast<std::size_t>(i)].body.object, "i") == i);
    }
    CHECK(!got->parts.back().more);
    CHECK(int_field(got->parts.back().body.object, "done") == 500);

    // A one-reply op through call_stream is one part; call() still works beside it.
    auto single = collect(client, make_request("echo", 7));
    REQUIRE(single->ended.get_future().wait_for(5s) == std::future_status::ready);
    REQUIRE(single->parts.size() == 1);
    CHECK(int_field(single->parts[0].body.object, "n") == 7);
    CHECK(call_sync(client, "svc", make_request("echo", 8)).status == 200);

    auto text = m.render();
    CHECK(text.find(R"(suite_inflight_requests{service="bus-test"} 0)") != std::string::npos);
    CHECK(text.find(R"(suite_bus_queue_depth{service="bus-test"} 0)") != std::string::npos);
  }
}

TEST_CASE("a stream's deadline covers each gap between parts, not the whole stream") {
  bus_fixture f;
  auto endpoint = tcp_endpoint();
  metrics m("bus-test");
  bus_server server(endpoint, m);
  auto cancels = std::make_shared<std::atomic<int>>(0);
  auto actor = streamer(f.system, cancels);
  server.route("slow", actor);
  server.route("stall", actor);
  REQUIRE(server.start().ok());
  bus_client client(bus_client::options{300ms, 50ms});
  client.add_service("svc", {endpoint});
  REQUIRE(client.start().ok());
  REQUIRE(test::wait_until([&] { return client.connected("svc"); }));

  // 10 parts 60 ms apart: 600 ms in all, twice the 300 ms allowance, yet never a gap of it.
  auto slow = collect(client, make_request("slow", 10));
  REQUIRE(slow->ended.get_future().wait_for(10s) == std::future_status::ready);
  REQUIRE(slow->parts.size() == 11);
  CHECK(slow->parts.back().status == 200);

  // One part, then silence: the stream ends with a 504 error part.
  auto stalled = collect(client, make_request("stall"));
  REQUIRE(stalled->ended.get_future().wait_for(10s) == std::future_status::ready);
  REQUIRE(stalled->parts.size() == 2);
  CHECK(stalled->parts[0].more);
  CHECK(stalled->parts[1].status == 504);
  CHECK(!stalled->parts[1].more);
}

TEST_CASE("cancel tells the service to stop and ends the caller's stream quietly") {
  bus_fixture f;
  for (const std::string& endpoint : {unique_inproc_endpoint("bus-test"), tcp_endpoint()}) {
    CAPTURE(endpoint);
    metrics m("bus-test");
    bus_server server(endpoint, m);
    auto cancels = std::make_shared<std::atomic<int>>(0);
    server.route("stall", streamer(f.system, cancels));
    REQUIRE(server.start().ok());
    bus_client client(bus_client::options{10s, 50ms});
    client.add_service("svc", {endpoint});
    REQUIRE(client.start().ok());
    REQUIRE(test::wait_until([&] { return client.connected("svc"); }));

    std::uint64_t id = 0;
    auto got = collect(client, make_request("stall"), &id);
    REQUIRE(test::wait_until([&] { return got->count == 1; }));
    CHECK(*cancels == 0);
    client.cancel(id);
    REQUIRE(test::wait_until([&] { return *cancels == 1; }));
    CHECK(client.in_flight() == 0);
    std::this_thread::sleep_for(50ms);
    CHECK(got->count == 1);  // nothing after the cancel, not even the dropped job's 500
  }
}

TEST_CASE("a connection lost mid-stream ends the stream with a 503 part") {
  bus_fixture f;
  auto endpoint = tcp_endpoint();
  bus_client client(bus_client::options{10s, 20ms});
  client.add_service("svc", {endpoint});
  REQUIRE(client.start().ok());
  metrics m("bus-test");
  auto server = std::make_unique<bus_server>(endpoint, m);
  server->route("stall", streamer(f.system, std::make_shared<std::atomic<int>>(0)));
  REQUIRE(server->start().ok());
  REQUIRE(test::wait_until([&] { return client.connected("svc"); }));
  auto got = collect(client, make_request("stall"));
  REQUIRE(test::wait_until([&] { return got->count == 1; }));
  server.reset();
  REQUIRE(got->ended.get_future().wait_for(5s) == std::future_status::ready);
  REQUIRE(got->parts.size() == 2);
  CHECK(got->parts[0].more);
  CHECK(got->parts[1].status == 503);
}

TEST_CASE("parts sent from several threads in turn arrive in the order they were sent") {
  bus_fixture f;
  auto endpoint = unique_inproc_endpoint("bus-test");
  metrics m("bus-test");
  bus_server server(endpoint, m);
  auto held = std::make_shared<std::vector<bus_job>>();
  server.route("hold", f.holder(held));
  REQUIRE(server.start().ok());
  bus_client client;
  client.add_service("svc", {endpoint});
  REQUIRE(client.start().ok());
  auto got = collect(client, make_request("hold"));
  REQUIRE(test::wait_until([&] { return held->size() == 1; }));
  bus_job job = held->front();
  // Four long-lived threads take turns in a shuffled order, each part leaving through
  // another thread's socket to the bridge, while a flood of junk frames keeps the bridge
  // busy, so parts queue up in several sockets at once and could overtake each other.
  constexpr int parts = 2000, threads = 4;
  std::vector<int> sender_of(parts);
  std::uint32_t lcg = 12345;
  for (auto& s : sender_of)
    s = static_cast<int>((lcg = lcg * 1103515245u + 12345u) >> 16) % threads;
  std::atomic<bool> flooding{true};
  std::thread flood([&] {
    zmq::socket_t raw(bus_context(), zmq::socket_type::dealer);
    raw.set(zmq::sockopt::linger, 0);
    raw.connect(endpoint);
    while (flooding) (void)raw.send(zmq::str_buffer("junk"), zmq::send_flags::dontwait);
  });
  std::atomic<int> turn{0};
  std::vector<std::thread> senders;
  for (int t = 0; t < threads; ++t) {
    senders.emplace_back([&, t] {
      for (int i = 0; i < parts; ++i) {
        if (sender_of[static_cast<std::size_t>(i)] != t) continue;
        while (turn.load() != i) std::this_thread::yield();
        respond_part_ok(job, n_body("i", i));
        turn.store(i + 1);
      }
    });
  }
  for (auto& s : senders) s.join();
  flooding = false;
  flood.join();
  respond_ok(job, n_body("done", parts));
  REQUIRE(got->ended.get_future().wait_for(10s) == std::future_status::ready);
  REQUIRE(got->parts.size() == parts + 1);
  int out_of_order = 0;
  for (int i = 0; i < parts; ++i)
    out_of_order += int_field(got->parts[static_cast<std::size_t>(i)].body.object, "i") != i;
  CHECK(out_of_order == 0);
}

TEST_CASE("work found past its deadline when a worker picks it up is dropped, 504, and counted") {
  bus_fixture f;
  auto endpoint = tcp_endpoint();
  metrics m("bus-test");
  bus_server server(endpoint, m);
  sync_handlers handlers;
  std::atomic<int> served{0};
  handlers["slow"] = [](const request& r) {
    std::this_thread::sleep_for(300ms);
    return ok_reply(r.id, r.body);
  };
  handlers["echo"] = [&served](const request& r) {
    ++served;
    return ok_reply(r.id, r.body);
  };
  // One worker for both ops, so "echo" waits in its mailbox behind "slow".
  auto one_worker = spawn_sync_workers(f.system, 1, handlers);
  server.route("slow", one_worker);
  server.route("echo", one_worker);
  REQUIRE(server.start().ok());

  zmq::socket_t raw(bus_context(), zmq::socket_type::dealer);
  raw.set(zmq::sockopt::linger, 0);
  raw.set(zmq::sockopt::rcvtimeo, 5000);
  raw.connect(endpoint);
  auto send = [&](const std::string& op, std::uint64_t id, std::int64_t deadline_ms) {
    request r = make_request(op);
    r.id = id;
    r.deadline_ms = deadline_ms;
    msgpack::sbuffer frame;
    encode(r, frame);
    REQUIRE(raw.send(zmq::buffer(frame.data(), frame.size()), zmq::send_flags::none));
  };
  double dropped_before = m.deadline_dropped().Value();
  send("slow", 1, 0);
  send("echo", 2, unix_ms_now() + 100);  // expires while "slow" holds the only worker
  std::map<std::uint64_t, reply> replies;
  for (int i = 0; i < 2; ++i) {
    zmq::message_t answer;
    REQUIRE(raw.recv(answer));
    auto r = decode_reply(answer.data<char>(), answer.size());
    REQUIRE(r.ok());
    replies[r->id] = *r;
  }
  CHECK(replies[1].status == 200);
  CHECK(replies[2].status == 504);
  REQUIRE(replies[2].error);
  CHECK(replies[2].error->code == "deadline_exceeded");
  CHECK(served.load() == 0);  // the expired request never ran
  CHECK(m.deadline_dropped().Value() == dropped_before + 1);

  send("echo", 3, unix_ms_now() - 1000);  // already late on arrival: dropped by the bridge
  zmq::message_t answer;
  REQUIRE(raw.recv(answer));
  CHECK(decode_reply(answer.data<char>(), answer.size())->status == 504);
  CHECK(m.deadline_dropped().Value() == dropped_before + 2);
  CHECK(m.render().find("suite_deadline_dropped_total{service=\"bus-test\"}") != std::string::npos);
}

// Calls `slow_op` (a handler that blocks for a while), then, once it is running,
// `echoes` echo calls; gives the names of the replies in the order they arrived
// (slow_op, "echo", or "error" for an echo that failed).
std::vector<std::string> reply_order(bus_client& client, const std::string& slow_op, int echoes) {
  std::mutex mutex;
  std::vector<std::string> order;
  std::promise<void> all_done;
  auto note = [&](std::string what) {
    std::lock_guard lock(mutex);
    order.push_back(std::move(what));
    if (order.size() == static_cast<std::size_t>(echoes) + 1) all_done.set_value();
  };
  client.call("svc", make_request(slow_op), [&, slow_op](reply) { note(slow_op); });
  std::this_thread::sleep_for(50ms);  // slow_op is running
  for (int i = 0; i < echoes; ++i) {
    client.call("svc", make_request("echo", i),
                [&](reply r) { note(r.status == 200 ? "echo" : "error"); });
  }
  REQUIRE(all_done.get_future().wait_for(5s) == std::future_status::ready);
  std::lock_guard lock(mutex);
  return order;
}

TEST_CASE("a worker pool never queues a job behind a slow one while another worker is free") {
  bus_fixture f;
  auto endpoint = tcp_endpoint();
  metrics m("bus-test");
  bus_server server(endpoint, m);
  sync_handlers handlers;
  handlers["slow"] = [](const request& r) {
    std::this_thread::sleep_for(500ms);
    return ok_reply(r.id, r.body);
  };
  handlers["echo"] = [](const request& r) { return ok_reply(r.id, r.body); };
  auto where = worker_threads::scheduled;
  SUBCASE("on the scheduler's threads") {}
  SUBCASE("on threads of their own") { where = worker_threads::own; }
  auto workers = spawn_sync_workers(f.system, 2, handlers, where);
  server.route("slow", workers);
  server.route("echo", workers);
  REQUIRE(server.start().ok());

  bus_client client;
  client.add_service("svc", {endpoint});
  REQUIRE(client.start().ok());
  REQUIRE(test::wait_until([&] { return client.connected("svc"); }));

  // The order replies arrive in: "slow" holds one worker for 500 ms; every echo sent
  // after it must be answered by the other worker, before "slow" ends. (Round robin
  // queued every second echo behind "slow"; counting each worker's jobs, half of them.)
  const int echoes = 10;
  auto order = reply_order(client, "slow", echoes);
  CHECK(order.back() == "slow");
  CHECK(std::count(order.begin(), order.end(), "echo") == echoes);
  client.stop();
  server.stop();
}

TEST_CASE("workers on threads of their own never hold the scheduler while they block") {
  // One scheduler thread: a blocking handler run on it would stall every other actor.
  class one_thread : public caf::actor_system_config {
   public:
    one_thread() { set("scheduler.max-threads", 1); }
  } config;
  caf::actor_system system{config};
  auto endpoint = tcp_endpoint();
  metrics m("bus-test");
  bus_server server(endpoint, m);
  sync_handlers blocking;
  blocking["block"] = [](const request& r) {
    std::this_thread::sleep_for(500ms);
    return ok_reply(r.id, r.body);
  };
  sync_handlers quick;
  quick["echo"] = [](const request& r) { return ok_reply(r.id, r.body); };
  auto own = spawn_sync_workers(system, 1, blocking, worker_threads::own);
  auto scheduled = spawn_sync_workers(system, 1, quick, worker_threads::scheduled);
  server.route("block", own);
  server.route("echo", scheduled);
  REQUIRE(server.start().ok());

  bus_client client;
  client.add_service("svc", {endpoint});
  REQUIRE(client.start().ok());
  REQUIRE(test::wait_until([&] { return client.connected("svc"); }));
  auto order = reply_order(client, "block", 1);
  CHECK(order == std::vector<std::string>{"echo", "block"});
  client.stop();
  server.stop();
}

TEST_CASE("a client run on the caller's io_context sends and answers on that thread") {
  bus_fixture f;
  for (const std::string& endpoint : {unique_inproc_endpoint("bus-test"), tcp_endpoint()}) {
    CAPTURE(endpoint);
    metrics m("bus-test");
    bus_server server(endpoint, m);
    server.route("echo", f.echo_workers());
    server.route("slow", f.holder(std::make_shared<std::vector<bus_job>>()));
    REQUIRE(server.start().ok());

    boost::asio::io_context context(1);
    bus_client client(bus_client::options{200ms, 50ms}, context);
    client.add_service("svc", {endpoint});
    client.add_service("down", {tcp_endpoint()});  // nothing listens there
    REQUIRE(client.start().ok());
    while (!client.connected("svc")) context.run_for(5ms);

    // Each call is made on the context's thread; every callback must run there too, and
    // never inside call() itself.
    const auto io_thread = std::this_thread::get_id();
    std::map<std::string, int> statuses;
    std::set<std::int64_t> echoed;
    bool inside_call = false;
    bool ran_inside_call = false;
    bool off_thread = false;
    auto on = [&](std::string what) {
      return [&, what](reply r) {
        if (inside_call) ran_inside_call = true;
        if (std::this_thread::get_id() != io_thread) off_thread = true;
        if (what == "echo") {
          if (r.status == 200) echoed.insert(int_field(r.body.object, "n").value_or(-1));
        } else {
          statuses[what] = r.status;
        }
      };
    };
    boost::asio::post(context, [&] {
      inside_call = true;
      for (int i = 0; i < 50; ++i) client.call("svc", make_request("echo", i), on("echo"));
      client.call("down", make_request("echo"), on("down"));
      client.call("nowhere", make_request("echo"), on("nowhere"));
      client.call("svc", make_request("slow"), on("slow"));
      inside_call = false;
    });
    auto until = std::chrono::steady_clock::now() + 5s;
    while (statuses.size() < 3 || echoed.size() < 50) {
      INFO("echoed ", echoed.size(), ", other replies ", statuses.size());
      REQUIRE(std::chrono::steady_clock::now() < until);
      context.run_for(5ms);
    }
    CHECK(echoed.size() == 50);  // each with its own reply
    CHECK(statuses["down"] == 503);
    CHECK(statuses["nowhere"] == 404);
    CHECK(statuses["slow"] == 504);  // the 200 ms deadline, kept by the context's timer
    CHECK_FALSE(off_thread);
    CHECK_FALSE(ran_inside_call);
    CHECK(client.in_flight() == 0);
    client.stop();
  }
}

TEST_CASE("a subscription drops what is published while it is not wanted") {
  auto endpoint = tcp_endpoint();
  zmq::socket_t pub(bus_context(), zmq::socket_type::pub);
  pub.set(zmq::sockopt::linger, 0);
  pub.bind(endpoint);
  std::atomic<bool> wanted{false};
  std::atomic<int> asked{0};
  std::mutex mutex;
  std::vector<std::string> received;
  bus_client client;
  client.subscribe(endpoint, {"events"},
                   {.on_message =
                        [&](const std::string&, const msgpack_value& v) {
                          std::lock_guard lock(mutex);
                          received.emplace_back(string_field(v.object, "k").value_or(""));
                        },
                    .wanted =
                        [&] {
                          ++asked;
                          return wanted.load();
                        }});
  REQUIRE(client.start().ok());
  auto publish = [&](const char* k) {
    auto payload = pack_value([&](msgpack_packer& p) {
      p.pack_map(1);
      pack_string(p, "k");
      pack_string(p, k);
    });
    msgpack::sbuffer b;
    msgpack_packer(b).pack(payload.object);
    pub.send(zmq::str_buffer("events.e1"), zmq::send_flags::sndmore);
    pub.send(zmq::buffer(b.data(), b.size()));
  };
  // Unwanted: published until the subscription is seen asking, and none delivered.
  for (int i = 0; i < 200 && asked.load() == 0; ++i) {
    publish("early");
    std::this_thread::sleep_for(10ms);
  }
  REQUIRE(asked.load() > 0);
  std::this_thread::sleep_for(100ms);  // the last "early" ones reach the client, unwanted
  wanted = true;
  auto delivered = [&] {
    std::lock_guard lock(mutex);
    return !received.empty();
  };
  for (int i = 0; i < 200 && !delivered(); ++i) {
    publish("late");
    std::this_thread::sleep_for(10ms);
  }
  std::lock_guard lock(mutex);
  REQUIRE(!received.empty());
  for (const auto& k : received) CHECK(k == "late");
}
