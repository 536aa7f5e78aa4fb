// How PostgreSQL errors become replies: the SQL functions' own "CRnnn" states with
// "field|message" texts, and the standard constraint / data error classes.
#include <doctest/doctest.h>

#include "pg_pool.hpp"

using clinic::error_from_sql;

TEST_CASE("a function's CR409 becomes a 409 naming the field") {
  pqxx::sql_error e(
      "ERROR:  status|cannot move a visit from registered to completed; allowed: cancelled, "
      "triaged\n"
      "CONTEXT:  PL/pgSQL function visit_transition(json,text,text) line 9 at RAISE\n",
      "SELECT visit_transition($1::json, $2, $3)", "CR409");
  auto error = error_from_sql(e);
  CHECK(error.status == 409);
  CHECK(error.code == "conflict");
  REQUIRE(error.details.size() == 1);
  CHECK(error.details[0].field == "status");
  CHECK(error.details[0].message ==
        "cannot move a visit from registered to completed; allowed: cancelled, triaged");
}

TEST_CASE("CR400 and CR404 keep their status") {
  CHECK(error_from_sql(pqxx::sql_error("ERROR:  amount|too much\n", "q", "CR400")).status == 400);
  auto not_found =
      error_from_sql(pqxx::sql_error("ERROR:  id|no patient with id 7\n", "q", "CR404"));
  CHECK(not_found.status == 404);
  CHECK(not_found.code == "not_found");
}

TEST_CASE("standard SQLSTATE classes") {
  CHECK(error_from_sql(pqxx::sql_error("ERROR:  duplicate key value\n", "q", "23505")).status ==
        409);
  CHECK(error_from_sql(pqxx::sql_error("ERROR:  new row violates check constraint\n", "q", "23514"))
            .status == 400);
  auto bad_date = error_from_sql(pqxx::sql_error(
      "ERROR:  date/time field value out of range: \"2020-13-45\"\n", "q", "22008"));
  CHECK(bad_date.status == 400);
  CHECK(bad_date.details.empty());
  CHECK(error_from_sql(pqxx::sql_error("ERROR:  terminating connection\n", "q", "57P01")).status ==
        503);
  CHECK(error_from_sql(pqxx::sql_error("ERROR:  something odd\n", "q", "XX000")).status == 500);
}
