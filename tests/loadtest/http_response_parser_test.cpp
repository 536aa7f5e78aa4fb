#include "loadgen/http_response_parser.hpp"

#include <doctest/doctest.h>

#include <string>

using loadgen::http_response_parser;
using result = http_response_parser::result;

namespace {

// Feeds `wire` to a parser in pieces of `step` bytes, as reads would deliver it.
result feed(http_response_parser& parser, std::string& wire, std::size_t step) {
  result r = result::incomplete;
  for (std::size_t size = std::min(step, wire.size());; size = std::min(size + step, wire.size())) {
    r = parser.parse(wire.data(), size);
    if (r != result::incomplete || size == wire.size()) return r;
  }
}

}  // namespace

TEST_CASE("a Content-Length response is parsed whatever the read boundaries") {
  for (std::size_t step : {1u, 3u, 7u, 1000u}) {
    std::string wire =
        "HTTP/1.1 201 Created\r\ncontent-length: 11\r\nX: y\r\n\r\n{\"id\":\"a\"}\nNEXT";
    http_response_parser parser;
    parser.reset();
    REQUIRE(feed(parser, wire, step) == result::complete);
    CHECK(parser.status() == 201);
    CHECK(parser.body() == "{\"id\":\"a\"}\n");
    CHECK(parser.keep_alive());
    CHECK(parser.consumed() == wire.size() - 4);
  }
}

TEST_CASE("a chunked body is joined in place") {
  for (std::size_t step : {1u, 5u, 1000u}) {
    std::string wire =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n6;ext=1\r\npedia \r\n"
        "E\r\nin \r\n\r\nchunks.\r\n0\r\nTrailer: x\r\n\r\n";
    http_response_parser parser;
    parser.reset();
    REQUIRE(feed(parser, wire, step) == result::complete);
    CHECK(parser.body() == "Wikipedia in \r\n\r\nchunks.");
    CHECK(parser.consumed() == wire.size());
  }
}

TEST_CASE("bodiless responses, Connection: close and HTTP/1.0") {
  std::string no_content = "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
  http_response_parser parser;
  parser.reset();
  REQUIRE(parser.parse(no_content.data(), no_content.size()) == result::complete);
  CHECK(parser.status() == 204);
  CHECK_FALSE(parser.keep_alive());

  std::string head = "HTTP/1.0 200 OK\r\nContent-Length: 100\r\n\r\n";
  parser.reset(true);
  REQUIRE(parser.parse(head.data(), head.size()) == result::complete);
  CHECK(parser.body().empty());
  CHECK_FALSE(parser.keep_alive());
}

TEST_CASE("malformed responses are errors, not hangs") {
  std::string garbage = "HELLO\r\n\r\n";
  http_response_parser parser;
  parser.reset();
  CHECK(parser.parse(garbage.data(), garbage.size()) == result::error);
  std::string unsized = "HTTP/1.1 200 OK\r\n\r\nbody";
  parser.reset();
  CHECK(parser.parse(unsized.data(), unsized.size()) == result::error);
  std::string bad_length = "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n";
  parser.reset();
  CHECK(parser.parse(bad_length.data(), bad_length.size()) == result::error);
}
