#include <doctest/doctest.h>

#include <atomic>
#include <functional>
#include <thread>
#include <vector>

#include "suite/json_msgpack.hpp"

using namespace suite;

namespace {

std::string round_trip(std::string_view json, const json_schema* schema = nullptr) {
  auto value = json_to_msgpack(json, schema);
  REQUIRE_MESSAGE(value.ok(), (value.ok() ? "" : value.error().message));
  std::string out;
  msgpack_to_json(value->object, out);
  return out;
}

const char* patient_schema = R"({
  "type": "object",
  "properties": {
    "name": {"type": "string", "minLength": 1, "maxLength": 20},
    "age": {"type": "integer", "minimum": 0},
    "insurance": {"enum": ["sha", "private", "cash"]},
    "limit": {"type": "integer"},
    "kin": {"type": "object", "properties": {"phone": {"type": "string"}}, "required": ["phone", "name"]}
  },
  "required": ["name", "age"],
  "additionalProperties": false
})";

}  // namespace

TEST_CASE("JSON to msgpack and back keeps values exactly") {
  CHECK(round_trip(R"({"a":1,"b":-2,"c":"x","d":true,"e":null,"f":[1,2,{"g":[]}]})") ==
        R"({"a":1,"b":-2,"c":"x","d":true,"e":null,"f":[1,2,{"g":[]}]})");
  // Money never passes through a double: the text comes back as sent.
  CHECK(round_trip(R"({"amount":1234.50,"tiny":0.1,"big":12345678901234567890.01,"e":1e3})") ==
        R"({"amount":1234.50,"tiny":0.1,"big":12345678901234567890.01,"e":1e3})");
  CHECK(round_trip(R"({"u":18446744073709551615,"i":-9223372036854775808})") ==
        R"({"u":18446744073709551615,"i":-9223372036854775808})");
  CHECK(round_trip(R"({"s":"caf\u00e9 \"q\" \\ \n"})") ==
        "{\"s\":\"caf\xc3\xa9 \\\"q\\\" \\\\ \\n\"}");
  CHECK(round_trip("") == "{}");
  CHECK(round_trip("  \n") == "{}");
}

TEST_CASE("every control byte is escaped, wherever it falls in a long string") {
  // Debian's RapidJSON 1.1.0 SSE2 writer let 0x1A-0x1F through unescaped inside an
  // aligned 16-byte block (cmake/suite_dependencies.cmake): try each byte at each offset.
  for (char control = 0x01; control < 0x20; ++control) {
    for (std::size_t at = 0; at < 48; ++at) {
      std::string text(64, 'a');
      text[at] = control;
      auto value = pack_value([&](msgpack_packer& p) { pack_string(p, text); });
      std::string json;
      msgpack_to_json(value.object, json);
      bool raw_control = false;
      for (char c : json) raw_control |= static_cast<unsigned char>(c) < 0x20;
      CHECK_MESSAGE(!raw_control, "byte ", int(control), " at ", at);
    }
  }
}

TEST_CASE("the packed form parses to the same value, and is refused the same way") {
  const char* json = R"({"a":1,"b":[true,null,{"c":"d"}],"amount":12.50})";
  auto packed = json_to_packed(json, nullptr, {{"tenant_field", "t"}});
  REQUIRE(packed.ok());
  auto parsed = parse_msgpack(packed->data(), packed->size());
  REQUIRE(parsed.ok());
  std::string out;
  msgpack_to_json(parsed->object, out);
  CHECK(out == R"({"a":1,"b":[true,null,{"c":"d"}],"amount":12.50,"tenant_field":"t"})");
  // Byte for byte what msgpack's packer writes, for containers of every header width.
  std::string wide = R"({"small":[1,2],"k0":0)";
  for (int k = 1; k < 20; ++k)
    wide += ",\"k" + std::to_string(k) + "\":[" + std::to_string(k) + "]";
  wide += R"(,"mid":[0)";
  for (int i = 1; i < 20; ++i) wide += ",0";
  wide += R"(],"big":[0)";
  for (int i = 1; i < 70000; ++i) wide += ",1";
  wide += "]}";
  for (const std::string& json : {std::string(R"({"a":{"b":{"c":[[],{}]}}})"), wide}) {
    auto bytes = json_to_packed(json, nullptr);
    REQUIRE(bytes.ok());
    auto value = parse_msgpack(bytes->data(), bytes->size());
    REQUIRE(value.ok());
    msgpack::sbuffer again;
    msgpack_packer(again).pack(value->object);
    CHECK(std::string(again.data(), again.size()) == *bytes);
  }
  auto schema = json_schema::compile(patient_schema);
  REQUIRE(schema.ok());
  auto refused = json_to_packed(R"({"name":""})", schema->get());
  REQUIRE(!refused.ok());
  CHECK(refused.error().code == "validation_failed");
  auto malformed = json_to_packed(R"({"a":)", nullptr);
  REQUIRE(!malformed.ok());
  CHECK(malformed.error().code == "bad_json");
}

