// The log's level names and the timestamp format that log lines and the API share.
#include <doctest/doctest.h>

#include "suite/log.hpp"

using namespace suite;

TEST_CASE("iso8601_utc writes UTC with milliseconds") {
  CHECK(iso8601_utc(0) == "1970-01-01T00:00:00.000Z");
  CHECK(iso8601_utc(1700000000123) == "2023-11-14T22:13:20.123Z");
  CHECK(iso8601_utc(951782400999) == "2000-02-29T00:00:00.999Z");  // a leap day
}

TEST_CASE("log levels parse from their names only") {
  log_level level = log_level::info;
  CHECK(parse_log_level("debug", level));
  CHECK(level == log_level::debug);
  CHECK(parse_log_level("error", level));
  CHECK(level == log_level::error);
  CHECK_FALSE(parse_log_level("ERROR", level));
  CHECK_FALSE(parse_log_level("verbose", level));
  CHECK(level == log_level::error);  // unchanged by a refusal
}
