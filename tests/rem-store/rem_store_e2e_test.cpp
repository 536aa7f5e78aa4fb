// rem-store end to end: the real rem-store binary behind the real gateway, over real
// HTTP and a real RocksDB directory. Schemas, upsert by key, validation, lookup, soft
// delete, edges and traverse, SELECT with its plan, SEARCH, parser errors with
// positions; tenant isolation through envelopes carrying different tenants (sent on the
// bus, as the gateway will once auth lands), and crash-and-restart: SIGKILL after
// acknowledged writes loses nothing and the HNSW graph is rebuilt; a clean stop lets
// the next start load it.
#include <doctest/doctest.h>

#include <filesystem>
#include <future>
#include <random>

#include "http_client.hpp"
#include "suite/bus_client.hpp"
#include "suite/json_msgpack.hpp"
#include "test_credentials.hpp"
#include "test_process.hpp"

using namespace suite::test;
using namespace std::chrono_literals;

namespace {

struct suite_under_test {
  std::filesystem::path data =
      std::filesystem::temp_directory_path() /
      ("rem-e2e-" + std::to_string(std::random_device{}()) + std::to_string(::getpid()));
  int bus_port = free_port();
  int http_port = free_port();
  std::unique_ptr<test_process> rem;
  std::unique_ptr<test_process> gateway;

  suite_under_test() {
    start_rem();
    auto tcp = [](int port) { return "tcp://127.0.0.1:" + std::to_string(port); };
    gateway = std::make_unique<test_process>(
        bin_dir() + "/gateway",
        with_gateway_auth({"--http=127.0.0.1:" + std::to_string(http_port),
                           "--metrics=127.0.0.1:" + std::to_string(free_port()), "--threads=1",
                           "--backend-rem-store=" + tcp(bus_port),
                           "--backend-clinic-records=" + tcp(free_port()),
                           "--backend-chat-cache=" + tcp(free_port()),
                           "--backend-event-ingest=" + tcp(free_port()), "--sub-event-ingest="}));
    gateway->start();
    REQUIRE(wait_until(
        [&] { return http_once(http_port, "GET", "/api/sys/rem-store/health").status == 200; }));
  }
  ~suite_under_test() {
    gateway.reset();
    rem.reset();
    std::error_code ignored;
    std::filesystem::remove_all(data, ignored);
  }

  void start_rem() {
    rem = std::make_unique<test_process>(
        bin_dir() + "/rem-store",
        std::vector<std::string>{"--bus=tcp://127.0.0.1:" + std::to_string(bus_port),
                                 "--metrics=127.0.0.1:" + std::to_string(free_port()),
                                 "--data-dir=" + data.string(), "--workers=2"});
    rem->start();
  }
  void wait_ready() {
    REQUIRE(wait_until(
        [&] { return http_once(http_port, "GET", "/api/sys/rem-store/health").status == 200; },
        20s));
  }

  http_response call(const std::string& method, const std::string& target,
                     const std::string& body = {}) {
    return http_once(http_port, method, target, body);
  }
  http_response query(const std::string& text) {
    std::string body;
    suite::msgpack_to_json(suite::pack_value([&](suite::msgpack_packer& p) {
                             p.pack_map(1);
                             suite::pack_string(p, "query");
                             suite::pack_string(p, text);
                           }).object,
                           body);
    return call("POST", "/api/rem/query", body);
  }
};

const std::string person_schema =
    R"({"name":"person","key_field":"handle","indexed_fields":["city"],"embedding_fields":["bio"],
        "schema":{"type":"object","required":["handle"],
                  "properties":{"handle":{"type":"string"},"age":{"type":"integer"},"bio":{"type":"string"}}}})";