TEST_CASE("a property checked only for its type is converted whole and judged the same") {
  auto batch = json_schema::compile(
      R"({"type":"object","required":["events"],"properties":{"events":{"type":"array",
          "$comment":"each event is checked by the service"},"meta":{"type":"object"}}})");
  REQUIRE(batch.ok());
  CHECK((*batch)->opaque_property("events"));
  CHECK((*batch)->opaque_property("meta"));
  CHECK(!(*batch)->opaque_property("other"));
  const json_schema* s = batch->get();
  auto ok = json_to_msgpack(R"({"events":[{"a":[1,{"b":"x"}]},3,[]],"meta":{"k":{"l":[]}}})", s);
  REQUIRE(ok.ok());
  std::string back;
  msgpack_to_json(ok->object, back);
  CHECK(back == R"({"events":[{"a":[1,{"b":"x"}]},3,[]],"meta":{"k":{"l":[]}}})");
  for (const char* wrong_type :
       {R"({"events":{}})", R"({"events":[],"meta":[1]})", R"({"events":"x"})", R"({"meta":{}})"}) {
    auto refused = json_to_msgpack(wrong_type, s);
    REQUIRE(!refused.ok());
    CHECK(refused.error().code == "validation_failed");
  }
  // Malformed or too deep inside the opaque part is still refused by the reader.
  CHECK(json_to_msgpack(R"({"events":[{"a":}]})", s).error().code == "bad_json");
  std::string deep = R"({"events":)" + std::string(80, '[') + std::string(80, ']') + "}";
  CHECK(!json_to_msgpack(deep, s).ok());

  // Any rule that reaches inside keeps the walk: items, or a root keyword.
  for (const char* walked :
       {R"({"type":"object","properties":{"events":{"type":"array","items":{"type":"integer"}}}})",
        R"({"type":"object","properties":{"events":{"type":"array"}},
            "patternProperties":{"^e":{"type":"array","items":{"type":"integer"}}}})",
        R"({"type":"object","properties":{"events":{"type":"array"}},
            "allOf":[{"properties":{"events":{"items":{"type":"integer"}}}}]})"}) {
    auto schema = json_schema::compile(walked);
    REQUIRE(schema.ok());
    CHECK(!(*schema)->opaque_property("events"));
    auto refused = json_to_msgpack(R"({"events":[1,"two"]})", schema->get());
    REQUIRE(!refused.ok());
    CHECK(refused.error().code == "validation_failed");
  }
}

TEST_CASE("decimals reach services as exact text") {
  auto value = json_to_msgpack(R"({"amount": 99.95})", nullptr);
  REQUIRE(value.ok());
  CHECK(decimal_field(value->object, "amount") == "99.95");
}

TEST_CASE("malformed JSON is a 400 that says where") {
  for (const char* bad :
       {R"({"a":)", R"({"a":1}})", "{'a':1}", "[1,2]", "42", R"({"a":1} x)", "\xff\xfe"}) {
    auto value = json_to_msgpack(bad, nullptr);
    REQUIRE(!value.ok());
    CHECK(value.error().status == 400);
    CHECK(!value.error().details.empty());
  }
}

