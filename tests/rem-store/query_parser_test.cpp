// The REM query parser: every form parses to the expected tree; errors carry the
// byte position of the offending token.
#include <doctest/doctest.h>

#include "query_parser.hpp"

using namespace rem;

namespace {

query parse_ok(std::string_view text) {
  auto parsed = parse_query(text);
  if (auto* e = std::get_if<parse_error>(&parsed))
    FAIL("unexpected error: " << e->message << " at " << e->position);
  return std::move(std::get<query>(parsed));
}

parse_error parse_bad(std::string_view text) {
  auto parsed = parse_query(text);
  REQUIRE(std::holds_alternative<parse_error>(parsed));
  return std::get<parse_error>(parsed);
}

}  // namespace

TEST_CASE("LOOKUP, TRAVERSE and SEARCH parse") {
  auto l = std::get<lookup_query>(parse_ok("lookup 'a', 'b''c'").statement);
  CHECK(l.keys == std::vector<std::string>{"a", "b'c"});

  auto t = std::get<traverse_query>(
      parse_ok("TRAVERSE FROM '0011223344556677' DEPTH 3 DIRECTION both TYPE 'knows';").statement);
  CHECK(t.from == "0011223344556677");
  CHECK(t.depth == 3);
  CHECK(t.direction == traverse_direction::both);
  CHECK(t.rel == "knows");

  auto s = std::get<search_query>(
      parse_ok("SEARCH 'rust databases' IN docs WHERE lang = 'en' LIMIT 5").statement);
  CHECK(s.text == "rust databases");
  CHECK(s.type == "docs");
  CHECK(s.where);
  CHECK(s.limit == 5);
}

TEST_CASE("SELECT with every clause parses") {
  auto q = parse_ok(
      "EXPLAIN SELECT city, COUNT(*), AVG(age) AS mean FROM person "
      "WHERE (age >= 18 AND age < 65.5) OR NOT city IN ('a', 'b') OR nick IS NOT NULL AND x != -2 "
      "GROUP BY city ORDER BY mean DESC, city LIMIT 10");
  CHECK(q.explain);
  auto& s = std::get<select_query>(q.statement);
  REQUIRE(s.items.size() == 3);
  CHECK(s.items[1].fn == aggregate_fn::count);
  CHECK(s.items[1].alias == "count(*)");
  CHECK(s.items[2].alias == "mean");
  CHECK(s.group_by == std::vector<std::string>{"city"});
  REQUIRE(s.order_by.size() == 2);
  CHECK(s.order_by[0].descending);
  CHECK(!s.order_by[1].descending);
  CHECK(s.limit == 10);
  REQUIRE(s.where);
  CHECK(s.where->what == expr::kind::or_);
  CHECK(s.where->children.size() == 3);
  CHECK(s.where->children[2]->what == expr::kind::and_);
}

TEST_CASE("errors carry the position of the offending token") {
  auto e = parse_bad("SELECT name FORM person");
  CHECK(e.position == 12);
  CHECK(e.message.find("expected FROM") != std::string::npos);
  CHECK(e.message.find("'FORM'") != std::string::npos);

  CHECK(parse_bad("").position == 0);
  CHECK(parse_bad("DELETE FROM x").position == 0);
  CHECK(parse_bad("SELECT * FROM person WHERE age >").position == 32);
  CHECK(parse_bad("SELECT * FROM person WHERE name = 'abc").position == 34);
  CHECK(parse_bad("SELECT * FROM person WHERE age = 1 LIMIT 0").position == 41);
  CHECK(parse_bad("SELECT * FROM person LIMIT 5 extra").position == 29);
  CHECK(parse_bad("TRAVERSE FROM 'x' DIRECTION up").position == 28);
  CHECK(parse_bad("SELECT * FROM person WHERE a = NULL").message.find("IS NULL") !=
        std::string::npos);
  CHECK(parse_bad("SELECT * FROM person WHERE a # 1").position == 29);
  CHECK(parse_bad("SEARCH 'x' IN").position == 13);
  CHECK(parse_bad("SELECT COUNT( FROM t").position == 14);
}
