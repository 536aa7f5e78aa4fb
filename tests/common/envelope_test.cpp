#include <doctest/doctest.h>

#include "suite/envelope.hpp"

using namespace suite;

namespace {

std::string encode_string(const request& r) {
  msgpack::sbuffer b;
  encode(r, b);
  return {b.data(), b.size()};
}

}  // namespace

TEST_CASE("a request survives encode and decode with every field") {
  request r;
  r.id = 42;
  r.op = "patients.get";
  r.tenant = "t1";
  r.principal = "alice";
  r.roles = {"clinician", "billing"};
  r.deadline_ms = 1'700'000'000'123;
  r.trace_id = "trace-9";
  r.body = pack_value([](msgpack_packer& p) {
    p.pack_map(2);
    pack_string(p, "id");
    p.pack_int64(-7);
    pack_string(p, "amount");
    pack_decimal(p, "1234.50");
  });
  auto frame = encode_string(r);
  auto back = decode_request(frame.data(), frame.size());
  REQUIRE(back.ok());
  CHECK(back->id == 42);
  CHECK(back->op == "patients.get");
  CHECK(back->tenant == "t1");
  CHECK(back->principal == "alice");
  CHECK(back->roles == std::vector<std::string>{"clinician", "billing"});
  CHECK(back->deadline_ms == 1'700'000'000'123);
  CHECK(back->trace_id == "trace-9");
  CHECK(int_field(back->body.object, "id") == -7);
  CHECK(decimal_field(back->body.object, "amount") == "1234.50");
}

TEST_CASE("a request's packed body is sent as it is, in place of its parsed body") {
  request r;
  r.id = 5;
  r.op = "events.ingest";
  r.body = pack_value([](msgpack_packer& p) {
    p.pack_map(1);
    pack_string(p, "ignored");
    p.pack_true();
  });
  msgpack::sbuffer packed;
  msgpack_packer p(packed);
  p.pack_map(2);
  pack_string(p, "session_id");
  pack_string(p, "s-1");
  pack_string(p, "tokens");
  p.pack_array(2);
  p.pack_int64(3);
  p.pack_int64(4);
  r.packed_body.assign(packed.data(), packed.size());
  auto frame = encode_string(r);
  auto back = decode_request(frame.data(), frame.size());
  REQUIRE(back.ok());
  CHECK(back->id == 5);
  CHECK(back->packed_body.empty());
  CHECK(string_field(back->body.object, "session_id") == "s-1");
  CHECK(find_field(back->body.object, "ignored") == nullptr);
  const auto* tokens = find_field(back->body.object, "tokens");
  REQUIRE(tokens);
  REQUIRE(tokens->type == msgpack::type::ARRAY);
  CHECK(tokens->via.array.size == 2);
}

TEST_CASE("ok and error replies survive encode and decode") {
  msgpack::sbuffer b;
  encode(ok_reply(7, pack_value([](msgpack_packer& p) {
                    p.pack_map(1);
                    pack_string(p, "name");
                    pack_string(p, "Wanjiru");
                  }),
                  201),
         b);
  auto ok = decode_reply(b.data(), b.size());
  REQUIRE(ok.ok());
  CHECK(ok->id == 7);
  CHECK(ok->status == 201);
  CHECK(!ok->is_error());
  CHECK(string_field(ok->body.object, "name") == "Wanjiru");

  msgpack::sbuffer e;
  encode(error_reply(8, make_error(409, "conflict", "stale version", {{"version", "is 3, not 2"}})),
         e);
  auto err = decode_reply(e.data(), e.size());
  REQUIRE(err.ok());
  CHECK(err->status == 409);
  REQUIRE(err->is_error());
  CHECK(err->error->code == "conflict");
  CHECK(err->error->message == "stale version");
  REQUIRE(err->error->details.size() == 1);
  CHECK(err->error->details[0].field == "version");
}