TEST_CASE("bytes that are not UTF-8 in a string are a 400 naming the offset") {
  // The body is checked as a whole first; one that fails is parsed with RapidJSON's own
  // check, which names where. Long ASCII runs before the bad byte take the 8-byte path.
  for (const char* bad :
       {"{\"a\":\"x\xc3\x28\"}", "{\"a\":\"\xed\xa0\x80\"}", "{\"a\":\"\xf4\x90\x80\x80\"}",
        "{\"aaaaaaaaaaaaaaaa\":\"bbbbbbbbbbbbbbbbbbbbbbbb\xff\"}", "{\"k\xc0\xaf\":1}"}) {
    CAPTURE(bad);
    auto value = json_to_msgpack(bad, nullptr);
    REQUIRE(!value.ok());
    CHECK(value.error().status == 400);
    CHECK(value.error().message.find("Invalid encoding") != std::string::npos);
    CHECK(value.error().message.find("at offset") != std::string::npos);
  }
  auto fine = json_to_msgpack("{\"aaaaaaaaaaaaaaaa\":\"bbbbbbbbbbbb\xf0\x9f\x98\x80\xe2\x82\xac\"}",
                              nullptr);
  REQUIRE(fine.ok());
  CHECK(string_field(fine->object, "aaaaaaaaaaaaaaaa") ==
        "bbbbbbbbbbbb\xf0\x9f\x98\x80\xe2\x82\xac");
}

TEST_CASE("a lone UTF-16 surrogate escape is a 400, a paired one is a character") {
  // Found by fuzz_json_msgpack: "\uDDDD" decoded into bytes that are not UTF-8, so the
  // body could not be written back as JSON (fuzz/corpus/json_msgpack/crash_lone_surrogate).
  for (const char* bad : {R"({"a":"\uDDDD"})", R"({"\uD800":1})", R"({"a":["x\uDFFFy"]})"}) {
    auto value = json_to_msgpack(bad, nullptr);
    REQUIRE(!value.ok());
    CHECK(value.error().status == 400);
    CHECK(value.error().message.find("surrogate") != std::string::npos);
  }
  // Only an escape can make one: the search for them is skipped when the text has no
  // backslash-u, which holds because the reader refuses surrogates written as raw bytes.
  for (const char* raw : {"{\"a\":\"\xED\xA0\x80\"}", "{\"\xED\xBF\xBF\":1}"}) {
    auto value = json_to_msgpack(raw, nullptr);
    REQUIRE(!value.ok());
    CHECK(value.error().code == "bad_json");
  }
  auto pair = json_to_msgpack(R"({"a":"\uD83D\uDE00"})", nullptr);  // U+1F600
  REQUIRE(pair.ok());
  std::string back;
  msgpack_to_json(pair->object, back);
  CHECK(back == "{\"a\":\"\xF0\x9F\x98\x80\"}");
}

TEST_CASE("schema violations name every missing field and the failing one") {
  auto schema = json_schema::compile(patient_schema);
  REQUIRE(schema.ok());
  const json_schema* s = schema->get();

  auto missing = json_to_msgpack(R"({})", s);
  REQUIRE(!missing.ok());
  CHECK(missing.error().code == "validation_failed");
  REQUIRE(missing.error().details.size() == 2);
  CHECK(missing.error().details[0].field == "name");
  CHECK(missing.error().details[0].message == "is required");
  CHECK(missing.error().details[1].field == "age");

  auto one_missing = json_to_msgpack(R"({"name":"A"})", s);
  REQUIRE(!one_missing.ok());
  REQUIRE(one_missing.error().details.size() == 1);
  CHECK(one_missing.error().details[0].field == "age");

  auto wrong_type = json_to_msgpack(R"({"name":"A","age":"ten"})", s);
  REQUIRE(!wrong_type.ok());
  CHECK(wrong_type.error().details[0].field == "age");
  CHECK(wrong_type.error().details[0].message == "must be of type integer");

  auto too_low = json_to_msgpack(R"({"name":"A","age":-1})", s);
  REQUIRE(!too_low.ok());
  CHECK(too_low.error().details[0].message == "must be >= 0");

  auto enum_bad = json_to_msgpack(R"({"name":"A","age":1,"insurance":"gold"})", s);
  REQUIRE(!enum_bad.ok());
  CHECK(enum_bad.error().details[0].field == "insurance");
  CHECK(enum_bad.error().details[0].message == "must be one of: sha, private, cash");

  auto extra = json_to_msgpack(R"({"name":"A","age":1,"hacker":1})", s);
  REQUIRE(!extra.ok());
  CHECK(extra.error().details[0].field == "hacker");

  auto nested = json_to_msgpack(R"({"name":"A","age":1,"kin":{"phone":"1"}})", s);
  REQUIRE(!nested.ok());
  REQUIRE(nested.error().details.size() == 1);
  CHECK(nested.error().details[0].field == "kin.name");

  CHECK(json_to_msgpack(R"({"name":"A","age":1,"kin":{"phone":"1","name":"B"}})", s).ok());
}

