// The hand-written response head: exact bytes, and no way for a header to split it.
#include <doctest/doctest.h>

#include "response_head.hpp"
#include "suite/msgpack_value.hpp"

using namespace suite;
using namespace suite::gateway;

TEST_CASE("a response head is the status line, the headers in order, and a blank line") {
  std::string out;
  begin_head(out, 200, "application/json", true);
  CHECK(add_header(out, "Content-Length", "2"));
  end_head(out);
  CHECK(out == "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n");

  out.clear();
  begin_head(out, 503, "", false);  // no type; the connection closes after it
  end_head(out);
  CHECK(out == "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n");

  out.clear();
  begin_head(out, 299, "text/plain", true);  // a status without a standard reason
  CHECK(out.starts_with("HTTP/1.1 299 "));
}

TEST_CASE("a header that could split the head is refused and leaves nothing") {
  std::string out = "x";
  CHECK(!add_header(out, "X-Evil", "a\r\nSet-Cookie: b"));
  CHECK(!add_header(out, "X-Evil\r\nSet-Cookie", "b"));
  CHECK(!add_header(out, "X:Evil", "b"));
  CHECK(!add_header(out, "", "b"));
  CHECK(out == "x");
  CHECK(add_header(out, "Retry-After", "1"));
  CHECK(out == "xRetry-After: 1\r\n");
}

TEST_CASE("a service's headers are added, except those the writer owns and bad ones") {
  auto raw = pack_value([](msgpack_packer& p) {
    p.pack_map(6);
    pack_string(p, "X-Cache");
    pack_string(p, "HIT");
    pack_string(p, "content-length");  // owned, in any case
    pack_string(p, "999");
    pack_string(p, "Connection");
    pack_string(p, "keep-alive");
    pack_string(p, "X-Split");
    pack_string(p, "a\nb");
    pack_string(p, "X-Number");
    p.pack_int(7);  // not a string
    pack_string(p, "X-Cache-Key");
    pack_string(p, "abc");
  });
  std::string out;
  add_service_headers(out, &raw.object);
  CHECK(out == "X-Cache: HIT\r\nX-Cache-Key: abc\r\n");
  add_service_headers(out, nullptr);
  auto not_a_map = pack_value([](msgpack_packer& p) { pack_string(p, "X-Cache"); });
  add_service_headers(out, &not_a_map.object);
  CHECK(out == "X-Cache: HIT\r\nX-Cache-Key: abc\r\n");
}