TEST_CASE("malformed request frames give errors, never crashes") {
  SUBCASE("garbage bytes") {
    std::string garbage = "\xc1\xff\x00 not msgpack";
    auto r = decode_request(garbage.data(), garbage.size());
    REQUIRE(!r.ok());
    CHECK(r.error().status == 400);
    CHECK(r.error().code == "bad_frame");
  }
  SUBCASE("empty frame") {
    auto r = decode_request("", 0);
    CHECK(!r.ok());
  }
  SUBCASE("not a map") {
    auto frame = pack_value([](msgpack_packer& p) {
      p.pack_array(1);
      p.pack_int(1);
    });
    msgpack::sbuffer b;
    msgpack_packer(b).pack(frame.object);
    CHECK(!decode_request(b.data(), b.size()).ok());
  }
  SUBCASE("missing op keeps the id for the error reply") {
    msgpack::sbuffer b;
    msgpack_packer p(b);
    p.pack_map(1);
    pack_string(p, "id");
    p.pack_uint64(99);
    std::uint64_t id = 0;
    auto r = decode_request(b.data(), b.size(), &id);
    CHECK(!r.ok());
    CHECK(id == 99);
  }
  SUBCASE("truncated frame") {
    request req;
    req.id = 1;
    req.op = "x";
    auto frame = encode_string(req);
    for (std::size_t cut = 0; cut < frame.size(); ++cut) {
      CHECK(!decode_request(frame.data(), cut).ok());
    }
  }
  SUBCASE("a container claiming more elements than the frame holds") {
    const char huge_map[] = {'\xdf', '\x7f', '\xff', '\xff', '\xff'};
    CHECK(!decode_request(huge_map, sizeof huge_map).ok());
  }
  SUBCASE("nesting deeper than the limit") {
    std::string deep(200, '\x91');  // fixarray of 1, nested 200 times
    deep.push_back('\xc0');
    CHECK(!decode_request(deep.data(), deep.size()).ok());
  }
  SUBCASE("wrong field types") {
    msgpack::sbuffer b;
    msgpack_packer p(b);
    p.pack_map(3);
    pack_string(p, "id");
    p.pack_uint64(1);
    pack_string(p, "op");
    pack_string(p, "a.b");
    pack_string(p, "body");
    p.pack_int(5);
    CHECK(!decode_request(b.data(), b.size()).ok());
  }
}

TEST_CASE("a reply with an out-of-range status is rejected") {
  msgpack::sbuffer b;
  msgpack_packer p(b);
  p.pack_map(2);
  pack_string(p, "id");
  p.pack_uint64(1);
  pack_string(p, "status");
  p.pack_int(42);
  CHECK(!decode_reply(b.data(), b.size()).ok());
}

TEST_CASE("deadlines") {
  request r;
  CHECK(!past_deadline(r));
  r.deadline_ms = unix_ms_now() - 1;
  CHECK(past_deadline(r));
  r.deadline_ms = unix_ms_now() + 10000;
  CHECK(!past_deadline(r));
}

TEST_CASE("a reply part carries more: true; a plain reply has no such key") {
  auto part = ok_reply(9, empty_map());
  part.more = true;
  msgpack::sbuffer b;
  encode(part, b);
  auto decoded = decode_reply(b.data(), b.size());
  REQUIRE(decoded.ok());
  CHECK(decoded->more);
  CHECK(decoded->id == 9);

  msgpack::sbuffer plain;
  encode(ok_reply(10, empty_map()), plain);
  auto parsed = parse_msgpack(plain.data(), plain.size());
  REQUIRE(parsed.ok());
  CHECK(find_field(parsed->object, "more") == nullptr);
  CHECK(!decode_reply(plain.data(), plain.size())->more);

  // {id: 1, status: 200, more: "yes"}: a wrong type is a bad frame, not a guess.
  msgpack::sbuffer wrong;
  msgpack_packer p(wrong);
  p.pack_map(3);
  pack_string(p, "id");
  p.pack_uint64(1);
  pack_string(p, "status");
  p.pack_int(200);
  pack_string(p, "more");
  pack_string(p, "yes");
  CHECK(!decode_reply(wrong.data(), wrong.size()).ok());
}
