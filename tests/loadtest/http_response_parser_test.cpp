#include "loadgen/http_response_parser.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

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

// Regression: the parser kept a pointer to the body's first byte, so when the caller's
// buffer grew (and moved) between two reads, body() read freed memory. Scrapes of
// /metrics over 64 KiB (the gateway's, clinic-records') lost their last lines, among
// them process_resident_memory_bytes, and the demo showed RSS 0.
TEST_CASE("the body survives the buffer moving between reads") {
  const std::string payload(100'000, 'x');
  const std::string wire =
      "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(payload.size()) + "\r\n\r\n" + payload;
  std::vector<char> buffer(64);
  std::size_t received = 0;
  http_response_parser parser;
  parser.reset();
  result r = result::incomplete;
  while (r == result::incomplete && received < wire.size()) {
    if (received == buffer.size()) {
      std::vector<char> bigger(buffer.size() * 2);  // a new block: the old one is gone
      std::copy(buffer.begin(), buffer.end(), bigger.begin());
      std::fill(buffer.begin(), buffer.end(), '?');
      buffer.swap(bigger);
    }
    const std::size_t n = std::min(buffer.size() - received, wire.size() - received);
    std::copy_n(wire.data() + received, n, buffer.data() + received);
    received += n;
    r = parser.parse(buffer.data(), received);
  }
  REQUIRE(r == result::complete);
  CHECK(parser.body() == payload);
}

TEST_CASE("a chunked body survives the buffer moving between reads") {
  std::string wire = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  std::string payload;
  for (int i = 0; i < 40; ++i) {
    const std::string chunk(1000, static_cast<char>('a' + i % 26));
    wire += "3e8\r\n" + chunk + "\r\n";
    payload += chunk;
  }
  wire += "0\r\n\r\n";
  std::vector<char> buffer(100);
  std::size_t received = 0;
  http_response_parser parser;
  parser.reset();
  result r = result::incomplete;
  while (r == result::incomplete && received < wire.size()) {
    if (received == buffer.size()) {
      std::vector<char> bigger(buffer.size() * 2);
      std::copy(buffer.begin(), buffer.end(), bigger.begin());
      std::fill(buffer.begin(), buffer.end(), '?');
      buffer.swap(bigger);
    }
    const std::size_t n = std::min(buffer.size() - received, wire.size() - received);
    std::copy_n(wire.data() + received, n, buffer.data() + received);
    received += n;
    r = parser.parse(buffer.data(), received);
  }
  REQUIRE(r == result::complete);
  CHECK(parser.body() == payload);
}
