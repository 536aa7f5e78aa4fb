#include <doctest/doctest.h>

#include "suite/config.hpp"

using namespace suite;

namespace {

config make() {
  config c;
  c.add("bus", "tcp://127.0.0.1:5551", "bus", bus_endpoint())
      .add("workers", "2", "n", integer_in(1, 8))
      .add("level", "info", "l", one_of({"info", "debug"}))
      .add("password", "s3cret", "p", any_value(), true);
  return c;
}

}  // namespace

TEST_CASE("defaults, environment and flags, in that order of precedence") {
  auto c = make();
  const char* argv[] = {"svc", "--workers=4"};
  const char* env[] = {"SUITE_WORKERS=3", "SUITE_LEVEL=debug", "PATH=/bin", nullptr};
  REQUIRE(c.load(2, argv, env).ok());
  CHECK(c.integer("workers") == 4);
  CHECK(c.str("level") == "debug");
  CHECK(c.str("bus") == "tcp://127.0.0.1:5551");
  auto text = c.describe();
  CHECK(text.find("workers=4 (flag)") != std::string::npos);
  CHECK(text.find("level=debug (env)") != std::string::npos);
  CHECK(text.find("s3cret") == std::string::npos);
}

TEST_CASE("bad values and unknown flags fail the start with a clear message") {
  const char* env[] = {nullptr};
  {
    auto c = make();
    const char* argv[] = {"svc", "--workers=99"};
    auto r = c.load(2, argv, env);
    REQUIRE(!r.ok());
    CHECK(r.error().message.find("workers") != std::string::npos);
    CHECK(r.error().message.find("1..8") != std::string::npos);
  }
  {
    auto c = make();
    const char* argv[] = {"svc", "--wokers=2"};
    auto r = c.load(2, argv, env);
    REQUIRE(!r.ok());
    CHECK(r.error().code == "unknown_flag");
  }
  {
    auto c = make();
    const char* argv[] = {"svc", "--bus=http://x"};
    CHECK(!c.load(2, argv, env).ok());
  }
  {
    auto c = make();
    const char* argv[] = {"svc", "--level"};
    CHECK(!c.load(2, argv, env).ok());
  }
  {
    auto c = make();
    const char* bad_env[] = {"SUITE_LEVEL=loud", nullptr};
    const char* argv[] = {"svc"};
    auto r = c.load(1, argv, bad_env);
    REQUIRE(!r.ok());
    CHECK(r.error().message.find("SUITE_LEVEL") != std::string::npos);
  }
}

TEST_CASE("endpoint checks") {
  auto check = bus_endpoint_list();
  CHECK(!check("tcp://a:1,inproc://x,ipc:///tmp/s"));
  CHECK(check("tcp://a:0"));
  CHECK(check(""));
  CHECK(check("tcp://a:1,"));
  CHECK(!host_port()("0.0.0.0:9100"));
  CHECK(host_port()("9100"));
}