TEST_CASE(
    "URL parameters are typed by the schema, validated and cannot be overridden by the body") {
  auto schema = json_schema::compile(patient_schema);
  REQUIRE(schema.ok());
  auto value = json_to_msgpack(R"({"name":"A","age":3})", schema->get(), {{"limit", "25"}});
  REQUIRE(value.ok());
  CHECK(int_field(value->object, "limit") == 25);

  auto bad = json_to_msgpack(R"({"name":"A","age":3})", schema->get(), {{"limit", "lots"}});
  REQUIRE(!bad.ok());
  CHECK(bad.error().details[0].field == "limit");

  auto conflict =
      json_to_msgpack(R"({"name":"A","age":3,"limit":1})", schema->get(), {{"limit", "2"}});
  REQUIRE(!conflict.ok());
  CHECK(conflict.error().details[0].field == "limit");

  // URL text that is not UTF-8 (a truncated sequence, e.g. from %E2) is a clear 400; the
  // schema validator would read past its end (found by the gateway_http fuzz target).
  for (const json_schema* s : {static_cast<const json_schema*>(nullptr), schema->get()}) {
    auto broken =
        json_to_msgpack(R"({"name":"A","age":3})", s, {{"name2", "ok"}, {"limit", "\xe2"}});
    if (s) broken = json_to_msgpack(R"({"age":3})", s, {{"name", "\xe2\x82"}});
    REQUIRE(!broken.ok());
    CHECK(broken.error().status == 400);
    CHECK(broken.error().message.find("is not UTF-8 text") != std::string::npos);
  }

  auto get = json_to_msgpack("", nullptr, {{"id", "abc"}});
  REQUIRE(get.ok());
  CHECK(string_field(get->object, "id") == "abc");
}

TEST_CASE("nesting beyond the depth limit is refused") {
  std::string deep = "{\"a\":" + std::string(100, '[') + std::string(100, ']') + "}";
  auto value = json_to_msgpack(deep, nullptr);
  REQUIRE(!value.ok());
  CHECK(value.error().status == 400);
}

TEST_CASE("one compiled schema with a pattern validates on many threads at once") {
  // RapidJSON 1.1 keeps regex match state in the compiled schema; shared naively, this
  // gave spurious "must match" errors and crashes in the gateway under load.
  auto schema = json_schema::compile(
      R"({"type":"object","required":["id"],"properties":{"id":{"type":"string","pattern":"^[0-9a-f]{16}$"}}})");
  REQUIRE(schema.ok());
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20000; ++i) {
        bool good = (i + t) % 3 != 0;
        std::string id = good ? "0123456789abcdef" : "0123456789abcdeX";
        auto value = json_to_msgpack(R"({"id":")" + id + "\"}", schema->get());
        if (value.ok() != good) ++wrong;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(wrong == 0);
}

namespace {

// The verdict of the slow, always-available way: msgpack -> JSON text -> checked msgpack.
status by_json_text(const msgpack::object& value, const json_schema& schema) {
  std::string json;
  msgpack_to_json(value, json);
  auto converted = json_to_msgpack(json, &schema);
  if (!converted) return converted.error();
  return ok();
}

msgpack_value packed(const std::function<void(msgpack_packer&)>& fill) { return pack_value(fill); }

}  // namespace