std::string id_in(const std::string& body) {
  auto at = body.find("\"id\":\"");
  return at == std::string::npos ? "" : body.substr(at + 6, 16);
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("records, edges and queries through the gateway") {
  suite_under_test s;
  CHECK(s.call("POST", "/api/rem/schemas", person_schema).status == 201);
  CHECK(s.call("POST", "/api/rem/schemas", person_schema).status == 200);
  CHECK(s.call("POST", "/api/rem/schemas", R"({"name":"bad name","key_field":"k","schema":{}})")
            .status == 400);
  CHECK(contains(s.call("GET", "/api/rem/schemas/person").body, "\"key_field\":\"handle\""));
  CHECK(s.call("GET", "/api/rem/schemas/ghost").status == 404);

  auto ann =
      s.call("POST", "/api/rem/types/person/records",
             R"({"record":{"handle":"ann","age":31,"city":"oslo","bio":"writes rust databases"}})");
  CHECK(ann.status == 201);
  auto ann_id = id_in(ann.body);
  auto again = s.call("POST", "/api/rem/types/person/records",
                      R"({"record":{"handle":"ann","age":32,"city":"oslo"}})");
  CHECK(again.status == 200);
  CHECK(id_in(again.body) == ann_id);
  auto bad =
      s.call("POST", "/api/rem/types/person/records", R"({"record":{"handle":"x","age":"old"}})");
  CHECK(bad.status == 400);
  CHECK(contains(bad.body, "record.age"));
  CHECK(s.call("POST", "/api/rem/types/person/records",
               R"({"record":{"handle":"x"},"tenant":"other"})")
            .status == 400);
  auto batch = s.call(
      "POST", "/api/rem/types/person/records/batch",
      R"({"records":[{"handle":"bob","city":"lima","bio":"paints"},{"handle":"cy","city":"oslo","bio":"rust and go"}]})");
  CHECK(batch.status == 201);
  CHECK(contains(batch.body, "\"count\":2"));

  auto by_key = s.call("GET", "/api/rem/types/person/keys/ann");
  CHECK(by_key.status == 200);
  CHECK(contains(by_key.body, "\"age\":32"));
  CHECK(s.call("GET", "/api/rem/records/" + ann_id).status == 200);

  auto bob_id = id_in(s.call("GET", "/api/rem/types/person/keys/bob").body);
  auto cy_id = id_in(s.call("GET", "/api/rem/types/person/keys/cy").body);
  CHECK(s.call("POST", "/api/rem/edges",
               R"({"from":")" + ann_id + R"(","to":")" + bob_id + R"(","rel":"knows"})")
            .status == 201);
  CHECK(s.call("POST", "/api/rem/edges",
               R"({"from":")" + bob_id + R"(","to":")" + cy_id + R"(","rel":"knows"})")
            .status == 201);
  CHECK(s.call("POST", "/api/rem/edges",
               R"({"from":")" + ann_id + R"(","to":"0000000000000000","rel":"knows"})")
            .status == 404);
  auto walk = s.call("GET", "/api/rem/records/" + ann_id + "/traverse?depth=2&direction=out");
  CHECK(walk.status == 200);
  CHECK(contains(walk.body, "\"count\":2"));
  CHECK(contains(s.query("TRAVERSE FROM '" + cy_id + "' DEPTH 2 DIRECTION in TYPE 'knows'").body,
                 "\"count\":2"));

  auto oslo = s.query("SELECT handle FROM person WHERE city = 'oslo' ORDER BY handle");
  CHECK(oslo.status == 200);
  CHECK(contains(oslo.body, R"("results":[{"handle":"ann"},{"handle":"cy"}])"));
  CHECK(contains(oslo.body, R"("plan":"index_eq on city")"));
  CHECK(contains(oslo.body, R"("query_type":"select")"));
  CHECK(contains(oslo.body, "execution_time_ms"));
  CHECK(contains(s.query("SELECT city, COUNT(*) AS n FROM person GROUP BY city ORDER BY city").body,
                 R"([{"city":"lima","n":1},{"city":"oslo","n":2}])"));
  CHECK(contains(s.query("LOOKUP 'bob', 'nobody'").body, "\"count\":1"));
  auto found = s.query("SEARCH 'rust' IN person LIMIT 1");
  CHECK(found.status == 200);
  CHECK(contains(found.body, "\"key\":\"cy\""));
  auto syntax = s.query("SELECT * FROM person WHERE city == 'x'");
  CHECK(syntax.status == 400);
  CHECK(contains(syntax.body, "position 33"));  // the second =

  CHECK(s.call("DELETE", "/api/rem/records/" + bob_id).status == 200);
  CHECK(s.call("DELETE", "/api/rem/records/" + bob_id).status == 404);
  CHECK(s.call("GET", "/api/rem/records/" + bob_id).status == 404);
  CHECK(contains(s.query("SELECT * FROM person").body, "\"count\":2"));
}

TEST_CASE("the envelope's tenant isolates records, whatever the query says") {
  suite_under_test s;
  suite::bus_client client;
  client.add_service("rem-store", {"tcp://127.0.0.1:" + std::to_string(s.bus_port)});
  REQUIRE(client.start().ok());
  auto call = [&](const std::string& tenant, const std::string& op, const std::string& json_body) {
    suite::request r;
    r.op = op;
    r.tenant = tenant;
    r.principal = "tester";
    r.body = suite::json_to_msgpack(json_body, nullptr).value();
    std::promise<suite::reply> done;
    auto future = done.get_future();
    client.call("rem-store", std::move(r),
                [&done](suite::reply x) { done.set_value(std::move(x)); });
    auto reply = future.get();
    std::string out;
    if (reply.error)
      out = reply.error->code + ": " + reply.error->message;
    else
      suite::msgpack_to_json(reply.body.object, out);
    return std::make_pair(reply.status, out);
  };
  REQUIRE(wait_until([&] { return client.connected("rem-store"); }));
  CHECK(call("alpha", "rem.schemas.register", person_schema).first == 201);
  CHECK(call("beta", "rem.schemas.register", person_schema).first == 201);
  auto secret =
      call("alpha", "rem.records.upsert",
           R"({"type":"person","record":{"handle":"ann","city":"oslo","bio":"alpha secret"}})");
  REQUIRE(secret.first == 201);
  auto alpha_id = id_in(secret.second);
  CHECK(call("beta", "rem.records.upsert",
             R"({"type":"person","record":{"handle":"ann","city":"lima","bio":"beta"}})")
            .first == 201);

  CHECK(call("beta", "rem.records.get", R"({"id":")" + alpha_id + "\"}").first == 404);
  CHECK(call("beta", "rem.records.delete", R"({"id":")" + alpha_id + "\"}").first == 404);
  auto beta_select =
      call("beta", "rem.query",
           R"({"query":"SELECT * FROM person WHERE city = 'oslo' OR city = 'lima'"})");
  CHECK(contains(beta_select.second, "\"count\":1"));
  const std::string alpha_marker = R"("bio":"alpha secret")";
  CHECK(!contains(beta_select.second, alpha_marker));
  auto beta_search =
      call("beta", "rem.query", R"({"query":"SEARCH 'alpha secret' IN person LIMIT 10"})").second;
  CHECK(contains(beta_search, "\"count\":1"));
  CHECK(!contains(beta_search, alpha_marker));
  CHECK(!contains(call("beta", "rem.query", R"({"query":"LOOKUP 'ann'"})").second, alpha_marker));
  // A "tenant" inside the body is not the tenant: the envelope's wins.
  auto spoof = call("beta", "rem.records.get", R"({"id":")" + alpha_id + R"(","tenant":"alpha"})");
  CHECK(spoof.first == 404);
  CHECK(call("gamma", "rem.query", R"({"query":"SELECT * FROM person"})").first == 404);
  CHECK(call("alpha", "rem.records.get", R"({"id":")" + alpha_id + "\"}").first == 200);
  client.stop();
}

