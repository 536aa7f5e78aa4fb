// money and pricing_table: exact decimal text <-> nano-USD, and model prices.
#include <doctest/doctest.h>

#include "money.hpp"
#include "pricing_table.hpp"

using namespace event_ingest;

TEST_CASE("decimal text parses to exact nano-dollars") {
  CHECK(parse_nano_usd("0") == 0);
  CHECK(parse_nano_usd("12") == 12'000'000'000);
  CHECK(parse_nano_usd("0.0035") == 3'500'000);
  CHECK(parse_nano_usd("1.5e-3") == 1'500'000);
  CHECK(parse_nano_usd("2E2") == 200'000'000'000);
  CHECK(parse_nano_usd("0.0000000019") == 1);  // beyond nine decimals: truncated
  CHECK(parse_nano_usd("-0.0") == 0);
  CHECK_FALSE(parse_nano_usd("-1").has_value());
  CHECK_FALSE(parse_nano_usd("abc").has_value());
  CHECK_FALSE(parse_nano_usd("1e30").has_value());
  CHECK_FALSE(parse_nano_usd("").has_value());
}

TEST_CASE("nano-dollars format as trimmed decimal text") {
  CHECK(format_nano_usd(0) == "0");
  CHECK(format_nano_usd(3'500'000) == "0.0035");
  CHECK(format_nano_usd(2'000'000'000) == "2");
  CHECK(format_nano_usd(12'345'678'901) == "12.345678901");
}

TEST_CASE("the embedded pricing table prices by exact name, then longest prefix") {
  auto table = pricing_table::parse(pricing_table::embedded_json());
  REQUIRE(table.ok());
  CHECK(table->cost_nano("gpt-4o", 1000, 100) == 3'500'000);
  CHECK(table->cost_nano("gpt-4o-mini", 1'000'000, 0) == 150'000'000);  // not gpt-4o's price
  CHECK(table->cost_nano("gpt-4o-mini-2024-07-18", 1'000'000, 0) == 150'000'000);  // longest prefix
  CHECK(table->cost_nano("claude-3-5-sonnet-20241022", 0, 1'000'000) == 15'000'000'000);
  CHECK_FALSE(table->cost_nano("unknown-model", 10, 10).has_value());
}

TEST_CASE("a bad pricing file is refused with a reason") {
  CHECK_FALSE(pricing_table::parse("[]").ok());
  CHECK_FALSE(pricing_table::parse(R"({"models":{"m":{"input_per_mtok":1}}})").ok());
  CHECK_FALSE(
      pricing_table::parse(R"({"models":{"m":{"input_per_mtok":"-1","output_per_mtok":"1"}}})")
          .ok());
}
