// query_parser: a hand-written recursive-descent parser for the REM query language.
//   [EXPLAIN] LOOKUP 'k1' [, 'k2' ...]
//   [EXPLAIN] TRAVERSE FROM '<id>' [DEPTH n] [DIRECTION out|in|both] [TYPE 'rel']
//   [EXPLAIN] SEARCH '<text>' IN <type> [WHERE <expr>] [LIMIT n]
//   [EXPLAIN] SELECT * | <item> [, <item> ...] FROM <type> [WHERE <expr>]
//             [GROUP BY f [, f ...]] [ORDER BY col [ASC|DESC] [, ...]] [LIMIT n]
//   item: field [AS name] | COUNT(*) | COUNT|SUM|AVG|MIN|MAX(field) [AS name]
//   expr: expr OR expr | expr AND expr | NOT expr | (expr) | field op literal
//         | field [NOT] IN (literal, ...) | field IS [NOT] NULL
//   op: = != <> < > <= >=; literal: 'text' ('' escapes a quote), number, TRUE, FALSE
// Keywords are case-insensitive; fields may be dotted (address.city). A trailing ';'
// is allowed. Errors carry the 0-based byte offset where the problem was found.
// Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <variant>

#include "query_ast.hpp"

namespace rem {

struct parse_error {
  std::string message;  // says what was expected and what was found
  std::size_t position = 0;
};

std::variant<query, parse_error> parse_query(std::string_view text);

}  // namespace rem