TEST_CASE(
    "SIGKILL after acknowledged writes loses nothing; the HNSW graph is rebuilt, then loaded after "
    "a clean stop") {
  suite_under_test s;
  REQUIRE(s.call("POST", "/api/rem/schemas", person_schema).status == 201);
  for (int i = 0; i < 40; ++i) {
    auto r = s.call("POST", "/api/rem/types/person/records",
                    R"({"record":{"handle":"h)" + std::to_string(i) + R"(","city":"c)" +
                        std::to_string(i % 4) + R"(","bio":"topic)" + std::to_string(i % 5) +
                        R"( words"}})");
    REQUIRE(r.status == 201);
  }
  auto before = s.query("SEARCH 'topic3 words' IN person LIMIT 5").body;
  s.rem->kill_hard();
  s.start_rem();
  s.wait_ready();
  CHECK(contains(s.query("SELECT COUNT(*) FROM person").body, R"j([{"count(*)":40}])j"));
  CHECK(contains(s.query("SELECT COUNT(*) FROM person WHERE city = 'c2'").body,
                 R"j([{"count(*)":10}])j"));
  CHECK(s.call("GET", "/api/rem/types/person/keys/h39").status == 200);
  CHECK(contains(s.rem->log(), "rebuilt (40 vectors)"));
  auto after = s.query("SEARCH 'topic3 words' IN person LIMIT 5");
  CHECK(after.status == 200);
  CHECK(contains(after.body, "\"count\":5"));
  CHECK(contains(after.body, "topic3"));

  CHECK(s.rem->stop() == 0);
  s.start_rem();
  s.wait_ready();
  CHECK(contains(s.rem->log(), "loaded (40 vectors)"));
  CHECK(contains(s.query("SEARCH 'topic3 words' IN person LIMIT 5").body, "\"count\":5"));
}
