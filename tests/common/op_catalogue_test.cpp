#include <doctest/doctest.h>

#include "suite/op_catalogue.hpp"

using namespace suite;

TEST_CASE("the embedded catalogue loads and every op is complete") {
  auto catalogue = op_catalogue::load(embedded_schema_files());
  REQUIRE_MESSAGE(catalogue.ok(), (catalogue.ok() ? "" : catalogue.error().message));
  CHECK(catalogue->services().size() == 4);
  REQUIRE(catalogue->find("sys.health"));
  CHECK(catalogue->find("sys.health")->service == "*");
  for (const auto& op : catalogue->ops()) {
    CHECK_MESSAGE(!op.summary.empty(), op.op);
    CHECK_MESSAGE(!op.role.empty(), op.op);
  }
  CHECK(catalogue->ops_of("event-ingest").size() >= 2);
}

TEST_CASE("catalogue mistakes are errors naming the op") {
  auto load = [](std::string ops) {
    std::vector<embedded_file> files{{"ops.json", ops}, {"bodies/a.json", R"({"type":"object"})"}};
    static std::vector<std::string> keep;
    keep.push_back(std::move(ops));
    files[0].content = keep.back();
    return op_catalogue::load(files);
  };
  auto good =
      R"({"services":["s"],"ops":[{"op":"a.b","service":"s","method":"GET","route":"/a","request_schema":"bodies/a.json"}]})";
  CHECK(load(good).ok());
  auto dup =
      R"({"services":["s"],"ops":[{"op":"a.b","service":"s","method":"GET","route":"/a"},{"op":"a.b","service":"s","method":"GET","route":"/b"}]})";
  CHECK(load(dup).error().message.find("a.b") != std::string::npos);
  auto same_route =
      R"({"services":["s"],"ops":[{"op":"a","service":"s","method":"GET","route":"/a"},{"op":"b","service":"s","method":"GET","route":"/a"}]})";
  CHECK(!load(same_route).ok());
  auto missing_schema =
      R"({"services":["s"],"ops":[{"op":"a","service":"s","method":"GET","route":"/a","request_schema":"bodies/zz.json"}]})";
  CHECK(load(missing_schema).error().message.find("zz.json") != std::string::npos);
  auto unknown_service =
      R"({"services":["s"],"ops":[{"op":"a","service":"t","method":"GET","route":"/a"}]})";
  CHECK(!load(unknown_service).ok());
  auto bad_method =
      R"({"services":["s"],"ops":[{"op":"a","service":"s","method":"FETCH","route":"/a"}]})";
  CHECK(!load(bad_method).ok());
  auto sse_without_topic =
      R"({"services":["s"],"ops":[{"op":"a","service":"s","method":"GET","route":"/a","kind":"sse"}]})";
  CHECK(!load(sse_without_topic).ok());
  CHECK(!load("not json").ok());
}

TEST_CASE("a service's ops come from ops/<service>.json, checked like the rest") {
  std::string base =
      R"({"services":["s"],"ops":[{"op":"sys.x","service":"*","method":"GET","route":"/sys/{service}"}]})";
  std::string own = R"({"ops":[{"op":"s.get","service":"s","method":"GET","route":"/s/{id}"}]})";
  std::string clash = R"({"ops":[{"op":"sys.x","service":"s","method":"GET","route":"/other"}]})";
  auto ok = op_catalogue::load({{"ops.json", base}, {"ops/s.json", own}});
  REQUIRE(ok.ok());
  CHECK(ok->ops().size() == 2);
  CHECK(ok->find("s.get"));
  CHECK(!op_catalogue::load({{"ops.json", base}, {"ops/s.json", clash}}).ok());
  CHECK(!op_catalogue::load({{"ops.json", base}, {"ops/s.json", "{}"}}).ok());
}