TEST_CASE("validate_msgpack gives json_to_msgpack's verdict on normal-form maps") {
  auto schema = json_schema::compile(patient_schema);
  REQUIRE(schema.ok());
  const json_schema& s = **schema;
  // Each body once through the gateway's conversion: the normal form services receive.
  for (const char* json : {
           R"({"name":"A","age":1})",
           R"({"name":"Amélie","age":1,"insurance":"sha","kin":{"phone":"1","name":"B"}})",
           R"({})",
           R"({"name":"A"})",
           R"({"name":"A","age":"ten"})",
           R"({"name":"A","age":-1})",
           R"({"name":"A","age":1.5})",
           R"({"name":"A","age":1,"insurance":"gold"})",
           R"({"name":"A","age":1,"hacker":[1,{"x":null}]})",
           R"({"name":"A","age":1,"kin":{"phone":"1"}})",
           R"({"name":"","age":1})",
           R"({"name":"abcdefghijklmnopqrstuvwxyz","age":1})",
           // Integers beyond 64 bits travel as decimals (found by the fuzz target).
           R"({"name":"A","age":-77777777777777777777777777})",
           R"({"name":"A","age":1,"m":1,"m":-2,"f.":18446744073709551616})",
       }) {
    CAPTURE(json);
    auto body = json_to_msgpack(json, nullptr);
    REQUIRE(body.ok());
    auto fast = validate_msgpack(body->object, s);
    REQUIRE(fast.has_value());
    auto slow = by_json_text(body->object, s);
    REQUIRE(fast->ok() == slow.ok());
    if (!slow.ok()) {
      CHECK(fast->error().code == slow.error().code);
      CHECK(fast->error().message == slow.error().message);
      REQUIRE(fast->error().details.size() == slow.error().details.size());
      for (std::size_t i = 0; i < slow.error().details.size(); ++i) {
        CHECK(fast->error().details[i].field == slow.error().details[i].field);
        CHECK(fast->error().details[i].message == slow.error().details[i].message);
      }
    }
  }
}

TEST_CASE("validate_msgpack declines what JSON text would not give back unchanged") {
  auto schema = json_schema::compile(R"({"type":"object"})");
  REQUIRE(schema.ok());
  auto with = [](const std::function<void(msgpack_packer&)>& value) {
    return packed([&](msgpack_packer& p) {
      p.pack_map(1);
      pack_string(p, "v");
      value(p);
    });
  };
  std::vector<msgpack_value> declined{
      with([](msgpack_packer& p) { p.pack_double(1.5); }),
      with([](msgpack_packer& p) { p.pack_float(1.5f); }),
      with([](msgpack_packer& p) {
        p.pack_bin(2);
        p.pack_bin_body("ab", 2);
      }),
      with([](msgpack_packer& p) { pack_decimal(p, "100"); }),   // JSON text makes it an integer
      with([](msgpack_packer& p) { pack_decimal(p, "1.5x"); }),  // not a JSON number
      with([](msgpack_packer& p) {
        p.pack_ext(1, 7);
        p.pack_ext_body("z", 1);
      }),
      with([](msgpack_packer& p) { pack_string(p, "\xc3\x28"); }),          // broken UTF-8
      with([](msgpack_packer& p) { pack_string(p, "\xed\xa0\x80"); }),      // a surrogate
      with([](msgpack_packer& p) { pack_string(p, "\xe0\x80\xaf"); }),      // overlong
      with([](msgpack_packer& p) { pack_string(p, "\xf4\x90\x80\x80"); }),  // past U+10FFFF
      packed([](msgpack_packer& p) {
        p.pack_map(1);
        p.pack_int64(7);  // a non-string key
        p.pack_nil();
      }),
  };
  for (std::size_t i = 0; i < declined.size(); ++i) {
    CAPTURE(i);
    CHECK_FALSE(validate_msgpack(declined[i].object, **schema).has_value());
  }
  auto fine = with([](msgpack_packer& p) {
    p.pack_array(4);
    pack_decimal(p, "-0.5e3");
    pack_string(p, "\xf0\x9f\x98\x80 \xe2\x82\xac \xc3\xa9");  // 4-, 3- and 2-byte characters
    p.pack_int64(-3);
    p.pack_uint64(18446744073709551615ull);
  });
  auto verdict = validate_msgpack(fine.object, **schema);
  REQUIRE(verdict.has_value());
  CHECK(verdict->ok());
}
