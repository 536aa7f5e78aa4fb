#include <doctest/doctest.h>

#include "route_table.hpp"
#include "suite/embedded_schemas.hpp"

using namespace suite;
using namespace suite::gateway;

namespace {

op_catalogue test_catalogue() {
  static const std::string ops = R"({"services":["a","b"],"ops":[
    {"op":"sys.health","service":"*","method":"GET","route":"/api/sys/{service}/health"},
    {"op":"things.get","service":"a","method":"GET","route":"/api/things/{id}"},
    {"op":"things.search","service":"a","method":"GET","route":"/api/things/search"},
    {"op":"things.update","service":"a","method":"PUT","route":"/api/things/{id}"},
    {"op":"things.create","service":"a","method":"POST","route":"/api/things"},
    {"op":"links.get","service":"b","method":"GET","route":"/api/things/{id}/links/{link}"}
  ]})";
  return op_catalogue::load({{"ops.json", ops}}).value();
}

}  // namespace

TEST_CASE("routes come from the catalogue with path and query parameters") {
  auto catalogue = test_catalogue();
  route_table routes(catalogue);

  auto get = routes.match("GET", "/api/things/42?limit=5&q=a%20b+c");
  REQUIRE(get.ok());
  CHECK(get->op->op == "things.get");
  CHECK(get->service == "a");
  REQUIRE(get->params.size() == 3);
  CHECK(get->params[0].name == "id");
  CHECK(get->params[0].text == "42");
  CHECK(get->params[1].name == "limit");
  CHECK(get->params[2].text == "a b c");

  // A literal segment wins over a parameter.
  auto search = routes.match("GET", "/api/things/search");
  REQUIRE(search.ok());
  CHECK(search->op->op == "things.search");

  auto links = routes.match("GET", "/api/things/7/links/x%2Fy");
  REQUIRE(links.ok());
  CHECK(links->service == "b");
  CHECK(links->params[1].text == "x/y");

  // A query parameter cannot replace a path parameter.
  auto sneaky = routes.match("GET", "/api/things/1?id=2");
  REQUIRE(sneaky.ok());
  REQUIRE(sneaky->params.size() == 1);
  CHECK(sneaky->params[0].text == "1");
}

TEST_CASE("every-service routes pick the backend from {service}") {
  auto catalogue = test_catalogue();
  route_table routes(catalogue);
  auto b = routes.match("GET", "/api/sys/b/health");
  REQUIRE(b.ok());
  CHECK(b->service == "b");
  auto unknown = routes.match("GET", "/api/sys/zzz/health");
  REQUIRE(!unknown.ok());
  CHECK(unknown.error().status == 404);
}

TEST_CASE("404 for an unknown path, 405 with the allowed methods for a wrong one") {
  auto catalogue = test_catalogue();
  route_table routes(catalogue);
  CHECK(routes.match("GET", "/api/nothing").error().status == 404);
  CHECK(routes.match("GET", "/api/things/1/extra").error().status == 404);
  CHECK(routes.match("GET", "").error().status == 404);
  CHECK(routes.match("GET", "/api/things//").error().status == 404);
  std::string allowed;
  auto wrong = routes.match("DELETE", "/api/things/1", &allowed);
  REQUIRE(!wrong.ok());
  CHECK(wrong.error().status == 405);
  CHECK(allowed == "GET, PUT");
}

TEST_CASE("the embedded catalogue builds a routing table") {
  auto catalogue = op_catalogue::load(embedded_schema_files());
  REQUIRE(catalogue.ok());
  route_table routes(*catalogue);
  for (const auto& service : catalogue->services()) {
    auto m = routes.match("GET", "/api/sys/" + service + "/health");
    REQUIRE(m.ok());
    CHECK(m->service == service);
  }
}

TEST_CASE("url decoding") {
  CHECK(url_decode("a%20b", false) == "a b");
  CHECK(url_decode("a+b", true) == "a b");
  CHECK(url_decode("a+b", false) == "a+b");
  CHECK(url_decode("100%", false) == "100%");
  CHECK(url_decode("%zz", false) == "%zz");
}
