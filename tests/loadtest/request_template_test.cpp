#include "loadgen/request_template.hpp"

#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <map>
#include <string_view>

using loadgen::request_template;

namespace {

struct fixture {
  std::mt19937_64 rng{5};
  loadgen::value_pools pools;
  loadgen::render_context context{rng, pools, 1, 1};

  std::string render_json(std::string_view json) {
    rapidjson::Document doc;
    doc.Parse(json.data(), json.size());
    REQUIRE_FALSE(doc.HasParseError());
    request_template t;
    REQUIRE(request_template::compile_json(doc, pools, t).empty());
    std::string out;
    REQUIRE(t.render(context, out));
    return out;
  }
};

}  // namespace

TEST_CASE("a body template renders valid JSON with numbers unquoted") {
  fixture f;
  const std::string out =
      f.render_json(R"({"id":"${seq}","n":"${uniform:5:5}","name":"p-${seq}","t":"${text:12}",)"
                    R"("kind":"${choice:a|b}","u":"${uuid}","flag":true,"x":[1,null]})");
  rapidjson::Document doc;
  doc.Parse(out.data(), out.size());
  INFO(out);
  REQUIRE_FALSE(doc.HasParseError());
  CHECK(doc["id"].GetInt() == 1);
  CHECK(doc["n"].GetInt() == 5);
  CHECK(std::string(doc["name"].GetString()) == "p-2");
  CHECK(doc["t"].GetStringLength() == 12);
  CHECK(doc["u"].GetStringLength() == 36);
  CHECK(doc["flag"].GetBool());
}

TEST_CASE("$repeat renders an array of independently generated items") {
  fixture f;
  const std::string out =
      f.render_json(R"({"events":{"$repeat":50,"item":{"session_id":"s-${seq}"}},"after":1})");
  rapidjson::Document doc;
  doc.Parse(out.data(), out.size());
  INFO(out);
  REQUIRE_FALSE(doc.HasParseError());
  REQUIRE(doc["events"].Size() == 50);
  CHECK(std::string(doc["events"][49]["session_id"].GetString()) == "s-50");
  CHECK(doc["after"].GetInt() == 1);
}

TEST_CASE("Zipf keys favour the low ranks as Zipf(1) says") {
  fixture f;
  request_template t;
  REQUIRE(request_template::compile_text("${zipf:100}", f.pools, t).empty());
  std::map<int, int> counts;
  for (int i = 0; i < 100'000; ++i) {
    std::string out;
    REQUIRE(t.render(f.context, out));
    const int key = std::stoi(out);
    REQUIRE(key >= 1);
    REQUIRE(key <= 100);
    ++counts[key];
  }
  // P(1) = 1 / H(100) = 0.193, P(2) = P(1) / 2.
  CHECK(counts[1] / 100'000.0 == doctest::Approx(0.193).epsilon(0.05));
  CHECK(static_cast<double>(counts[1]) / counts[2] == doctest::Approx(2.0).epsilon(0.1));
}

TEST_CASE("picks draw from captured values and keep their JSON type") {
  fixture f;
  const auto ids = f.pools.pool_index("ids");
  request_template path, body;
  REQUIRE(request_template::compile_text("/api/patients/${pick:ids}", f.pools, path).empty());
  rapidjson::Document doc;
  const std::string_view json = R"({"patient":"${pick:ids}"})";
  doc.Parse(json.data(), json.size());
  REQUIRE(request_template::compile_json(doc, f.pools, body).empty());
  std::string out;
  CHECK_FALSE(path.render(f.context, out));  // empty pool
  f.pools.add(ids, "p-7", true);
  out.clear();
  REQUIRE(path.render(f.context, out));
  CHECK(out == "/api/patients/p-7");
  out.clear();
  REQUIRE(body.render(f.context, out));
  CHECK(out == R"({"patient":"p-7"})");
}

TEST_CASE("bad placeholders are compile errors that say what is wrong") {
  loadgen::value_pools pools;
  request_template t;
  CHECK(request_template::compile_text("/x/${nope}", pools, t).find("unknown placeholder") !=
        std::string::npos);
  CHECK(request_template::compile_text("/x/${uniform:9:1}", pools, t).find("LO <= HI") !=
        std::string::npos);
  CHECK(request_template::compile_text("/x/${seq", pools, t).find("unterminated") !=
        std::string::npos);
}

TEST_CASE("find_json_field finds strings, numbers and first array elements") {
  std::string_view value;
  bool is_string = false;
  REQUIRE(loadgen::find_json_field(R"({"a":1,"id": "x\"y","n":{"id":3}})", "id", value, is_string));
  CHECK(value == R"(x\"y)");
  CHECK(is_string);
  REQUIRE(loadgen::find_json_field(R"({"received":2,"ids":[17,18]})", "ids", value, is_string));
  CHECK(value == "17");
  CHECK_FALSE(is_string);
  CHECK_FALSE(loadgen::find_json_field(R"({"name":"id"})", "id", value, is_string));
}

TEST_CASE("${pick:POOL@BASE} draws the partner captured with the value picked from BASE") {
  fixture f;
  const auto visits = f.pools.pool_index("visits");
  const auto patients = f.pools.pool_index("visit_patients");
  // Captured in lockstep: visit 100+i belongs to patient 200+i.
  for (int i = 0; i < 50; ++i) {
    f.pools.add(visits, std::to_string(100 + i), false);
    f.pools.add(patients, std::to_string(200 + i), false);
  }
  for (int round = 0; round < 100; ++round) {
    const std::string out = f.render_json(
        R"({"visit_id":"${pick:visits}","patient_id":"${pick:visit_patients@visits}"})");
    rapidjson::Document doc;
    doc.Parse(out.data(), out.size());
    REQUIRE_FALSE(doc.HasParseError());
    INFO(out);
    CHECK(doc["patient_id"].GetInt() == doc["visit_id"].GetInt() + 100);
  }
  request_template t;
  CHECK(request_template::compile_text("/x/${pick:@visits}", f.pools, t).find("two pool names") !=
        std::string::npos);
}

TEST_CASE("a full pool replaces its oldest value, so paired pools stay paired") {
  loadgen::value_pools pools(3);
  std::mt19937_64 rng{1};
  const auto a = pools.pool_index("a");
  const auto b = pools.pool_index("b");
  for (int i = 0; i < 10; ++i) {
    pools.add(a, "a" + std::to_string(i), true);
    pools.add(b, "b" + std::to_string(i), true);
  }
  REQUIRE(pools.size(a) == 3);
  for (int round = 0; round < 20; ++round) {
    const auto* first = pools.pick(a, rng);
    const auto* partner = pools.pick_paired(b, a, rng);
    REQUIRE(first);
    REQUIRE(partner);
    CHECK(partner->text.substr(1) == first->text.substr(1));
    CHECK(std::stoi(first->text.substr(1)) >= 7);  // only the three newest are kept
  }
}
