#include <doctest/doctest.h>

#include <algorithm>

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
    CHECK_MESSAGE(!op.roles.empty(), op.op);
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
  // An SSE op's resume_op and mark_op name a call op of the same service.
  for (std::string field : {"resume_op", "mark_op"}) {
    CAPTURE(field);
    auto sse_naming = [&](const std::string& target, const std::string& kind) {
      return R"({"services":["s"],"ops":[{"op":"a","service":"s","method":"GET","route":"/a",)" +
             kind + R"("topic":"t",")" + field + R"(":")" + target +
             R"("},{"op":"r","service":"s","method":"POST","route":"/r"}]})";
    };
    auto named = load(sse_naming("r", R"("kind":"sse",)"));
    REQUIRE(named.ok());
    const auto* spec = named->find("a");
    CHECK((field == "resume_op" ? spec->resume_op : spec->mark_op) == "r");
    auto unknown = load(sse_naming("zz", R"("kind":"sse",)"));
    REQUIRE(!unknown.ok());
    CHECK(unknown.error().message.find(field + " 'zz'") != std::string::npos);
    CHECK(!load(sse_naming("r", "")).ok());  // on a call op
  }
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

TEST_CASE("an op's role is a name or a list; an op without one is admin only") {
  auto load = [](const std::string& role_field) {
    static std::vector<std::string> keep;
    keep.push_back(
        R"({"services":["s"],"ops":[{"op":"a","service":"s","method":"GET","route":"/a")" +
        role_field + "}]}");
    return op_catalogue::load({{"ops.json", keep.back()}});
  };
  CHECK(load(R"(,"role":"any")")->ops()[0].roles == std::vector<std::string>{"any"});
  CHECK(load(R"(,"role":["clinician","billing"])")->ops()[0].roles ==
        std::vector<std::string>{"clinician", "billing"});
  CHECK(load("")->ops()[0].roles == std::vector<std::string>{"admin"});
  CHECK(!load(R"(,"role":[])").ok());
  CHECK(!load(R"(,"role":"")").ok());
  CHECK(!load(R"(,"role":[1])").ok());
}

TEST_CASE("the embedded catalogue uses only the documented role vocabulary") {
  // docs/security.md lists these; a new role must be added there and here.
  const std::vector<std::string> vocabulary{"public", "any",     "admin",    "clinician", "billing",
                                            "ingest", "monitor", "rem.read", "rem.write", "chat"};
  auto catalogue = op_catalogue::load(embedded_schema_files());
  REQUIRE(catalogue.ok());
  for (const auto& op : catalogue->ops()) {
    for (const auto& role : op.roles) {
      CHECK_MESSAGE(std::find(vocabulary.begin(), vocabulary.end(), role) != vocabulary.end(),
                    op.op << " has role " << role);
    }
  }
  auto roles_of = [&](const char* op) { return catalogue->find(op)->roles; };
  // Billing never reads clinical notes; clinicians do.
  auto visit_roles = roles_of("visits.get");
  CHECK(std::find(visit_roles.begin(), visit_roles.end(), "billing") == visit_roles.end());
  CHECK(std::find(visit_roles.begin(), visit_roles.end(), "clinician") != visit_roles.end());
  CHECK(roles_of("audit.list") == std::vector<std::string>{"admin"});
  CHECK(roles_of("chat.cache_clear") == std::vector<std::string>{"admin"});
  CHECK(roles_of("sys.info") == std::vector<std::string>{"admin"});
}
